//! Calibration: what a model's layers see on real data, traced by the
//! reference interpreter's observer (`analog_runtime::interp::observe`):
//! activation ranges, ABFP ADC clipping and int8 operand histograms. Every
//! figure is defined in `docs/analysis.md`.
//!
//! Results do not depend on the thread count: integer counts and extrema are
//! merged in any order, and floating-point sums are kept per sample and added
//! in sample order.

use crate::control::Control;
use analog_runtime::dataset::Dataset;
use analog_runtime::interp::observe::Observer;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::Format;
use analog_runtime::ir::{Graph, NodeId};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The high percentile of `|x|` reported per node, in thousandths.
pub const PERMILLE: u64 = 999;

/// The value range of one node's output over the calibration samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Activations {
    /// Elements seen: samples × elements per sample.
    pub count: u64,
    pub min: f32,
    pub max: f32,
    pub mean_abs: f64,
    pub rms: f64,
    /// The `PERMILLE`/1000 percentile of `|x|`, nearest rank: the
    /// `⌈0.999·count⌉`-th smallest `|x|`.
    pub p999: f32,
}

/// What the calibration traced.
pub struct Calibration {
    /// Per node.
    pub activations: Vec<Activations>,
    /// Per node: ABFP conversions and how many had `|v| > 1`.
    pub adc: Vec<[u64; 2]>,
    /// Per int8 node: how often each operand pair `(x_q, w_q)` met the
    /// multiplier, at the product table's index `byte(x_q)·256 + byte(w_q)`.
    pub histograms: Vec<Option<Vec<u64>>>,
}

/// Runs `work` on every sample of `0..n`, on `threads` threads each with its
/// own state; `None` when interrupted.
pub(crate) fn each_sample<S: Send>(
    n: usize,
    threads: usize,
    control: Control,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize) + Sync,
) -> Option<Vec<S>> {
    let next = AtomicUsize::new(0);
    let states = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut state = init();
                    loop {
                        if control.cancelled() {
                            break;
                        }
                        let start = next.fetch_add(16, Ordering::Relaxed);
                        if start >= n {
                            break;
                        }
                        for i in start..(start + 16).min(n) {
                            work(&mut state, i);
                        }
                    }
                    state
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("calibration thread")).collect::<Vec<_>>()
    });
    (!control.cancelled()).then_some(states)
}

/// How many of the largest of `count` values hold the percentile: its rank
/// from the bottom is `⌈0.999·count⌉`, so it is the least of the
/// `count − ⌈0.999·count⌉ + 1` largest.
fn top_count(count: u64) -> usize {
    (count - (PERMILLE * count).div_ceil(1000) + 1) as usize
}

/// One thread's observations.
struct Collector {
    /// How many of the largest `|x|` to keep per node for the percentile.
    keep: Vec<usize>,
    min: Vec<f32>,
    max: Vec<f32>,
    /// Per node: the largest `|x|` seen (as bits: non-negative floats order as their bits).
    top: Vec<BinaryHeap<Reverse<u32>>>,
    /// The current sample's `[Σ|x|, Σx²]` per node.
    current: Vec<[f64; 2]>,
    /// `(sample, current)` of every sample done.
    sums: Vec<(usize, Vec<[f64; 2]>)>,
    adc: Vec<[u64; 2]>,
    histograms: Vec<Option<Vec<u64>>>,
}

impl Observer for Collector {
    fn node(&mut self, id: NodeId, y: &[f32]) {
        let i = id.index();
        let (keep, top, s) = (self.keep[i], &mut self.top[i], &mut self.current[i]);
        for &v in y {
            self.min[i] = self.min[i].min(v);
            self.max[i] = self.max[i].max(v);
            s[0] += v.abs() as f64;
            s[1] += v as f64 * v as f64;
            let bits = v.abs().to_bits();
            if top.len() < keep {
                top.push(Reverse(bits));
            } else if let Some(mut least) = top.peek_mut() {
                if bits > least.0 {
                    *least = Reverse(bits);
                }
            }
        }
    }

    fn adc(&mut self, id: NodeId, v: f32) {
        let c = &mut self.adc[id.index()];
        c[0] += 1;
        c[1] += u64::from(v.abs() > 1.0);
    }

    fn operands(&mut self, id: NodeId, x: i32, w: i32) {
        if let Some(h) = &mut self.histograms[id.index()] {
            h[((x as u8 as usize) << 8) | w as u8 as usize] += 1;
        }
    }
}

/// Traces `graph` (give it without noise) on the first `n` samples of `data`.
/// `None` when interrupted.
pub fn calibrate(
    interp: &Interpreter,
    graph: &Graph,
    data: &Dataset,
    n: usize,
    seed: u64,
    threads: usize,
    control: Control,
) -> Option<Calibration> {
    let nodes = graph.nodes.len();
    let keep: Vec<usize> =
        graph.nodes.iter().map(|node| top_count((n * node.shape.iter().product::<usize>()) as u64)).collect();
    let trial = interp.trial(seed, 0);
    let states = each_sample(
        n,
        threads,
        control,
        || Collector {
            keep: keep.clone(),
            min: vec![f32::INFINITY; nodes],
            max: vec![f32::NEG_INFINITY; nodes],
            top: vec![BinaryHeap::new(); nodes],
            current: vec![[0.0; 2]; nodes],
            sums: vec![],
            adc: vec![[0; 2]; nodes],
            histograms: graph
                .nodes
                .iter()
                .map(|node| matches!(node.hw.format, Format::Int8 { .. }).then(|| vec![0; 65536]))
                .collect(),
        },
        |c, i| {
            interp.run_observed(&trial, i as u32, &[data.sample(i)], c);
            let done = std::mem::replace(&mut c.current, vec![[0.0; 2]; nodes]);
            c.sums.push((i, done));
        },
    )?;
    // Merge: counts and extrema in any order, sums in sample order.
    let mut min = vec![f32::INFINITY; nodes];
    let mut max = vec![f32::NEG_INFINITY; nodes];
    let mut top: Vec<Vec<u32>> = vec![vec![]; nodes];
    let mut adc = vec![[0u64; 2]; nodes];
    let mut histograms: Vec<Option<Vec<u64>>> = vec![None; nodes];
    let mut sums = vec![];
    for s in states {
        for i in 0..nodes {
            min[i] = min[i].min(s.min[i]);
            max[i] = max[i].max(s.max[i]);
            top[i].extend(s.top[i].iter().map(|r| r.0));
            adc[i][0] += s.adc[i][0];
            adc[i][1] += s.adc[i][1];
        }
        for (i, h) in s.histograms.into_iter().enumerate() {
            let Some(h) = h else { continue };
            match &mut histograms[i] {
                Some(total) => total.iter_mut().zip(h).for_each(|(t, c)| *t += c),
                slot => *slot = Some(h),
            }
        }
        sums.extend(s.sums);
    }
    sums.sort_by_key(|(i, _)| *i);
    let activations = (0..nodes)
        .map(|i| {
            let count = (n * graph.nodes[i].shape.iter().product::<usize>()) as u64;
            let (abs, sq) = sums.iter().fold((0.0, 0.0), |(a, q), (_, s)| (a + s[i][0], q + s[i][1]));
            // The `keep[i]` largest of all: the least of them is the percentile.
            top[i].sort_unstable_by(|a, b| b.cmp(a));
            let p999 = top[i].get(keep[i] - 1).map_or(0.0, |b| f32::from_bits(*b));
            Activations {
                count,
                min: min[i],
                max: max[i],
                mean_abs: abs / count.max(1) as f64,
                rms: (sq / count.max(1) as f64).sqrt(),
                p999,
            }
        })
        .collect();
    Some(Calibration { activations, adc, histograms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_is_the_nearest_rank() {
        // 8 values: the 8th smallest = the largest. 1000: the 999th = 2nd
        // largest. 2000: the 1998th smallest = 3rd largest.
        assert_eq!((top_count(1), top_count(8), top_count(1000)), (1, 1, 2));
        assert_eq!((top_count(1001), top_count(2000), top_count(2001)), (2, 3, 3));
    }
}
