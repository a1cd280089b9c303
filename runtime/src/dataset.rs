//! Labelled datasets: a folder holding the images and the labels of a test
//! split (what `analogc eval` reads) and optionally of a training split, either
//! as IDX files (the MNIST container, plain or gzip'd) or as `.npy` files.
//! Also the order training visits a split in ([`epoch_order`]) and the
//! validation samples it holds out ([`hold_out`]).

use crate::files::{read_promised, Refused, DATA};
use crate::ir::Dtype;
use crate::npy;
use crate::rng;
use flate2::read::GzDecoder;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The file names of the test split looked for in a dataset folder, first match wins.
pub const IMAGES: &[&str] =
    &["t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte", "images.npy"];
pub const LABELS: &[&str] =
    &["t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", "labels.npy"];
/// The file names of the training split, first match wins: MNIST's names, or
/// `train-images.npy` + `train-labels.npy` beside a test split's `images.npy`.
pub const TRAIN_IMAGES: &[&str] =
    &["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "train-images.idx3-ubyte", "train-images.npy"];
pub const TRAIN_LABELS: &[&str] =
    &["train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte", "train-labels.idx1-ubyte", "train-labels.npy"];

/// Which half of a dataset folder: `eval` reads the test split, training the
/// training split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// The image and label file names of this split, first match wins.
    pub fn names(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Split::Train => (TRAIN_IMAGES, TRAIN_LABELS),
            Split::Test => (IMAGES, LABELS),
        }
    }
}

/// The site of the per-epoch shuffle's draws (see [`epoch_order`]): above every
/// noise site and below the per-layer sites of `interp` (`ORDER_SITE`, `ADC_SITE`).
pub const SHUFFLE_SITE: u32 = 0x2000_0000;

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

/// The image and label files of a dataset folder's test split.
pub fn files(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    split_files(dir, Split::Test)
}

/// The image and label files of a split of a dataset folder.
pub fn split_files(dir: &Path, split: Split) -> Result<(PathBuf, PathBuf), String> {
    let find = |names: &[&str], what: &str| {
        let found = names.iter().map(|n| dir.join(n)).find(|p| p.is_file());
        found.ok_or_else(|| {
            let looked = names.join(", ");
            match split {
                Split::Test => format!("`{}` has no {what} file (looked for {looked})", dir.display()),
                Split::Train => {
                    format!("`{}` has no training split: no training {what} file (looked for {looked})", dir.display())
                }
            }
        })
    };
    let (images, labels) = split.names();
    Ok((find(images, "images")?, find(labels, "labels")?))
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

/// The bytes of a file, decompressed if gzip'd.
fn gunzipped(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if !is_gz(bytes) {
        return Ok(bytes.into());
    }
    let mut out = vec![];
    GzDecoder::new(bytes).read_to_end(&mut out).map_err(|e| format!("corrupt gzip data: {e}"))?;
    Ok(out.into())
}

/// Reads a whole IDX or `.npy` array, values as f32.
pub fn read_array(bytes: &[u8]) -> Result<(Header, Vec<f32>), String> {
    read_samples(bytes, None)
}

/// Reads an IDX or `.npy` array, values as f32: its first `limit` samples
/// (rows of the first axis; all when `None`). The header is the file's, with
/// every sample it claims. An IDX file's claim is checked against the file
/// (a gzip'd one's by its trailer, which holds the decompressed size modulo
/// 2^32) before anything is allocated, and only the samples kept are
/// decompressed.
pub fn read_samples(bytes: &[u8], limit: Option<usize>) -> Result<(Header, Vec<f32>), String> {
    if !prefix(bytes, 6)?.starts_with(b"\x93NUMPY") {
        return read_idx(bytes, limit);
    }
    let mut a = npy::read(&gunzipped(bytes)?)?;
    if let (Some(limit), Some(rows)) = (limit, a.shape.first()) {
        a.data.truncate(limit.min(*rows) * a.shape[1..].iter().product::<usize>());
    }
    Ok((Header { dtype: a.dtype, shape: a.shape }, a.data))
}

/// An IDX array's first `limit` samples (see [`read_samples`]).
fn read_idx(bytes: &[u8], limit: Option<usize>) -> Result<(Header, Vec<f32>), String> {
    let (h, start) = idx_header(&prefix(bytes, 4 + 4 * 8)?)?;
    let size = if h.dtype == Dtype::U8 { 1 } else { 4 };
    let per_sample = h.shape[1..].iter().try_fold(1usize, |n, d| n.checked_mul(*d));
    let claimed = per_sample.and_then(|p| p.checked_mul(h.shape[0])).and_then(|c| c.checked_mul(size));
    let claimed =
        claimed.and_then(|c| c.checked_add(start)).ok_or("the header claims more values than fit in memory")?;
    let (holds, fits) = if is_gz(bytes) {
        // The gzip trailer: the decompressed size modulo 2^32.
        let tail: [u8; 4] = bytes[bytes.len().saturating_sub(4)..].try_into().map_err(|_| "truncated gzip data")?;
        let holds = u32::from_le_bytes(tail) as usize;
        (holds, holds == claimed % (1 << 32))
    } else {
        (bytes.len(), bytes.len() >= claimed)
    };
    if !fits {
        return Err(format!(
            "truncated or corrupt: the header promises {} samples ({claimed} bytes), the file holds {holds} bytes",
            h.shape[0]
        ));
    }
    let keep = limit.map_or(h.shape[0], |l| l.min(h.shape[0]));
    let count = keep * per_sample.unwrap_or(0);
    let body = prefix(bytes, start + count * size)?;
    let body = body.get(start..).unwrap_or_default();
    if body.len() < count * size {
        return Err(format!("truncated: the header promises {count} values, the file holds {}", body.len() / size));
    }
    let data = match h.dtype {
        Dtype::U8 => body[..count].iter().map(|v| *v as f32).collect(),
        Dtype::F32 => body[..count * 4].chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect(),
    };
    Ok((h, data))
}

/// Reads labels: IDX (u8 or f32), or `.npy` of any integer or float dtype
/// (numpy's default for integers is int64); the first `limit` of them.
fn read_labels(bytes: &[u8], limit: Option<usize>) -> Result<(Vec<usize>, Vec<f64>), String> {
    if prefix(bytes, 6)?.starts_with(b"\x93NUMPY") {
        let (shape, mut values) = npy::read_numbers(&gunzipped(bytes)?).map_err(|e| e.to_string())?;
        values.truncate(limit.unwrap_or(usize::MAX));
        return Ok((shape, values));
    }
    let (h, values) = read_idx(bytes, limit)?;
    Ok((h.shape, values.into_iter().map(f64::from).collect()))
}

impl Dataset {
    /// Reads the test split of the dataset in `dir`.
    pub fn open(dir: &Path) -> Result<Dataset, String> {
        Dataset::open_split(dir, Split::Test)
    }

    /// Reads one split of the dataset in `dir`.
    pub fn open_split(dir: &Path, split: Split) -> Result<Dataset, String> {
        Dataset::open_samples(dir, split, None)
    }

    /// Reads the first `limit` samples of one split (all when `None`): only
    /// they are decompressed and held.
    pub fn open_samples(dir: &Path, split: Split, limit: Option<usize>) -> Result<Dataset, String> {
        let (images_path, labels_path) = split_files(dir, split)?;
        // A `.npy` file's header is checked against the file before it is read
        // (IDX files, and gzip'd ones, by `read_idx` and `npy::read`).
        let read = |p: &Path| {
            read_promised(p, DATA, npy::promised_len).map_err(|e| match e {
                Refused::Io(e) => format!("cannot read `{}`: {e}", p.display()),
                Refused::Header(e) => format!("`{}`: {e}", p.display()),
            })
        };
        let (ih, images) =
            read_samples(&read(&images_path)?, limit).map_err(|e| format!("`{}`: {e}", images_path.display()))?;
        let (shape, labels) =
            read_labels(&read(&labels_path)?, limit).map_err(|e| format!("`{}`: {e}", labels_path.display()))?;
        if shape.len() != 1 || shape[0] != ih.shape[0] {
            return Err(format!("{} images but labels of shape {shape:?}", ih.shape[0]));
        }
        let labels = labels
            .iter()
            .map(|l| {
                if l.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(l) {
                    Ok(*l as u32)
                } else {
                    Err(format!("label {} is not a class index", npy::show(*l)))
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
        self.samples(i..i + 1)
    }

    /// Samples `range` as a dataset of their own.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        Dataset {
            dtype: self.dtype,
            sample_shape: self.sample_shape.clone(),
            images: self.samples(range.clone()).to_vec(),
            labels: self.labels[range].to_vec(),
        }
    }

    /// The values of samples `range`, one after another.
    pub fn samples(&self, range: std::ops::Range<usize>) -> &[f32] {
        let n: usize = self.sample_shape.iter().product();
        &self.images[range.start * n..range.end * n]
    }
}

/// The order in which training visits the samples `0..n` in epoch `epoch`:
/// a Fisher–Yates permutation drawn by [`rng::permutation`] with
/// `trial = epoch` and `site =` [`SHUFFLE_SITE`], so it depends on nothing but
/// `(n, seed, epoch)`: the same on every machine, for any thread count.
///
/// Panics if `n > 2^32`.
pub fn epoch_order(n: usize, seed: u64, epoch: u32) -> Vec<u32> {
    rng::permutation(seed, epoch, SHUFFLE_SITE, n)
}

/// The validation hold-out of a training split of `n` samples: the last `val`
/// samples validate, the ones before them train. Returns `(training,
/// validation)` index ranges; an error when no training sample would be left.
pub fn hold_out(n: usize, val: usize) -> Result<(Range<usize>, Range<usize>), String> {
    if val >= n {
        return Err(format!(
            "cannot hold out {val} validation samples of a training split of {n}: none would be left to train on"
        ));
    }
    Ok((0..n - val, n - val..n))
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

    #[test]
    fn a_limit_keeps_the_first_samples_of_an_npy_folder_too() {
        let dir = std::env::temp_dir().join(format!("analogc-npy-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, shape: &[usize], data: &[f32]| {
            let mut bytes = vec![];
            npy::write_f32(&mut bytes, shape, data).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        };
        write("images.npy", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        write("labels.npy", &[3], &[0.0, 1.0, 2.0]);
        let d = Dataset::open_samples(&dir, Split::Test, Some(2)).unwrap();
        assert_eq!((d.len(), d.images.len()), (2, 4));
        assert_eq!((d.sample(1), d.samples(0..2)), (&[3.0, 4.0][..], &[1.0, 2.0, 3.0, 4.0][..]));
        let _ = std::fs::remove_dir_all(&dir);
    }

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
