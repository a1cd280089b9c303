//! Work split over threads with results in a fixed order, so what is computed
//! does not depend on the thread count. The threads are rayon's: the pool the
//! caller installs (the trainer's, sized by `--threads`), reused from call to
//! call. Each item is computed whole by one task; how items are grouped into
//! tasks changes nothing but speed.

use rayon::prelude::*;

/// `f(i)` for `i` in `0..n`, in parallel, returned in `i` order.
pub fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    (0..n).into_par_iter().map(f).collect()
}

/// Runs `f(chunk_index, chunk)` over `data` cut into chunks of `size`, in
/// parallel; each chunk is written by one call only.
pub fn chunks_mut<T: Send>(data: &mut [T], size: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    data.par_chunks_mut(size.max(1)).enumerate().for_each(|(i, c)| f(i, c));
}
