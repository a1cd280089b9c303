//! `.npy` arrays in and out (inputs and outputs of `analogc run`).

use crate::files::BrokenPromise;
use npyz::WriterBuilder;
use std::io::Read;

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
    let npy = open(bytes)?;
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
    Ok(Array { dtype, shape, data })
}

/// Reads a C-ordered array of any integer or float dtype, values widened to
/// f64 (exact for integers of magnitude below 2^53): for labels and tables,
/// whatever dtype numpy gave them.
pub fn read_numbers(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f64>), ReadError> {
    let npy = open(bytes)?;
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
    Ok((shape, values))
}

/// The header of the `.npy` file `bytes`, once the file is the length it
/// promises (so that reading the values allocates no more than the file holds)
/// and C-ordered.
fn open(bytes: &[u8]) -> Result<npyz::NpyFile<&[u8]>, ReadError> {
    use ReadError::Format;
    let len = bytes.len() as u64;
    if let Some(promised) = promised_len(&mut &bytes[..], len)? {
        // Bytes in memory were bounded when they were read.
        BrokenPromise::check(promised, len, u64::MAX)?;
    }
    let npy = npyz::NpyFile::new(bytes).map_err(|e| Format(format!("not a .npy file: {e}")))?;
    if npy.order() != npyz::Order::C {
        return Err(Format("the array is in Fortran order; save it C-ordered".into()));
    }
    Ok(npy)
}

/// The length a `.npy` file's header promises for the whole file: the header,
/// then every element of its shape at its dtype's size; read from the start
/// of a file of `len` bytes (for [`crate::files::read_promised`]). `None` for a
/// file that does not begin as a `.npy` file does, or holds pickled objects.
pub fn promised_len(r: &mut dyn Read, len: u64) -> Result<Option<u64>, ReadError> {
    use ReadError::Format;
    let unreadable = |e: std::io::Error| Format(format!("cannot read the header: {e}"));
    let mut start = [0u8; 12];
    if len < 10 {
        return Ok(None);
    }
    r.read_exact(&mut start[..10]).map_err(unreadable)?;
    if &start[..6] != b"\x93NUMPY" {
        return Ok(None);
    }
    let (preamble, text) = match start[6] {
        1 => (10, u16::from_le_bytes([start[8], start[9]]) as u64),
        2 | 3 => {
            r.read_exact(&mut start[10..12]).map_err(unreadable)?;
            (12, u32::from_le_bytes([start[8], start[9], start[10], start[11]]) as u64)
        }
        v => return Err(Format(format!("not a .npy file: format version {v} is not one numpy writes"))),
    };
    let header_end = preamble + text;
    if header_end > len {
        // A header longer than the file: a promise of at least its length, already
        // broken (npyz would allocate the header's length before reading it).
        return Ok(Some(header_end));
    }
    let mut header = start[..preamble as usize].to_vec();
    r.take(text).read_to_end(&mut header).map_err(unreadable)?;
    if let Some(shape) = overflowing_shape(&header[preamble as usize..]) {
        return Err(Format(format!("the header's shape {shape} has more elements than a file can hold")));
    }
    let npy = npyz::NpyFile::new(&header[..]).map_err(|e| Format(format!("not a .npy file: {e}")))?;
    if npy.uses_pickled_array() {
        return Ok(None);
    }
    let data = npy.dtype().num_bytes().and_then(|n| (n as u64).checked_mul(npy.len()));
    match data.and_then(|d| d.checked_add(header_end)) {
        Some(promised) => Ok(Some(promised)),
        None => Err(Format(format!(
            "the header promises more bytes than a file can hold: shape {:?} of `{}`",
            npy.shape(),
            npy.dtype().descr()
        ))),
    }
}

/// The shape in `.npy` header text when its axes (those that are not 0)
/// multiply to more than a u64 holds. npyz multiplies them unchecked, in
/// every order (a panic in a debug build, a wrapped count in a release
/// build), so this is asked before npyz reads the header; a header whose
/// shape cannot be read is left for npyz to report.
fn overflowing_shape(text: &[u8]) -> Option<String> {
    use py_literal::Value;
    let Ok(Value::Dict(entries)) = std::str::from_utf8(text).ok()?.trim_end().parse::<Value>() else { return None };
    let shape = entries.iter().find_map(|(k, v)| matches!(k, Value::String(k) if k == "shape").then_some(v))?;
    let (Value::Tuple(axes) | Value::List(axes)) = shape else { return None };
    let axes: Vec<u64> = axes
        .iter()
        .map(|a| if let Value::Integer(a) = a { u64::try_from(a).ok() } else { None })
        .collect::<Option<_>>()?;
    let overflows = axes.iter().try_fold(1u64, |n, a| n.checked_mul((*a).max(1))).is_none();
    overflows.then(|| format!("{axes:?}"))
}

impl From<BrokenPromise> for ReadError {
    fn from(e: BrokenPromise) -> ReadError {
        ReadError::Format(e.to_string())
    }
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

    /// An `.npy` file of `shape` and dtype `descr` with the header format
    /// version 1, holding `data`.
    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn a_file_must_be_the_length_its_header_promises_before_values_are_read() {
        let header = npy("<f4", "(100000000,)", &[]).len() as u64;
        let lying = npy("<f4", "(100000000,)", &[0; 8]);
        let start = std::time::Instant::now();
        let e = read(&lying).unwrap_err().to_string();
        assert!(start.elapsed() < std::time::Duration::from_millis(100));
        let promised = header + 400_000_000;
        let holds = header + 8;
        assert_eq!(e, format!("truncated or corrupt: the header promises {promised} bytes, the file holds {holds}"));
        assert_eq!(read_numbers(&lying).unwrap_err().to_string(), e);
        // Truncated, and one byte too many.
        let mut whole = vec![];
        write_f32(&mut whole, &[2], &[1.0, 2.0]).unwrap();
        assert!(read(&whole[..whole.len() - 1]).unwrap_err().to_string().contains("file holds"));
        whole.push(0);
        assert!(read(&whole).unwrap_err().to_string().contains("file holds"));
        // A header longer than the file.
        let mut cut = npy("|u1", "(2,)", &[1, 2]);
        cut.truncate(20);
        assert!(read(&cut).unwrap_err().to_string().contains("the file holds 20"));
        // More than any file can hold: elements, or bytes.
        let huge = npy("<f8", "(0, 4294967296, 4294967296)", &[]);
        let e = read(&huge).unwrap_err().to_string();
        assert_eq!(e, "the header's shape [0, 4294967296, 4294967296] has more elements than a file can hold");
        let huge = npy("<f8", "(4294967296, 4294967295)", &[]);
        let e = read(&huge).unwrap_err().to_string();
        assert!(e.contains("more bytes than a file can hold"), "{e}");
    }

    #[test]
    fn the_promise_is_header_and_data_and_only_npy_files_make_one() {
        let bytes = npy("<i8", "(3, 2)", &[0; 48]);
        let promised = promised_len(&mut &bytes[..], bytes.len() as u64).unwrap();
        assert_eq!(promised, Some(bytes.len() as u64));
        assert_eq!(read_numbers(&bytes).unwrap(), (vec![3, 2], vec![0.0; 6]));
        let idx = [0u8, 0, 8, 1, 0, 0, 0, 2, 7, 7];
        assert_eq!(promised_len(&mut &idx[..], 10).unwrap(), None);
        // Version 2: a four-byte header length.
        let mut v2 = bytes.clone();
        v2[6] = 2;
        v2.splice(10..10, [0, 0]);
        assert_eq!(promised_len(&mut &v2[..], v2.len() as u64).unwrap(), Some(v2.len() as u64));
    }
}
