//! Work split over threads with results in a fixed order, so what is computed
//! does not depend on the thread count. The threads are rayon's: the pool the
//! caller installs (the trainer's, sized by `--threads`), reused from call to
//! call. Each item is computed whole by one task; how items are grouped into
//! tasks changes nothing but speed.
//!
//! [`map`] and [`chunks_mut`] balance the load by work stealing; [`map_on`]
//! and [`parts_mut`] pin each item to a thread instead, so that a layer's
//! rows computed by one core in the forward are the rows that core computes
//! in the backward and updates, with their weights still in its cache.

use rayon::prelude::*;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The smallest piece of element-wise work given a task of its own: below
/// it, a split costs more than it saves.
pub const PIECE: usize = 1 << 14;

/// Values per part when a tensor of `len` values is split one part per
/// thread of the current pool ([`map_on`]); a tensor under [`PIECE`] stays
/// whole.
pub fn pinned_part(len: usize) -> usize {
    if len < PIECE { len } else { len.div_ceil(rayon::current_num_threads().max(1)) }.max(1)
}

/// `f(i)` for `i` in `0..n`, in parallel, returned in `i` order.
pub fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    (0..n).into_par_iter().map(f).collect()
}

/// Runs `f(chunk_index, chunk)` over `data` cut into chunks of `size`, in
/// parallel; each chunk is written by one call only.
pub fn chunks_mut<T: Send>(data: &mut [T], size: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    data.par_chunks_mut(size.max(1)).enumerate().for_each(|(i, c)| f(i, c));
}

/// Runs `f(range, &mut out[range])` over `out` in pieces of [`PIECE`] values,
/// in parallel.
pub fn pieces_mut<T: Send>(out: &mut [T], f: impl Fn(Range<usize>, &mut [T]) + Sync + Send) {
    chunks_mut(out, PIECE, |i, part| f(i * PIECE..i * PIECE + part.len(), part));
}

/// [`chunks_mut`] with `f`'s results, in chunk order.
pub fn chunks_map_mut<T: Send, R: Send>(
    data: &mut [T],
    size: usize,
    f: impl Fn(usize, &mut [T]) -> R + Sync + Send,
) -> Vec<R> {
    data.par_chunks_mut(size.max(1)).enumerate().map(|(i, c)| f(i, c)).collect()
}

/// `f(i)` for `i` in `0..n`, item `i` on thread `home(i) mod threads` of the
/// current pool (the same thread call after call), returned in `i` order. A
/// single item runs on the calling thread.
pub fn map_on<T: Send>(n: usize, home: impl Fn(usize) -> usize + Sync, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = rayon::current_num_threads().max(1);
    if n <= 1 || threads == 1 {
        return (0..n).map(f).collect();
    }
    let mut done: Vec<(usize, T)> = rayon::broadcast(|ctx| {
        (0..n).filter(|i| home(*i) % threads == ctx.index()).map(|i| (i, f(i))).collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// Runs `f(part_index, part)` over `data` cut into parts of `size`, part `i`
/// on thread `i mod threads` (see [`map_on`]).
pub fn parts_mut<T: Send>(data: &mut [T], size: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    let parts: Vec<Mutex<&mut [T]>> = data.chunks_mut(size.max(1)).map(Mutex::new).collect();
    map_on(parts.len(), |i| i, |i| f(i, &mut parts[i].lock().unwrap_or_else(|e| e.into_inner())));
}

/// Runs `f` on the current pool with its other threads kept spinning for
/// `f`'s parallel work instead of going to sleep between two of its parallel
/// loops: on a virtual machine an idle core halts, and waking it again cost
/// more than a small loop's work (a training step has dozens of them).
///
/// A thread spins until `f` returns or it has found no work for [`IDLE`].
/// The limit is what keeps this safe: a thread waiting inside a task it
/// stole from `f` may pick up the spinner, which then sits on top of that
/// task, which `f` may be waiting for; with no work left, the spinner gives
/// up and the task goes on. (Between two steps, or in a long serial stretch,
/// the threads fall back to rayon's own sleep.) Idle spins also yield to the
/// operating system, in case there are more threads than cores.
pub fn hot<R>(f: impl FnOnce() -> R) -> R {
    let Some(me) = rayon::current_thread_index().filter(|_| rayon::current_num_threads() > 1) else { return f() };
    let done = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&done);
    rayon::spawn_broadcast(move |ctx| {
        // The calling thread runs its copy when it next waits for work: it
        // returns at once, whether or not `f` is done.
        if ctx.index() == me {
            return;
        }
        let mut last_work = Instant::now();
        let mut idle = 0u32;
        while !stop.load(Ordering::Acquire) {
            if rayon::yield_now() == Some(rayon::Yield::Executed) {
                idle = 0;
                last_work = Instant::now();
                continue;
            }
            idle += 1;
            if idle.is_multiple_of(64) {
                if last_work.elapsed() > IDLE {
                    return;
                }
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    });
    let r = f();
    done.store(true, Ordering::Release);
    r
}

/// How long a [`hot`] thread spins without finding work: longer than the
/// serial stretches between a step's parallel loops, short enough that a
/// spinner on top of a stolen task (see [`hot`]) delays it little.
pub const IDLE: Duration = Duration::from_micros(200);

/// `f` on a pool of its own of `threads` threads (at least one), for
/// callers outside a trainer whose parallel loops should use that many.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| format!("cannot start {threads} threads: {e}"))?;
    Ok(pool.install(f))
}

/// Makes the calling thread's SSE arithmetic flush subnormal results to zero
/// and read subnormal operands as zero (MXCSR's FTZ and DAZ bits). The
/// trainer's threads run so (`docs/training.md`, "Subnormal numbers"): a
/// confident network's gradients under heavy noise sink below 2⁻¹²⁶, where
/// every operation on them costs a microcode assist of a hundred cycles or
/// more, and a step slowed down 2–5×. Other targets keep IEEE subnormals.
pub fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: stores, then loads, this thread's own MXCSR; FTZ (bit 15)
        // and DAZ (bit 6) change only how subnormal numbers are treated.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
            csr |= (1 << 15) | (1 << 6);
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_work_comes_back_in_order() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let threads = pool.install(|| map_on(7, |i| i, |_| rayon::current_thread_index()));
        assert_eq!(threads, [0, 1, 2, 0, 1, 2, 0].map(Some));
        let mut v = vec![0usize; 10];
        pool.install(|| parts_mut(&mut v, 3, |i, part| part.iter_mut().for_each(|x| *x = i)));
        assert_eq!(v, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
        assert_eq!(pool.install(|| map_on(2, |_| 0, |i| i * 10)), [0, 10]);
        // With the other threads spinning, parallel work inside runs and ends.
        for _ in 0..50 {
            let v = pool.install(|| hot(|| map(100, |i| i * 2)));
            assert_eq!(v, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        }
    }
}
