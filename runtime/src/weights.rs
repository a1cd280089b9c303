//! Trained weights from a safetensors file (the format of a PyTorch
//! `state_dict` saved with `safetensors.torch.save_file`).

use crate::files::{self, BrokenPromise};
use crate::tensor::Tensor;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::io::Read;
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
        Self::parse(&read(path)?)
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, LoadError> {
        if let Some(name) = duplicate_name(bytes) {
            return Err(LoadError::Format(format!("the header names tensor `{name}` twice")));
        }
        let len = bytes.len() as u64;
        if let Some(promised) = promised_len(&mut &bytes[..], len)? {
            // Bytes in memory were bounded when they were read.
            BrokenPromise::check(promised, len, u64::MAX)?;
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

/// The bytes of the safetensors file at `path`, read once its header has kept
/// its promise of the file's length (see [`promised_len`]).
pub fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    files::read_promised(path, files::DATA, promised_len).map_err(|e| match e {
        files::Refused::Io(e) => LoadError::Io(e),
        files::Refused::Header(e) => e,
    })
}

/// The safetensors format's bound on the header's length.
const MAX_HEADER: u64 = 100_000_000;

/// The length a safetensors file's header promises for the whole file: the
/// header's length (8 bytes), the header, and the data up to the largest
/// offset the header gives; read from the start of a file of `len` bytes (for
/// [`files::read_promised`]). `None` for a header that cannot be read (too
/// long for the file or the format, not valid): the safetensors reader says
/// why.
pub fn promised_len(r: &mut dyn Read, len: u64) -> Result<Option<u64>, LoadError> {
    let mut n = [0u8; 8];
    if len < 8 {
        return Ok(None);
    }
    r.read_exact(&mut n).map_err(LoadError::Io)?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || 8 + n > len {
        return Ok(None);
    }
    let mut header = vec![];
    r.take(n).read_to_end(&mut header).map_err(LoadError::Io)?;
    // Reading the tensors' entries checks that their offsets follow each other and fit their shapes.
    let Ok(metadata) = serde_json::from_slice::<safetensors::tensor::Metadata>(&header) else { return Ok(None) };
    Ok(Some((8 + n).saturating_add(metadata.data_len() as u64)))
}

impl From<BrokenPromise> for LoadError {
    fn from(e: BrokenPromise) -> LoadError {
        LoadError::Format(e.to_string())
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

    /// A safetensors file of `header` (JSON) followed by `data`.
    fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        bytes
    }

    #[test]
    fn a_file_must_be_the_length_its_header_promises() {
        // A 10 GB tensor in a file of a few bytes: refused from its header.
        let header = r#"{"w":{"dtype":"F32","shape":[2500000000],"data_offsets":[0,10000000000]}}"#;
        let lying = with_header(header, &[0; 16]);
        let start = std::time::Instant::now();
        let Err(LoadError::Format(e)) = WeightsFile::parse(&lying) else { panic!("accepted") };
        assert!(start.elapsed() < std::time::Duration::from_millis(100));
        let promised = 8 + header.len() as u64 + 10_000_000_000;
        let holds = lying.len();
        assert_eq!(e, format!("truncated or corrupt: the header promises {promised} bytes, the file holds {holds}"));
        // Truncated by one byte, and one byte too long.
        let whole = file_with(Dtype::F32, vec![3], vec![0; 12]);
        let Err(LoadError::Format(e)) = WeightsFile::parse(&whole[..whole.len() - 1]) else { panic!("accepted") };
        assert!(e.contains(&format!("promises {} bytes, the file holds {}", whole.len(), whole.len() - 1)), "{e}");
        let longer = [&whole[..], &[0]].concat();
        assert!(matches!(WeightsFile::parse(&longer), Err(LoadError::Format(_))));
        // A header longer than the file.
        let Err(LoadError::Format(e)) = WeightsFile::parse(&whole[..20]) else { panic!("accepted") };
        assert!(e.contains("invalid header length"), "{e}");
        let Err(LoadError::Format(e)) = WeightsFile::parse(&(u64::MAX).to_le_bytes()) else { panic!("accepted") };
        assert!(e.contains("header too large"), "{e}");
    }

    #[test]
    fn garbage_is_a_format_error() {
        for bytes in [&b""[..], b"12345678", &[255u8; 64]] {
            assert!(matches!(WeightsFile::parse(bytes), Err(LoadError::Format(_))));
        }
    }
}
