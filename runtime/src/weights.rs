//! Trained weights from a safetensors file (the format of a PyTorch
//! `state_dict` saved with `safetensors.torch.save_file`).

use crate::tensor::Tensor;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// One tensor as stored, converted to f32 when its dtype is a float type.
#[derive(Clone, Debug)]
pub struct StoredTensor {
    /// The dtype written in the file, as safetensors spells it (`F32`, `I64`…).
    pub dtype: String,
    pub shape: Vec<usize>,
    /// The values as f32, or `None` when the dtype is not a float type.
    pub values: Option<Tensor>,
}

/// All tensors of one weights file, by name.
#[derive(Clone, Debug, Default)]
pub struct WeightsFile {
    pub tensors: BTreeMap<String, StoredTensor>,
}

#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The bytes are not a valid safetensors file.
    Format(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "{e}"),
            LoadError::Format(e) => write!(f, "not a valid safetensors file: {e}"),
        }
    }
}

impl WeightsFile {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let bytes = crate::files::read(path, crate::files::DATA).map_err(LoadError::Io)?;
        Self::parse(&bytes)
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, LoadError> {
        if let Some(name) = duplicate_name(bytes) {
            return Err(LoadError::Format(format!("the header names tensor `{name}` twice")));
        }
        let st = SafeTensors::deserialize(bytes).map_err(|e| LoadError::Format(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let values = to_f32(view.dtype(), view.data()).map(|data| Tensor { shape: shape.clone(), data });
            tensors.insert(name, StoredTensor { dtype: format!("{:?}", view.dtype()), shape, values });
        }
        Ok(WeightsFile { tensors })
    }
}

/// A key the header's JSON object gives twice. A JSON reader keeps one of
/// them silently; the format forbids the ambiguity. `None` also when the
/// header is not readable (the safetensors reader says why).
fn duplicate_name(bytes: &[u8]) -> Option<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct FirstRepeat;
    impl<'de> Visitor<'de> for FirstRepeat {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !seen.insert(key.clone()) {
                    return Ok(Some(key));
                }
            }
            Ok(None)
        }
    }
    let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let header = bytes.get(8..8usize.checked_add(usize::try_from(len).ok()?)?)?;
    serde_json::Deserializer::from_slice(header).deserialize_map(FirstRepeat).ok().flatten()
}

fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    let out = match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F64 => {
            bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("chunk of 8")) as f32).collect()
        }
        Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        _ => return None,
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> Vec<u8> {
        let view = safetensors::tensor::TensorView::new(dtype, shape, &data).unwrap();
        safetensors::serialize([("t", view)], None).unwrap()
    }

    #[test]
    fn reads_f32_and_converts_f16() {
        let f32s: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let w = WeightsFile::parse(&file_with(Dtype::F32, vec![2], f32s)).unwrap();
        assert_eq!(w.tensors["t"].values.as_ref().unwrap().data, vec![1.5, -2.0]);

        let f16s: Vec<u8> = [half::f16::from_f32(0.25)].iter().flat_map(|v| v.to_le_bytes()).collect();
        let w = WeightsFile::parse(&file_with(Dtype::F16, vec![1, 1], f16s)).unwrap();
        assert_eq!(w.tensors["t"].values.as_ref().unwrap().data, vec![0.25]);
        assert_eq!(w.tensors["t"].dtype, "F16");
    }

    #[test]
    fn integer_tensors_have_no_values() {
        let w = WeightsFile::parse(&file_with(Dtype::I64, vec![1], vec![0; 8])).unwrap();
        assert!(w.tensors["t"].values.is_none());
        assert_eq!(w.tensors["t"].dtype, "I64");
    }

    #[test]
    fn a_tensor_named_twice_is_refused() {
        let header = br#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header);
        bytes.extend(1f32.to_le_bytes());
        let Err(LoadError::Format(e)) = WeightsFile::parse(&bytes) else { panic!("accepted") };
        assert!(e.contains("`w` twice"), "{e}");
        // One of each is fine.
        let once = file_with(Dtype::F32, vec![1], 1f32.to_le_bytes().to_vec());
        assert!(WeightsFile::parse(&once).is_ok());
    }

    #[test]
    fn garbage_is_a_format_error() {
        for bytes in [&b""[..], b"12345678", &[255u8; 64]] {
            assert!(matches!(WeightsFile::parse(bytes), Err(LoadError::Format(_))));
        }
    }
}
