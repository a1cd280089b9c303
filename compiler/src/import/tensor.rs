//! ONNX tensors (initializers and constants) as numbers: floats as f32,
//! integers as i64, from `raw_data` (little-endian) or the typed fields.

use super::proto::{tensor_proto::DataType, TensorProto};
use super::{fail, ImportError};
use crate::diag::Code;

#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A constant tensor; `dims` as ONNX has them (a scalar has none).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub dims: Vec<usize>,
    pub values: Values,
}

impl Tensor {
    pub fn len(&self) -> usize {
        match &self.values {
            Values::F32(v) => v.len(),
            Values::I64(v) => v.len(),
        }
    }

    /// Integers as they are, floats truncated (shape arithmetic).
    pub fn ints(&self) -> Vec<i64> {
        match &self.values {
            Values::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Values::I64(v) => v.clone(),
        }
    }
}

/// Reads a tensor; `what` names it in diagnostics.
pub fn read(t: &TensorProto, what: &str) -> Result<Tensor, ImportError> {
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(fail(
            Code::OnnxExternalData,
            format!("{what} is stored in an external file, which `analogc import` does not read"),
        )
        .help(
            "save the model with its weights inside the file (`onnx.save(model, path, save_as_external_data=False)`)",
        ));
    }
    if t.segment.is_some() {
        return Err(fail(Code::OnnxUnreadable, format!("{what} is split into segments, which ONNX files never hold")));
    }
    let mut dims = vec![];
    for &d in &t.dims {
        let d = usize::try_from(d)
            .map_err(|_| fail(Code::OnnxUnreadable, format!("{what} has a negative dimension ({d})")))?;
        dims.push(d);
    }
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let count = count.ok_or_else(|| fail(Code::OnnxUnreadable, format!("{what} has too many elements")))?;
    let dtype = t.data_type.and_then(|d| DataType::try_from(d).ok()).unwrap_or(DataType::Undefined);
    let raw = t.raw_data.as_deref();
    let wrong_length = |n: usize| {
        fail(Code::OnnxUnreadable, format!("{what} has dimensions {dims:?} ({count} elements) but holds {n} values"))
    };
    let values = match dtype {
        DataType::Float => Values::F32(match raw {
            Some(b) => chunks(b, 4, count).ok_or_else(|| wrong_length(b.len() / 4))?.map(le_f32).collect(),
            None => t.float_data.clone(),
        }),
        DataType::Double => Values::F32(match raw {
            Some(b) => {
                chunks(b, 8, count).ok_or_else(|| wrong_length(b.len() / 8))?.map(|c| le_f64(c) as f32).collect()
            }
            None => t.double_data.iter().map(|&x| x as f32).collect(),
        }),
        DataType::Float16 | DataType::Bfloat16 => {
            let bits: Vec<u16> = match raw {
                Some(b) => chunks(b, 2, count)
                    .ok_or_else(|| wrong_length(b.len() / 2))?
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect(),
                None => t.int32_data.iter().map(|&x| x as u16).collect(),
            };
            let convert = if dtype == DataType::Float16 { f16_to_f32 } else { bf16_to_f32 };
            Values::F32(bits.into_iter().map(convert).collect())
        }
        DataType::Int64 => Values::I64(match raw {
            Some(b) => chunks(b, 8, count).ok_or_else(|| wrong_length(b.len() / 8))?.map(le_i64).collect(),
            None => t.int64_data.clone(),
        }),
        DataType::Int32 => Values::I64(match raw {
            Some(b) => chunks(b, 4, count)
                .ok_or_else(|| wrong_length(b.len() / 4))?
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            None => t.int32_data.iter().map(|&x| x as i64).collect(),
        }),
        other => {
            return Err(fail(
                Code::OnnxType,
                format!("{what} holds {}, which `analogc import` does not read", other.as_str_name()),
            )
            .help("supported tensor types: FLOAT, DOUBLE, FLOAT16, BFLOAT16 (converted to f32), INT64, INT32"))
        }
    };
    let tensor = Tensor { dims: dims.clone(), values };
    if tensor.len() != count {
        return Err(wrong_length(tensor.len()));
    }
    Ok(tensor)
}

fn chunks(bytes: &[u8], size: usize, count: usize) -> Option<std::slice::ChunksExact<'_, u8>> {
    (bytes.len() == size * count).then(|| bytes.chunks_exact(size))
}

fn le_f32(c: &[u8]) -> f32 {
    f32::from_le_bytes([c[0], c[1], c[2], c[3]])
}

fn le_f64(c: &[u8]) -> f64 {
    f64::from_le_bytes(c.try_into().expect("8 bytes"))
}

fn le_i64(c: &[u8]) -> i64 {
    i64::from_le_bytes(c.try_into().expect("8 bytes"))
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as f32;
    match exp {
        0 => sign * mant * 2f32.powi(-24),
        31 if mant == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + mant / 1024.0) * 2f32.powi(exp - 15),
    }
}

fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}
