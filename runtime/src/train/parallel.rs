//! Work split over threads with results in a fixed order, so what is computed
//! does not depend on the thread count.

/// `f(i)` for `i` in `0..n`, on up to `threads` scoped threads (contiguous
/// ranges of `i`), returned in `i` order.
pub fn map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        return (0..n).map(f).collect();
    }
    let per = n.div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || (t * per..((t + 1) * per).min(n)).map(f).collect::<Vec<T>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a training worker panicked")).collect()
    })
}

/// Runs `f(chunk_index, chunk)` over `data` cut into chunks of `size`, on up to
/// `threads` scoped threads; each chunk is written by one call only.
pub fn chunks_mut<T: Send>(data: &mut [T], size: usize, threads: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let count = data.len().div_ceil(size.max(1));
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        data.chunks_mut(size.max(1)).enumerate().for_each(|(i, c)| f(i, c));
        return;
    }
    let per = count.div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        for (t, part) in data.chunks_mut(per * size).enumerate() {
            s.spawn(move || part.chunks_mut(size).enumerate().for_each(|(i, c)| f(t * per + i, c)));
        }
    });
}
