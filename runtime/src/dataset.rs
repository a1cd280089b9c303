//! Labelled datasets for `analogc eval`: a folder holding the images and the
//! labels, either as IDX files (the MNIST container, plain or gzip'd) or as
//! `images.npy` + `labels.npy`.

use crate::ir::Dtype;
use crate::npy;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The file names looked for in a dataset folder, first match wins.
pub const IMAGES: &[&str] =
    &["t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte", "images.npy"];
pub const LABELS: &[&str] =
    &["t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", "labels.npy"];

#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub dtype: Dtype,
    /// All axes, the sample axis first.
    pub shape: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub dtype: Dtype,
    /// One sample's shape.
    pub sample_shape: Vec<usize>,
    /// Values widened to f32 (u8 images keep their byte values).
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
}

/// The image and label files of a dataset folder.
pub fn files(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let find = |names: &[&str], what: &str| {
        names
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| format!("`{}` has no {what} file (looked for {})", dir.display(), names.join(", ")))
    };
    Ok((find(IMAGES, "images")?, find(LABELS, "labels")?))
}

fn is_gz(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The first `n` bytes of a file, decompressing if gzip'd.
fn prefix(bytes: &[u8], n: usize) -> Result<Vec<u8>, String> {
    if !is_gz(bytes) {
        return Ok(bytes[..n.min(bytes.len())].to_vec());
    }
    let mut out = vec![0u8; n];
    let mut got = 0;
    let mut d = GzDecoder::new(bytes);
    while got < n {
        match d.read(&mut out[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) => return Err(format!("corrupt gzip data: {e}")),
        }
    }
    out.truncate(got);
    Ok(out)
}

/// Reads only the header (cheap: checks use it on every run).
pub fn header(bytes: &[u8]) -> Result<Header, String> {
    let head = prefix(bytes, 4 + 4 * 8)?;
    if head.starts_with(b"\x93NUMPY") {
        let a = npy::read(bytes)?;
        return Ok(Header { dtype: a.dtype, shape: a.shape });
    }
    idx_header(&head).map(|(h, _)| h)
}

/// IDX header: magic `00 00 TYPE NDIM`, then NDIM big-endian u32.
fn idx_header(b: &[u8]) -> Result<(Header, usize), String> {
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        return Err("not an IDX or .npy file".into());
    }
    let dtype = match b[2] {
        0x08 => Dtype::U8,
        0x0D => Dtype::F32,
        t => return Err(format!("IDX element type 0x{t:02x} is not supported (u8 or f32)")),
    };
    let ndim = b[3] as usize;
    if ndim == 0 || b.len() < 4 + 4 * ndim {
        return Err("truncated IDX header".into());
    }
    let shape =
        (0..ndim).map(|i| u32::from_be_bytes(b[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize).collect();
    Ok((Header { dtype, shape }, 4 + 4 * ndim))
}

/// Reads a whole IDX or `.npy` array, values as f32.
pub fn read_array(bytes: &[u8]) -> Result<(Header, Vec<f32>), String> {
    let raw;
    let bytes = if is_gz(bytes) {
        let mut out = vec![];
        GzDecoder::new(bytes).read_to_end(&mut out).map_err(|e| format!("corrupt gzip data: {e}"))?;
        raw = out;
        &raw[..]
    } else {
        bytes
    };
    if bytes.starts_with(b"\x93NUMPY") {
        let a = npy::read(bytes)?;
        return Ok((Header { dtype: a.dtype, shape: a.shape }, a.data));
    }
    let (h, start) = idx_header(bytes)?;
    let count: usize = h.shape.iter().product();
    let size = if h.dtype == Dtype::U8 { 1 } else { 4 };
    let body = &bytes[start..];
    if body.len() < count * size {
        return Err(format!("truncated: the header promises {count} values, the file holds {}", body.len() / size));
    }
    let data = match h.dtype {
        Dtype::U8 => body[..count].iter().map(|v| *v as f32).collect(),
        Dtype::F32 => body[..count * 4].chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect(),
    };
    Ok((h, data))
}

impl Dataset {
    /// Reads the dataset in `dir`.
    pub fn open(dir: &Path) -> Result<Dataset, String> {
        let (images_path, labels_path) = files(dir)?;
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()));
        let (ih, images) = read_array(&read(&images_path)?).map_err(|e| format!("`{}`: {e}", images_path.display()))?;
        let (lh, labels) = read_array(&read(&labels_path)?).map_err(|e| format!("`{}`: {e}", labels_path.display()))?;
        if lh.shape.len() != 1 || lh.shape[0] != ih.shape[0] {
            return Err(format!("{} images but labels of shape {:?}", ih.shape[0], lh.shape));
        }
        let labels = labels
            .iter()
            .map(|l| {
                if l.fract() == 0.0 && *l >= 0.0 {
                    Ok(*l as u32)
                } else {
                    Err(format!("label {l} is not a class index"))
                }
            })
            .collect::<Result<Vec<u32>, String>>()?;
        Ok(Dataset { dtype: ih.dtype, sample_shape: ih.shape[1..].to_vec(), images, labels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn sample(&self, i: usize) -> &[f32] {
        let n: usize = self.sample_shape.iter().product();
        &self.images[i * n..(i + 1) * n]
    }
}

/// Whether a dataset sample of `data` shape can feed an input of `input`
/// shape: the same dimensions once axes of size 1 are dropped.
pub fn fits(data: &[usize], input: &[usize]) -> bool {
    let squeeze = |s: &[usize]| s.iter().copied().filter(|d| *d != 1).collect::<Vec<_>>();
    squeeze(data) == squeeze(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(shape: &[u32], body: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 0x08, shape.len() as u8];
        for d in shape {
            v.extend(d.to_be_bytes());
        }
        v.extend(body);
        v
    }

    #[test]
    fn idx_plain_and_gzip() {
        let bytes = idx(&[2, 2], &[1, 2, 3, 4]);
        let (h, data) = read_array(&bytes).unwrap();
        assert_eq!((h.shape, data), (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(header(&gz).unwrap().shape, vec![2, 2]);
        assert_eq!(read_array(&gz).unwrap().1, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn truncated_and_foreign_files_are_errors() {
        assert!(read_array(&idx(&[2, 2], &[1, 2, 3])).unwrap_err().contains("truncated"));
        assert!(read_array(b"hello").is_err());
        assert!(read_array(&[0x1f, 0x8b, 1, 2, 3]).is_err());
        assert!(header(&[0, 0, 0x0B, 1, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn shapes_fit_up_to_unit_axes() {
        assert!(fits(&[28, 28], &[1, 28, 28]));
        assert!(!fits(&[784], &[1, 28, 28]));
    }
}
