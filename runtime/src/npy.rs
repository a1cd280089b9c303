//! `.npy` arrays in and out (inputs and outputs of `analogc run`).

use npyz::WriterBuilder;

pub use crate::ir::Dtype;

/// An array read from a `.npy` file, values widened to f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Why an array could not be read.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadError {
    /// A valid `.npy` of a dtype analogc does not take.
    Dtype(String),
    /// Not a valid `.npy` file.
    Format(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Dtype(e) | ReadError::Format(e) => f.write_str(e),
        }
    }
}

impl From<ReadError> for String {
    fn from(e: ReadError) -> String {
        e.to_string()
    }
}

/// Reads a C-ordered `u8`, little-endian `f32` or `f64` array (`f64` values
/// rounded to `f32`).
pub fn read(bytes: &[u8]) -> Result<Array, ReadError> {
    use ReadError::Format;
    let npy = npyz::NpyFile::new(bytes).map_err(|e| Format(format!("not a .npy file: {e}")))?;
    if npy.order() != npyz::Order::C {
        return Err(Format("the array is in Fortran order; save it C-ordered".into()));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|d| *d as usize).collect();
    let descr = npy.dtype().descr();
    let (dtype, data) = match descr.trim_matches('\'') {
        "|u1" | "u1" => {
            (Dtype::U8, npy.into_vec::<u8>().map_err(|e| Format(e.to_string()))?.into_iter().map(f32::from).collect())
        }
        "<f4" => (Dtype::F32, npy.into_vec::<f32>().map_err(|e| Format(e.to_string()))?),
        // numpy's default float: rounded to the f32 every model computes in.
        "<f8" => (
            Dtype::F32,
            npy.into_vec::<f64>().map_err(|e| Format(e.to_string()))?.into_iter().map(|v| v as f32).collect(),
        ),
        other => {
            return Err(ReadError::Dtype(format!(
                "dtype `{other}` is not supported: use uint8, float32 or float64 (`x.astype(numpy.float32)`)"
            )))
        }
    };
    if data.len() != shape.iter().product::<usize>() {
        return Err(Format("the file ends before the array does".into()));
    }
    Ok(Array { dtype, shape, data })
}

/// Reads a C-ordered array of any integer or float dtype, values widened to
/// f64 (exact for integers of magnitude below 2^53): for labels and tables,
/// whatever dtype numpy gave them.
pub fn read_numbers(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f64>), ReadError> {
    use ReadError::Format;
    let npy = npyz::NpyFile::new(bytes).map_err(|e| Format(format!("not a .npy file: {e}")))?;
    if npy.order() != npyz::Order::C {
        return Err(Format("the array is in Fortran order; save it C-ordered".into()));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|d| *d as usize).collect();
    let descr = npy.dtype().descr();
    let values = match descr.trim_matches('\'').trim_start_matches(['<', '|', '=']) {
        "i1" => widen::<i8>(npy)?,
        "i2" => widen::<i16>(npy)?,
        "i4" => widen::<i32>(npy)?,
        "i8" => widen::<i64>(npy)?,
        "u1" => widen::<u8>(npy)?,
        "u2" => widen::<u16>(npy)?,
        "u4" => widen::<u32>(npy)?,
        "u8" => widen::<u64>(npy)?,
        "f4" => widen::<f32>(npy)?,
        "f8" => widen::<f64>(npy)?,
        _ => return Err(ReadError::Dtype(format!("dtype `{descr}` is not a number type"))),
    };
    if values.len() != shape.iter().product::<usize>() {
        return Err(Format("the file ends before the array does".into()));
    }
    Ok((shape, values))
}

fn widen<T: npyz::Deserialize + Into<Widened>>(npy: npyz::NpyFile<&[u8]>) -> Result<Vec<f64>, ReadError> {
    let values = npy.into_vec::<T>().map_err(|e| ReadError::Format(format!("cannot read the array: {e}")))?;
    Ok(values.into_iter().map(|v| v.into().0).collect())
}

/// Any numpy scalar, widened to f64.
struct Widened(f64);

macro_rules! widened_from {
    ($($t:ty),*) => { $(impl From<$t> for Widened { fn from(v: $t) -> Widened { Widened(v as f64) } })* };
}
widened_from!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

/// A number as a message shows it: whole numbers in full up to 16 digits,
/// others in exponent form beyond (`1e300`, not its 301 digits).
pub fn show(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e16 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Writes an f32 array.
pub fn write_f32(out: &mut impl std::io::Write, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    let shape: Vec<u64> = shape.iter().map(|d| *d as u64).collect();
    let mut w = npyz::WriteOptions::<f32>::new().default_dtype().shape(&shape).writer(out).begin_nd()?;
    w.extend(data.iter().copied())?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let mut bytes = vec![];
        write_f32(&mut bytes, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]).unwrap();
        let a = read(&bytes).unwrap();
        assert_eq!((a.dtype, a.shape.clone()), (Dtype::F32, vec![2, 3]));
        assert_eq!(a.data[5], 6.5);
        assert!(read(&bytes[..bytes.len() - 4]).is_err());
        assert!(read(b"nonsense").is_err());
    }
}
