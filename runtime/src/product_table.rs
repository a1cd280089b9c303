//! 256×256 product tables of approximate 8-bit multipliers, in the two
//! community layouts.

use crate::npy;

/// How a table file is laid out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// TorchApprox / AdaPT: a `.npy` array of shape `[256, 256]`. For signed
    /// operands both axes run `[0..127, −128..−1]`, i.e. the index of an
    /// operand is its two's-complement byte.
    TorchApprox,
    /// TFApprox: 65,536 little-endian `u16`, entry `a·256 + b`, unsigned.
    TfApprox,
}

/// Products `M(a, b)` for every pair of 8-bit operands.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductTable {
    pub signed: bool,
    /// `M(a, b)` at `byte(a)·256 + byte(b)`, where `byte` is the operand's
    /// two's-complement (signed) or plain (unsigned) byte.
    entries: Vec<i32>,
}

impl ProductTable {
    pub fn parse(bytes: &[u8], layout: Layout, signed: bool) -> Result<Self, String> {
        let entries = match layout {
            Layout::TfApprox => {
                if signed {
                    return Err("TFApprox tables are for unsigned operands".into());
                }
                if bytes.len() != 65536 * 2 {
                    return Err(format!("expected 131072 bytes (65,536 u16 values), found {}", bytes.len()));
                }
                bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as i32).collect()
            }
            Layout::TorchApprox => read_npy(bytes)?,
        };
        Ok(ProductTable { signed, entries })
    }

    /// `M(a, b)`; operands are in `-128..=127` (signed) or `0..=255`.
    pub fn product(&self, a: i32, b: i32) -> i32 {
        self.entries[((a as u8 as usize) << 8) | b as u8 as usize]
    }

    /// A table holding `f(a, b)` for every operand pair.
    pub fn from_fn(signed: bool, f: impl Fn(i32, i32) -> i32) -> Self {
        let operand = |i: usize| if signed { i as u8 as i8 as i32 } else { i as i32 };
        let entries = (0..65536).map(|i| f(operand(i >> 8), operand(i & 255))).collect();
        ProductTable { signed, entries }
    }
}

fn read_npy(bytes: &[u8]) -> Result<Vec<i32>, String> {
    let (shape, values) = npy::read_numbers(bytes).map_err(|e| e.to_string())?;
    if shape != [256, 256] {
        return Err(format!("expected a 256×256 array, found shape {shape:?}"));
    }
    values
        .into_iter()
        .map(|v| {
            if v.fract() == 0.0 && (i32::MIN as f64..=i32::MAX as f64).contains(&v) {
                Ok(v as i32)
            } else {
                Err(format!("entry {} is not a whole number that fits in i32", npy::show(v)))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    fn npy_i32(values: &[i32], shape: &[u64]) -> Vec<u8> {
        let mut out = vec![];
        {
            let mut w =
                npyz::WriteOptions::<i32>::new().default_dtype().shape(shape).writer(&mut out).begin_nd().unwrap();
            w.extend(values.iter().copied()).unwrap();
            w.finish().unwrap();
        }
        out
    }

    #[test]
    fn signed_torchapprox_index_order_is_the_twos_complement_byte() {
        let exact = ProductTable::from_fn(true, |a, b| a * b);
        let values: Vec<i32> = (0..65536)
            .map(|i| {
                let op = |j: i32| if j < 128 { j } else { j - 256 };
                op(i >> 8) * op(i & 255)
            })
            .collect();
        let parsed = ProductTable::parse(&npy_i32(&values, &[256, 256]), Layout::TorchApprox, true).unwrap();
        assert_eq!(parsed, exact);
        assert_eq!(parsed.product(-128, -128), 16384);
        assert_eq!(parsed.product(-3, 7), -21);
    }

    #[test]
    fn tfapprox_is_u16_little_endian() {
        let bytes: Vec<u8> = (0..65536u32).flat_map(|i| (((i >> 8) * (i & 255)) as u16).to_le_bytes()).collect();
        let t = ProductTable::parse(&bytes, Layout::TfApprox, false).unwrap();
        assert_eq!(t.product(255, 255), 65025);
        assert_eq!(t, ProductTable::from_fn(false, |a, b| a * b));
        assert!(ProductTable::parse(&bytes[1..], Layout::TfApprox, false).is_err());
        assert!(ProductTable::parse(&bytes, Layout::TfApprox, true).is_err());
    }

    #[test]
    fn wrong_shapes_and_garbage_are_errors() {
        assert!(ProductTable::parse(&npy_i32(&[1, 2, 3, 4], &[2, 2]), Layout::TorchApprox, true).is_err());
        assert!(ProductTable::parse(b"not numpy at all", Layout::TorchApprox, true).is_err());
        assert!(ProductTable::parse(&[], Layout::TorchApprox, true).is_err());
    }
}
