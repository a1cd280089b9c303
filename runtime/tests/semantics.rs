//! The reference interpreter against the normative formulas of
//! `docs/language.md` (§3.2 ops, §6 effects, §7 order of a MAC layer), on tiny
//! graphs built by hand.
//!
//! Every test checks a closed form or a hand-computed value. Statistical checks
//! use fixed seeds (nothing flakes) and tolerances derived from the sample size:
//! a mean within 5·σ/√N, a variance within 5 standard errors of the sample
//! variance (`σ²·√(2/N)` for Gaussian data, `√((m₄ − σ⁴)/N)` with the sample's
//! fourth central moment otherwise). Observed statistics are printed
//! (`cargo test --test semantics -- --nocapture`).
//!
//! Tests that disagree with the documentation are kept and marked
//! `#[ignore = "BUG: …"]`.

// Index loops mirror the formulas' subscripts; tables of test cases are tuples.
#![allow(clippy::needless_range_loop, clippy::type_complexity)]

use analog_runtime::derived::noise::{ADC_SITE, ORDER_SITE};
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::{
    Accumulate, Draw, Format, MixOrder, Multiplier, Noise, NoiseKind, NoiseShape, Order, Phase, Sigma, SigmaUnit,
    TableLayout, WeightScale,
};
use analog_runtime::ir::op::{symmetric, Padding2d};
use analog_runtime::ir::{Dtype, Graph, Node, NodeHardware, NodeId, NodeKind, NoiseSite, Op, Param, Step};
use analog_runtime::multiplier::{self, Design};
use analog_runtime::quant;
use analog_runtime::rng::{self, PER_CHIP};
use analog_runtime::tensor::Tensor;
use std::path::PathBuf;

const SEED: u64 = 0x5EED_2024;

// ---------------------------------------------------------------------------
// Graph builder
// ---------------------------------------------------------------------------

/// Node uids are offset from the arena index, so that a draw keyed by the
/// index instead of the uid would be caught.
const UID_OFFSET: u32 = 100;

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
}

impl Builder {
    fn push(&mut self, kind: NodeKind, shape: &[usize], hw: NodeHardware, params: Vec<Param>) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(Node {
            uid: UID_OFFSET + id.0,
            name: format!("n{}", id.0),
            kind,
            shape: shape.to_vec(),
            hw,
            params,
            prepared: None,
        });
        id
    }

    /// An f32 input of `shape` without preprocessing.
    fn input(&mut self, shape: &[usize]) -> NodeId {
        self.input_hw(shape, NodeHardware::default())
    }

    fn input_hw(&mut self, shape: &[usize], hw: NodeHardware) -> NodeId {
        let kind = NodeKind::Input { dtype: Dtype::F32, shape: shape.to_vec(), steps: vec![] };
        self.push(kind, shape, hw, vec![])
    }

    fn op(&mut self, op: Op, inputs: &[NodeId], shape: &[usize], params: Vec<Param>, hw: NodeHardware) -> NodeId {
        self.push(NodeKind::Op { op, inputs: inputs.to_vec() }, shape, hw, params)
    }

    /// A plain op whose output has the shape of its (first) input.
    fn unary(&mut self, op: Op, x: NodeId, hw: NodeHardware) -> NodeId {
        let shape = self.nodes[x.index()].shape.clone();
        self.op(op, &[x], &shape, vec![], hw)
    }

    fn dense(&mut self, x: NodeId, w: &Tensor, b: Option<&[f32]>, hw: NodeHardware) -> NodeId {
        let out = w.shape[0];
        let mut params = vec![Param { role: "weight".into(), name: "w".into(), value: w.clone() }];
        if let Some(b) = b {
            params.push(param("bias", &[out], b.to_vec()));
        }
        self.op(Op::Dense { out }, &[x], &[out], params, hw)
    }

    fn finish(self, outputs: &[NodeId]) -> Graph {
        Graph {
            name: "semantics".into(),
            nodes: self.nodes,
            outputs: outputs.iter().enumerate().map(|(i, o)| (format!("y{i}"), *o)).collect(),
        }
    }
}

fn param(role: &str, shape: &[usize], data: Vec<f32>) -> Param {
    Param { role: role.into(), name: role.into(), value: Tensor::new(shape.to_vec(), data) }
}

fn interp(g: &Graph) -> Interpreter<'_> {
    Interpreter::new(g, |p| std::fs::read(p)).expect("interpreter")
}

/// Every output of `g` for one inference `(SEED, trial, sample)` of a graph with one input.
fn run_all(g: &Graph, trial: u32, sample: u32, x: &[f32]) -> Vec<Vec<f32>> {
    let i = interp(g);
    let t = i.trial(SEED, trial);
    i.run(&t, sample, &[x])
}

/// The first output of `g` for one inference.
fn run(g: &Graph, trial: u32, sample: u32, x: &[f32]) -> Vec<f32> {
    run_all(g, trial, sample, x).remove(0)
}

/// The first output for each sample of `samples`, one chip (`trial`), input
/// `x(sample)`.
fn run_samples(
    g: &Graph,
    trial: u32,
    samples: impl Iterator<Item = u32>,
    x: impl Fn(u32) -> Vec<f32>,
) -> Vec<Vec<f32>> {
    let i = interp(g);
    let t = i.trial(SEED, trial);
    samples.map(|s| i.run(&t, s, &[&x(s)]).remove(0)).collect()
}

// ---------------------------------------------------------------------------
// Hardware helpers
// ---------------------------------------------------------------------------

fn sigma(value: f64, unit: SigmaUnit) -> Sigma {
    Sigma { value, unit }
}

fn additive(value: f64) -> NoiseKind {
    NoiseKind::Additive { sigma: sigma(value, SigmaUnit::Abs) }
}

fn multiplicative(value: f64) -> NoiseKind {
    NoiseKind::Multiplicative { sigma: value }
}

fn mixed(add: f64, mul: f64, order: MixOrder) -> NoiseKind {
    NoiseKind::Mixed { add: sigma(add, SigmaUnit::Abs), mul, order }
}

fn site(site: u32, kind: NoiseKind, draw: Draw, repeat: u32) -> NoiseSite {
    NoiseSite { site, noise: Noise { kind, draw, repeat, during: Phase::Both } }
}

/// Hardware with dynamic output noise `kind` at `site`.
fn noisy(s: u32, kind: NoiseKind) -> NodeHardware {
    NodeHardware { noise: Some(site(s, kind, Draw::Dynamic, 1)), ..NodeHardware::default() }
}

fn with_format(format: Format) -> NodeHardware {
    NodeHardware { format, ..NodeHardware::default() }
}

fn abfp(block: u32, bits_x: u32, bits_w: u32, bits_adc: u32, gain: f64) -> Format {
    Format::Abfp {
        block,
        input_bits: bits_x,
        weight_bits: bits_w,
        adc_bits: bits_adc,
        gain,
        adc_noise: 0.0,
        adc_noise_kind: NoiseShape::Gaussian,
    }
}

fn int8(signed: bool, weight_scale: WeightScale, lo: f64, hi: f64) -> Format {
    Format::Int8 { signed, weight_scale, input_range: [lo, hi] }
}

fn example(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/multipliers").join(file)
}

// ---------------------------------------------------------------------------
// Data and statistics
// ---------------------------------------------------------------------------

/// `n` deterministic pseudo-random values in `(lo, hi)`: uniform draws of the
/// shared generator under an unrelated seed, `salt` choosing the stream.
fn data(n: usize, salt: u32, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|i| lo + (hi - lo) * rng::uniform(0xDA7A, salt, 0, 0, i as u32)).collect()
}

fn mean(d: &[f64]) -> f64 {
    d.iter().sum::<f64>() / d.len() as f64
}

/// Population variance and the standard error of the sample variance,
/// `√((m₄ − m₂²)/N)` (valid for any distribution with a fourth moment).
fn variance(d: &[f64]) -> (f64, f64) {
    let m = mean(d);
    let n = d.len() as f64;
    let m2 = d.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
    let m4 = d.iter().map(|v| (v - m).powi(4)).sum::<f64>() / n;
    (m2, ((m4 - m2 * m2) / n).sqrt())
}

/// Mean of `d` within 5σ/√N of `expected`, σ the known standard deviation.
fn check_mean(label: &str, d: &[f64], expected: f64, sd: f64) {
    let (m, tol) = (mean(d), 5.0 * sd / (d.len() as f64).sqrt());
    eprintln!("{label}: N = {}, mean = {m:.5} (expected {expected}, tolerance ±{tol:.5})", d.len());
    assert!((m - expected).abs() <= tol, "{label}: mean {m} not within {tol} of {expected}");
}

/// Variance of Gaussian data within 5·σ²·√(2/N) of `expected` (= σ²).
fn check_var_gaussian(label: &str, d: &[f64], expected: f64) {
    let (v, _) = variance(d);
    let tol = 5.0 * expected * (2.0 / d.len() as f64).sqrt();
    eprintln!("{label}: N = {}, var = {v:.5} (expected {expected:.5}, tolerance ±{tol:.5})", d.len());
    assert!((v - expected).abs() <= tol, "{label}: variance {v} not within {tol} of {expected}");
}

/// Variance of non-Gaussian data within 5 standard errors `√((m₄ − m₂²)/N)`.
fn check_var(label: &str, d: &[f64], expected: f64) {
    let (v, se) = variance(d);
    let tol = 5.0 * se;
    eprintln!("{label}: N = {}, var = {v:.5} (expected {expected:.5}, tolerance ±{tol:.5})", d.len());
    assert!((v - expected).abs() <= tol, "{label}: variance {v} not within {tol} of {expected}");
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `W x + b` in f64, and `Σ |W_ij x_j| + |b_i|` (the scale of its rounding error).
fn dense_f64(w: &[f32], x: &[f32], b: Option<&[f32]>) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    (0..w.len() / n)
        .map(|o| {
            let bias = b.map_or(0.0, |b| b[o] as f64);
            let terms = (0..n).map(|j| w[o * n + j] as f64 * x[j] as f64);
            let y = terms.clone().sum::<f64>() + bias;
            let scale = terms.map(f64::abs).sum::<f64>() + bias.abs();
            (y, scale)
        })
        .unzip()
}

/// Asserts `|got − want| ≤ rel·scale` element by element.
fn assert_close(label: &str, got: &[f32], want: &[f64], scale: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{label}: length");
    for (i, ((g, w), s)) in got.iter().zip(want).zip(scale).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= rel * s,
            "{label}: element {i}: got {g}, expected {w} (tolerance {})",
            rel * s
        );
    }
}

// ---------------------------------------------------------------------------
// 1. σ = 0 is the identity
// ---------------------------------------------------------------------------

/// input(noise) → dense(weight noise, output noise) → tanh(noise), with every
/// noise site of `kind` (or none).
fn sigma_zero_graph(kind: Option<(NoiseKind, Draw, u32)>) -> Graph {
    let mk = |s: u32| kind.clone().map(|(k, d, r)| site(s, k, d, r));
    let mut b = Builder::default();
    let x = b.input_hw(&[12], NodeHardware { noise: mk(0), ..NodeHardware::default() });
    let w = Tensor::new(vec![5, 12], data(60, 1, -1.0, 1.0));
    let hw = NodeHardware { noise: mk(1), weight_noise: mk(2), ..NodeHardware::default() };
    let d = b.dense(x, &w, Some(&data(5, 2, -0.5, 0.5)), hw);
    let t = b.unary(Op::Tanh, d, NodeHardware { noise: mk(3), ..NodeHardware::default() });
    b.finish(&[d, t])
}

/// The same MAC layer in each number format, with `noise` (additive σ in lsb
/// on the ADC formats) and static `weight_noise`, or neither.
fn sigma_zero_formats(noise: Option<NoiseKind>, weight_noise: Option<NoiseKind>) -> Graph {
    let mut b = Builder::default();
    let x = b.input(&[20]);
    let w = Tensor::new(vec![6, 20], data(120, 3, -1.0, 1.0));
    let formats = [
        abfp(8, 8, 8, 8, 2.0),
        int8(true, WeightScale::PerChannel, -1.0, 1.0),
        int8(false, WeightScale::PerTensor, -1.0, 1.0),
        Format::AnalogInt {
            block: 8,
            input_bits: 5,
            input_signed: false,
            weight_bits: 6,
            adc_bits: 8,
            gain: 0.5,
            input_scale: 1.0 / 31.0,
            adc_noise: 0.0,
        },
    ];
    let mut outs = vec![];
    for (i, f) in formats.into_iter().enumerate() {
        let hw = NodeHardware {
            noise: noise.clone().map(|k| site(10 + i as u32, k, Draw::Dynamic, 1)),
            weight_noise: weight_noise.clone().map(|k| site(20 + i as u32, k, Draw::Static, 1)),
            format: f,
            ..NodeHardware::default()
        };
        outs.push(b.dense(x, &w, Some(&[0.1; 6]), hw));
    }
    b.finish(&outs)
}

#[test]
fn sigma_zero_is_the_identity() {
    // Bit-exact: x + 0·ε, x·(1 + 0·ε) and their compositions are x in IEEE
    // arithmetic (ε is finite; no output here is −0.0). repeat = 4 averages four
    // identical values, exact with a power-of-two count.
    let reference = sigma_zero_graph(None);
    let variants = [
        (additive(0.0), Draw::Dynamic, 1),
        (additive(0.0), Draw::Static, 1),
        (multiplicative(0.0), Draw::Dynamic, 1),
        (multiplicative(0.0), Draw::Static, 1),
        (mixed(0.0, 0.0, MixOrder::MulFirst), Draw::Dynamic, 1),
        (mixed(0.0, 0.0, MixOrder::AddFirst), Draw::Dynamic, 1),
        (mixed(0.0, 0.0, MixOrder::AddFirst), Draw::Static, 1),
        (additive(0.0), Draw::Dynamic, 4),
    ];
    for v in variants {
        let g = sigma_zero_graph(Some(v.clone()));
        for trial in 0..2 {
            for sample in 0..4 {
                let x = data(12, 40 + sample, -2.0, 2.0);
                let want = run_all(&reference, trial, sample, &x);
                let got = run_all(&g, trial, sample, &x);
                for (w, g) in want.iter().zip(&got) {
                    assert_eq!(bits(w), bits(g), "{v:?}, trial {trial}, sample {sample}");
                }
            }
        }
    }
    // In every number format: σ = 0 in lsb at the ADC, and static weight noise
    // σ = 0 (whose weights are prepared per chip instead of once).
    let reference = sigma_zero_formats(None, None);
    let lsb = NoiseKind::Additive { sigma: sigma(0.0, SigmaUnit::Lsb) };
    for (noise, weight_noise) in
        [(Some(lsb), None), (None, Some(additive(0.0))), (None, Some(multiplicative(0.0))), (Some(additive(0.0)), None)]
    {
        let g = sigma_zero_formats(noise.clone(), weight_noise.clone());
        for sample in 0..4 {
            let x = data(20, 50 + sample, -1.2, 1.2);
            let want = run_all(&reference, 0, sample, &x);
            let got = run_all(&g, 0, sample, &x);
            for (k, (w, g)) in want.iter().zip(&got).enumerate() {
                assert_eq!(bits(w), bits(g), "format {k}, noise {noise:?}, weight noise {weight_noise:?}");
            }
        }
    }
}

#[test]
fn sigma_zero_with_an_odd_repeat_is_the_identity() {
    // The average of R identical outputs is that output (§6.1: "average the outputs").
    let reference = sigma_zero_graph(None);
    let g = sigma_zero_graph(Some((additive(0.0), Draw::Dynamic, 3)));
    let mut off = 0;
    for sample in 0..16 {
        let x = data(12, 40 + sample, -2.0, 2.0);
        let want = run_all(&reference, 0, sample, &x);
        let got = run_all(&g, 0, sample, &x);
        for (w, g) in want.iter().zip(&got) {
            off += w.iter().zip(g).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        }
    }
    assert_eq!(off, 0, "{off} of {} outputs differ from the noise-free graph", 16 * 10);
}

#[test]
fn inactive_noise_is_the_identity_and_eval_noise_is_applied() {
    // §6.1: `analogc` evaluates, so noise marked `train` is off; `none` is off.
    let graph = |kind: NoiseKind, during: Phase| {
        let mut b = Builder::default();
        let x = b.input(&[16]);
        let noise = Some(NoiseSite { site: 1, noise: Noise { kind, draw: Draw::Dynamic, repeat: 1, during } });
        let y = b.unary(Op::Relu, x, NodeHardware { noise, ..NodeHardware::default() });
        b.finish(&[y])
    };
    let x = data(16, 60, 0.1, 1.0);
    assert_eq!(run(&graph(additive(1.0), Phase::Train), 0, 0, &x), x);
    assert_eq!(run(&graph(NoiseKind::Off, Phase::Both), 0, 0, &x), x);
    let eval = run(&graph(additive(1.0), Phase::Eval), 0, 0, &x);
    assert!(eval.iter().zip(&x).all(|(y, x)| y != x), "noise marked eval must be applied");
}

#[test]
fn inactive_weight_noise_on_a_quantized_layer_is_the_identity() {
    // `weight_noise none` (removing a profile's) or `during = train` must leave
    // the layer as if it had no weight noise.
    for kind in [NoiseKind::Off, additive(0.1)] {
        let during = if kind == NoiseKind::Off { Phase::Both } else { Phase::Train };
        let wn = NoiseSite { site: 20, noise: Noise { kind, draw: Draw::Static, repeat: 1, during } };
        let mut b = Builder::default();
        let x = b.input(&[20]);
        let w = Tensor::new(vec![6, 20], data(120, 3, -1.0, 1.0));
        let hw = NodeHardware { weight_noise: Some(wn), ..with_format(int8(true, WeightScale::PerChannel, -1.0, 1.0)) };
        let y = b.dense(x, &w, Some(&[0.1; 6]), hw);
        let g = b.finish(&[y]);
        // `reference` output 1 is the same int8 layer without weight noise.
        let reference = sigma_zero_formats(None, None);
        let x = data(20, 50, -1.2, 1.2);
        let want = run_all(&reference, 0, 0, &x).remove(1);
        assert_eq!(bits(&run(&g, 0, 0, &x)), bits(&want));
    }
}

// ---------------------------------------------------------------------------
// 2. Noise statistics
// ---------------------------------------------------------------------------

const ELEMENTS: usize = 4096;

#[test]
fn additive_noise_on_an_input_has_mean_zero_and_variance_sigma2() {
    // 4096 elements × 16 samples = 65,536 draws of (y − x)/σ ~ N(0, 1): mean
    // within 5/√N = 0.0195, variance within 5·√(2/N) = 0.0276.
    let s = 0.5;
    let mut b = Builder::default();
    let x = b.input_hw(&[ELEMENTS], noisy(3, additive(s)));
    let g = b.finish(&[x]);
    let x = data(ELEMENTS, 70, -3.0, 3.0);
    let ys = run_samples(&g, 0, 0..16, |_| x.clone());
    let mut d = vec![];
    for (sample, y) in ys.iter().enumerate() {
        for e in 0..ELEMENTS {
            d.push((y[e] as f64 - x[e] as f64) / s);
            if sample == 0 {
                // The draw itself: y = x + σ·ε with ε = gaussian(seed, trial, sample, site, element);
                // one f32 rounding of the sum: |error| ≤ 2^-24·(|x| + σ|ε|) < 1e-6·(|x| + 3).
                let eps = rng::gaussian(SEED, 0, 0, 3, e as u32) as f64;
                let want = x[e] as f64 + s * eps;
                assert!((y[e] as f64 - want).abs() <= 1e-6 * (x[e].abs() as f64 + 3.0), "element {e}");
            }
        }
    }
    check_mean("additive (y−x)/σ", &d, 0.0, 1.0);
    check_var_gaussian("additive (y−x)/σ", &d, 1.0);
}

#[test]
fn multiplicative_noise_on_relu_has_relative_mean_zero_and_variance_sigma2() {
    // y/x − 1 = σ·ε on positive inputs (relu is the identity there); N = 65,536.
    // Normalized by σ: mean within 0.0195, variance within 0.0276 (Gaussian).
    let s = 0.1;
    let mut b = Builder::default();
    let x = b.input(&[ELEMENTS]);
    let y = b.unary(Op::Relu, x, noisy(4, multiplicative(s)));
    let g = b.finish(&[y]);
    let x = data(ELEMENTS, 71, 0.5, 3.0);
    let ys = run_samples(&g, 0, 0..16, |_| x.clone());
    let d: Vec<f64> =
        ys.iter().flat_map(|y| y.iter().zip(&x).map(|(y, x)| (*y as f64 / *x as f64 - 1.0) / s)).collect();
    check_mean("multiplicative (y/x−1)/σ", &d, 0.0, 1.0);
    check_var_gaussian("multiplicative (y/x−1)/σ", &d, 1.0);
}

#[test]
fn mixed_noise_variance_depends_on_the_order() {
    // σ_a = 1, σ_m = 0.5; half the elements x = 1, half x = 3.
    //   mul_first: Var = x²σ_m² + σ_a²           → 1.25 (x = 1), 3.25 (x = 3)
    //   add_first: Var = (x² + σ_a²)σ_m² + σ_a²  → 1.50 (x = 1), 3.50 (x = 3)
    // 32 samples × 2048 elements = 65,536 values per (order, x). add_first is not
    // Gaussian (a product term), so the variance tolerance is 5 standard errors
    // from the sample's fourth moment: ≈ ±0.03 (x = 1), ±0.09 (x = 3), well
    // below the 0.25 separating the two orders. Means are 0 (E[ε₁ε₂] = 0),
    // within 5·√Var/√N.
    let (sa, sm) = (1.0, 0.5);
    let x: Vec<f32> = (0..ELEMENTS).map(|e| if e % 2 == 0 { 1.0 } else { 3.0 }).collect();
    let graph = |order| {
        let mut b = Builder::default();
        let i = b.input(&[ELEMENTS]);
        let y = b.unary(Op::Relu, i, noisy(5, mixed(sa, sm, order)));
        b.finish(&[y])
    };
    let mul_first = run_samples(&graph(MixOrder::MulFirst), 0, 0..32, |_| x.clone());
    let add_first = run_samples(&graph(MixOrder::AddFirst), 0, 0..32, |_| x.clone());
    for (name, ys, var) in [("mul_first", &mul_first, [1.25f64, 3.25]), ("add_first", &add_first, [1.5, 3.5])] {
        for (parity, xv) in [1.0f64, 3.0].into_iter().enumerate() {
            let d: Vec<f64> =
                ys.iter().flat_map(|y| y.iter().skip(parity).step_by(2).map(|v| *v as f64 - xv)).collect();
            check_mean(&format!("mixed {name} x={xv} y−x"), &d, 0.0, var[parity].sqrt());
            check_var(&format!("mixed {name} x={xv} y−x"), &d, var[parity]);
        }
    }
    // Same draws, different outputs: per element, ε₁ (multiplicative) is
    // element 2e and ε₂ (additive) element 2e + 1 of the site (interp/noise.rs).
    // Each output matches its own formula to a few f32 roundings (1e-5 of the
    // magnitude), and the two differ by σ_a·σ_m·ε₁·ε₂ ≠ 0.
    for e in 0..ELEMENTS {
        let e1 = rng::gaussian(SEED, 0, 0, 5, 2 * e as u32) as f64;
        let e2 = rng::gaussian(SEED, 0, 0, 5, 2 * e as u32 + 1) as f64;
        let xv = x[e] as f64;
        let want_mul = xv * (1.0 + sm * e1) + sa * e2;
        let want_add = (xv + sa * e2) * (1.0 + sm * e1);
        let tol = 1e-5 * (xv + 10.0);
        assert!((mul_first[0][e] as f64 - want_mul).abs() <= tol, "mul_first element {e}");
        assert!((add_first[0][e] as f64 - want_add).abs() <= tol, "add_first element {e}");
        assert_ne!(mul_first[0][e], add_first[0][e], "element {e}: the orders must differ");
    }
}

// ---------------------------------------------------------------------------
// 3. Static and dynamic draws
// ---------------------------------------------------------------------------

#[test]
fn static_output_draws_are_per_chip_and_dynamic_per_inference() {
    let n = 64;
    let mut b = Builder::default();
    let i = b.input(&[n]);
    let stat = NodeHardware { noise: Some(site(5, additive(1.0), Draw::Static, 1)), ..NodeHardware::default() };
    let stat_mul =
        NodeHardware { noise: Some(site(6, multiplicative(0.2), Draw::Static, 1)), ..NodeHardware::default() };
    let y_static = b.unary(Op::Relu, i, stat);
    let y_static_mul = b.unary(Op::Relu, i, stat_mul);
    let y_dynamic = b.unary(Op::Relu, i, noisy(7, additive(1.0)));
    let g = b.finish(&[y_static, y_static_mul, y_dynamic]);
    let x = data(n, 80, 0.5, 2.0);
    let it = interp(&g);
    let mut per_trial = vec![];
    for trial in 0..2 {
        let t = it.trial(SEED, trial);
        let mut runs: Vec<Vec<Vec<f32>>> = (0..4).map(|s| it.run(&t, s, &[&x])).collect();
        for s in 1..4 {
            assert_eq!(bits(&runs[0][0]), bits(&runs[s][0]), "static additive, sample {s}");
            assert_eq!(bits(&runs[0][1]), bits(&runs[s][1]), "static multiplicative, sample {s}");
            for e in 0..n {
                assert_ne!(runs[0][2][e], runs[s][2][e], "dynamic, sample {s}, element {e}");
            }
        }
        for e in 0..n {
            // Static draws are the draws of sample PER_CHIP; dynamic ones of the sample.
            // One f32 rounding: within 1e-6·(|x| + 6).
            let tol = 1e-6 * (x[e] as f64 + 6.0);
            let es = rng::gaussian(SEED, trial, PER_CHIP, 5, e as u32) as f64;
            assert!((runs[2][0][e] as f64 - (x[e] as f64 + es)).abs() <= tol);
            let em = rng::gaussian(SEED, trial, PER_CHIP, 6, e as u32) as f64;
            assert!((runs[2][1][e] as f64 - x[e] as f64 * (1.0 + 0.2 * em)).abs() <= tol);
            let ed = rng::gaussian(SEED, trial, 2, 7, e as u32) as f64;
            assert!((runs[2][2][e] as f64 - (x[e] as f64 + ed)).abs() <= tol);
        }
        per_trial.push(runs.swap_remove(0));
    }
    for k in 0..3 {
        for e in 0..n {
            assert_ne!(per_trial[0][k][e], per_trial[1][k][e], "output {k} element {e}: trials must differ");
        }
    }
}

#[test]
fn static_weight_noise_is_the_same_perturbed_weights_for_every_sample() {
    // §6.1/§7: static weight noise draws ε once per chip (sample = PER_CHIP) at
    // the weight-noise site, one per weight (element = flat index of [out, in]);
    // the layer is then the ideal dense with the perturbed weights W'.
    // Tolerance: f32 sums of 16 products, |error| ≤ 1e-5·(Σ|W'x| + |b|).
    let (rows, k, s) = (8, 16, 0.1);
    let w = Tensor::new(vec![rows, k], data(rows * k, 81, -1.0, 1.0));
    let max_w = w.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let bias = data(rows, 82, -0.5, 0.5);
    let wsite = 9;
    let kinds: [(&str, NoiseKind, Box<dyn Fn(f32, f32) -> f32>); 3] = [
        ("additive abs", additive(s), Box::new(move |w, e| w + s as f32 * e)),
        (
            "additive fs",
            NoiseKind::Additive { sigma: sigma(s, SigmaUnit::FullScale) },
            Box::new(move |w, e| w + s as f32 * max_w * e),
        ),
        ("multiplicative", multiplicative(s), Box::new(move |w, e| w * (1.0 + s as f32 * e))),
    ];
    for (name, kind, perturb) in kinds {
        for draw in [Draw::Static, Draw::Dynamic] {
            let mut b = Builder::default();
            let i = b.input(&[k]);
            let hw = NodeHardware { weight_noise: Some(site(wsite, kind.clone(), draw, 1)), ..NodeHardware::default() };
            let y = b.dense(i, &w, Some(&bias), hw);
            let g = b.finish(&[y]);
            let mut first_sample_per_trial = vec![];
            for trial in 0..3 {
                let ys = run_samples(&g, trial, 0..6, |s| data(k, 83 + s, -1.0, 1.0));
                for (sample, y) in ys.iter().enumerate() {
                    let key = if draw == Draw::Static { PER_CHIP } else { sample as u32 };
                    let w2: Vec<f32> = (0..rows * k)
                        .map(|e| perturb(w.data[e], rng::gaussian(SEED, trial, key, wsite, e as u32)))
                        .collect();
                    let (want, scale) = dense_f64(&w2, &data(k, 83 + sample as u32, -1.0, 1.0), Some(&bias));
                    assert_close(&format!("{name} {draw:?} trial {trial} sample {sample}"), y, &want, &scale, 1e-5);
                }
                first_sample_per_trial.push(ys[0].clone());
            }
            assert_ne!(first_sample_per_trial[0], first_sample_per_trial[1], "{name} {draw:?}: chips must differ");
        }
    }
}

// ---------------------------------------------------------------------------
// 4. repeat = R
// ---------------------------------------------------------------------------

#[test]
fn repeat_divides_the_variance_of_additive_noise_by_r() {
    // The average of R independent N(0, σ²) is N(0, σ²/R). σ = 1, 4096
    // elements × 16 samples = 65,536 values per R: variance within
    // 5·(σ²/R)·√(2/N), i.e. ±0.028 (R = 1), ±0.0069 (R = 4), ±0.0017 (R = 16).
    let x = data(ELEMENTS, 90, 0.5, 2.0);
    for r in [1u32, 4, 16] {
        let mut b = Builder::default();
        let i = b.input(&[ELEMENTS]);
        let hw = NodeHardware { noise: Some(site(8, additive(1.0), Draw::Dynamic, r)), ..NodeHardware::default() };
        let y = b.unary(Op::Relu, i, hw);
        let g = b.finish(&[y]);
        let ys = run_samples(&g, 0, 0..16, |_| x.clone());
        let d: Vec<f64> = ys.iter().flat_map(|y| y.iter().zip(&x).map(|(y, x)| *y as f64 - *x as f64)).collect();
        check_mean(&format!("repeat {r}"), &d, 0.0, 1.0 / (r as f64).sqrt());
        check_var_gaussian(&format!("repeat {r}"), &d, 1.0 / r as f64);
        // The draws: repetition `rep` uses elements rep·count + e of the site
        // (interp/noise.rs); the output is their f32 average (tolerance 1e-5).
        for e in 0..ELEMENTS {
            let avg = (0..r)
                .map(|rep| x[e] as f64 + rng::gaussian(SEED, 0, 0, 8, rep * ELEMENTS as u32 + e as u32) as f64)
                .sum::<f64>()
                / r as f64;
            assert!((ys[0][e] as f64 - avg).abs() <= 1e-5 * (x[e] as f64 + 6.0), "R = {r}, element {e}");
        }
    }
}

// ---------------------------------------------------------------------------
// 5. Accumulation
// ---------------------------------------------------------------------------

/// One output: x = [1, 0.5, 2, −1], w = [−5, 2, 3, 3] → products p = [−5, 1, 6, −3]
/// (exact sum −1), bias 0.25.
fn accumulate_graph(acc: Accumulate) -> Graph {
    let mut b = Builder::default();
    let i = b.input(&[4]);
    let hw = NodeHardware { accumulate: acc, ..NodeHardware::default() };
    let y = b.dense(i, &Tensor::new(vec![1, 4], vec![-5.0, 2.0, 3.0, 3.0]), Some(&[0.25]), hw);
    b.finish(&[y])
}

#[test]
fn ordered_accumulation_by_hand() {
    // s_k = clamp(λ·s_{k−1} + p_π(k), lo, hi), lo = −4, hi = 3, λ = 1; then + bias 0.25.
    // Every value is a small dyadic number: exact in f32, so compared exactly.
    //   natural        [−5, 1, 6, −3]: −5→−4, −3, 3, 0                → 0
    //   reversed       [−3, 6, 1, −5]: −3, 3, 4→3, −2                 → −2
    //   ascending |p|  [1, −3, −5, 6]: 1, −2, −7→−4, 2                → 2
    //   descending |p| [6, −5, −3, 1]: 6→3, −2, −5→−4, −3             → −3
    //   positive_first [1, 6, −5, −3]: 1, 7→3, −2, −5→−4              → −4
    //   negative_first [−5, −3, 1, 6]: −5→−4, −7→−4, −3, 3            → 3
    let x = [1.0, 0.5, 2.0, -1.0];
    let cases = [
        (Order::Natural, 0.0),
        (Order::Reversed, -2.0),
        (Order::Ascending, 2.0),
        (Order::Descending, -3.0),
        (Order::PositiveFirst, -4.0),
        (Order::NegativeFirst, 3.0),
    ];
    for (order, s) in cases {
        let g = accumulate_graph(Accumulate::Ordered { order, lo: -4.0, hi: 3.0, leak: 1.0 });
        assert_eq!(run(&g, 0, 0, &x), vec![s + 0.25], "{order:?}");
    }
    // Leak λ = 0.5, natural order:
    //   lo = −4, hi = 3:    −5→−4, −2+1 = −1, −0.5+6 = 5.5→3, 1.5−3 = −1.5    → −1.5
    //   lo = −100, hi = 100: −5, −2.5+1 = −1.5, −0.75+6 = 5.25, 2.625−3 = −0.375 → −0.375
    let leaky = |lo, hi| Accumulate::Ordered { order: Order::Natural, lo, hi, leak: 0.5 };
    assert_eq!(run(&accumulate_graph(leaky(-4.0, 3.0)), 0, 0, &x), vec![-1.5 + 0.25]);
    assert_eq!(run(&accumulate_graph(leaky(-100.0, 100.0)), 0, 0, &x), vec![-0.375 + 0.25]);
    // exact: Σp = −1; clamp (the non-ordered model) clamps the sum only, the
    // bias is added after: clamp(−1, −0.5, 3) = −0.5, clamp(−1, −4, −2) = −2.
    assert_eq!(run(&accumulate_graph(Accumulate::Exact), 0, 0, &x), vec![-1.0 + 0.25]);
    assert_eq!(run(&accumulate_graph(Accumulate::Clamp { lo: -0.5, hi: 3.0 }), 0, 0, &x), vec![-0.5 + 0.25]);
    assert_eq!(run(&accumulate_graph(Accumulate::Clamp { lo: -4.0, hi: -2.0 }), 0, 0, &x), vec![-2.0 + 0.25]);
    // Ordered with wide bounds and λ = 1 is the exact sum, in any order.
    for order in [Order::Natural, Order::Descending, Order::NegativeFirst] {
        let g = accumulate_graph(Accumulate::Ordered { order, lo: -100.0, hi: 100.0, leak: 1.0 });
        assert_eq!(run(&g, 0, 0, &x), vec![-1.0 + 0.25], "{order:?}");
    }
}

#[test]
fn random_order_is_one_permutation_per_chip() {
    // §6.2: `random` is a permutation drawn once per chip, the same for every
    // output: rng::permutation(seed, trial, ORDER_SITE + uid, K) (interp::random_order).
    // Saturating bounds make the result order-dependent. The fold is computed
    // here in f32 with the documented formula, and must match exactly.
    let (rows, k) = (2, 16);
    let w = Tensor::new(vec![rows, k], data(rows * k, 100, -1.0, 1.0));
    let bias = [0.125, -0.25];
    let (lo, hi) = (-1.5f32, 1.5f32);
    let mut b = Builder::default();
    let i = b.input(&[k]);
    let acc = Accumulate::Ordered { order: Order::Random, lo: lo as f64, hi: hi as f64, leak: 1.0 };
    let y = b.dense(i, &w, Some(&bias), NodeHardware { accumulate: acc, ..NodeHardware::default() });
    let uid = UID_OFFSET + y.0;
    let g = b.finish(&[y]);
    let x: Vec<f32> = data(k, 101, -2.0, 2.0);
    let mut perms = vec![];
    let mut outputs = vec![];
    for trial in 0..8 {
        let perm = rng::permutation(SEED, trial, ORDER_SITE.wrapping_add(uid), k);
        let mut sorted = perm.clone();
        sorted.sort();
        assert_eq!(sorted, (0..k as u32).collect::<Vec<_>>(), "a permutation");
        let ys = run_samples(&g, trial, 0..3, |_| x.clone());
        for (o, bias) in bias.iter().enumerate() {
            let products: Vec<f32> = (0..k).map(|j| w.data[o * k + j] * x[j]).collect();
            let permuted: Vec<f32> = perm.iter().map(|p| products[*p as usize]).collect();
            let s = permuted.iter().fold(0.0f32, |s, p| (s + p).clamp(lo, hi));
            for (sample, y) in ys.iter().enumerate() {
                assert_eq!(y[o], s + bias, "trial {trial}, sample {sample}, output {o}");
            }
        }
        perms.push(perm);
        outputs.push(ys[0].clone());
    }
    for a in 0..perms.len() {
        for b in a + 1..perms.len() {
            assert_ne!(perms[a], perms[b], "trials {a} and {b} drew the same order");
        }
    }
    for o in 0..rows {
        let mut values: Vec<u32> = outputs.iter().map(|y| y[o].to_bits()).collect();
        values.sort();
        values.dedup();
        eprintln!("random order, output {o}: {} distinct results over 8 chips", values.len());
        assert!(values.len() >= 3, "output {o}: the order must change the result across chips");
    }
}

// ---------------------------------------------------------------------------
// 6. ABFP
// ---------------------------------------------------------------------------

/// Per row and tile: `s_w`, `s_x` and the tile products `p = Σ Q_bw(w/s_w)·Q_bx(x/s_x)`
/// of §6.3, computed with `quant::q_bits` (f64 sums).
struct Tiles {
    s_w: Vec<Vec<f32>>,
    s_x: Vec<f32>,
    p: Vec<Vec<f64>>,
}

fn abfp_tiles(w: &Tensor, x: &[f32], n: usize, bits_w: u32, bits_x: u32) -> Tiles {
    let k = x.len();
    let max_abs = |v: &[f32]| v.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let s_x: Vec<f32> = x.chunks(n).map(max_abs).collect();
    let mut s_w = vec![];
    let mut p = vec![];
    for row in w.data.chunks(k) {
        let sw: Vec<f32> = row.chunks(n).map(max_abs).collect();
        let pr = (0..s_x.len())
            .map(|t| {
                (t * n..((t + 1) * n).min(k))
                    .map(|j| quant::q_bits(row[j] / sw[t], bits_w) as f64 * quant::q_bits(x[j] / s_x[t], bits_x) as f64)
                    .sum()
            })
            .collect();
        s_w.push(sw);
        p.push(pr);
    }
    Tiles { s_w, s_x, p }
}

fn abfp_graph(w: &Tensor, bias: Option<&[f32]>, hw: NodeHardware) -> Graph {
    let mut b = Builder::default();
    let i = b.input(&[w.shape[1]]);
    let y = b.dense(i, w, bias, hw);
    b.finish(&[y])
}

#[test]
fn abfp_with_24_bits_is_the_exact_dot_product() {
    // 37 inputs in tiles of 8 (the last holds 5 but is normalized by n = 8).
    // With 24-bit operands and ADC every rounding is ≤ 2^-24 of its tile's full
    // scale s_w·s_x·n, and the f32 sums add ≈ n·2^-24 of it: the error is below
    // 1e-6 · Σ_tiles s_w·s_x·n (relative to the layer's full scale).
    let (rows, k, n) = (3, 37, 8);
    let w = Tensor::new(vec![rows, k], data(rows * k, 110, -2.0, 2.0));
    let bias = [0.5, -0.25, 0.0];
    let g = abfp_graph(&w, Some(&bias), with_format(abfp(n as u32, 24, 24, 24, 1.0)));
    for sample in 0..8 {
        let x = data(k, 111 + sample, -3.0, 3.0);
        let y = run(&g, 0, sample, &x);
        let (want, _) = dense_f64(&w.data, &x, Some(&bias));
        let t = abfp_tiles(&w, &x, n, 24, 24);
        let scale: Vec<f64> =
            (0..rows).map(|o| t.s_x.iter().zip(&t.s_w[o]).map(|(sx, sw)| (sx * sw) as f64 * n as f64).sum()).collect();
        assert_close(&format!("abfp 24-bit sample {sample}"), &y, &want, &scale, 1e-6);
    }
}

#[test]
fn abfp_adc_with_enough_bits_recovers_the_quantized_tile_product() {
    // b_w = b_x = 4 (δ = 1/7), n = 16, G = 1: p = S/49 with S = Σ m_w·m_x an
    // integer, |S| ≤ 784, and the ADC sees (G/n)·p = S/784 ∈ [−1, 1].
    // The ADC grid δ_out = 1/(2^(b−1) − 1) is not commensurate with 1/784, so
    // the ADC output is NOT exactly the tile product at any b < 24; what
    // b_w + b_x + log2(n) − 1 = 11 bits guarantee is that the ADC step in
    // product units, n·δ_out = 16/1023 ≈ 0.0156, is below the product step
    // 1/49 ≈ 0.0204: the error |y/(s_w s_x) − S/49| ≤ n·δ_out/2 < 1/98, so
    // rounding y/(s_w s_x)·49 recovers S exactly. At 10 bits, 16/511 ≈ 0.031
    // > 1/49: some products become indistinguishable. (f32 slack: 1e-4.)
    let (rows, n) = (64, 16);
    let w = Tensor::new(vec![rows, n], data(rows * n, 140, -1.0, 1.0));
    let xs: Vec<Vec<f32>> = (0..16).map(|s| data(n, 121 + s, -1.0, 1.0)).collect();
    let mut mean_errors = vec![];
    for adc in [24u32, 16, 12, 11, 10, 8, 6] {
        let g = abfp_graph(&w, None, with_format(abfp(n as u32, 4, 4, adc, 1.0)));
        let half_step = n as f64 / (2.0 * ((1u64 << (adc - 1)) - 1) as f64);
        let (mut max_err, mut sum_err, mut count, mut unrecovered) = (0.0f64, 0.0, 0, 0);
        for (sample, x) in xs.iter().enumerate() {
            let y = run(&g, 0, sample as u32, x);
            let t = abfp_tiles(&w, x, n, 4, 4);
            for o in 0..rows {
                let s = (t.p[o][0] * 49.0).round(); // the integer S
                assert!((t.p[o][0] * 49.0 - s).abs() < 1e-4);
                let unit = t.s_w[o][0] as f64 * t.s_x[0] as f64;
                let err = (y[o] as f64 / unit - s / 49.0).abs();
                max_err = max_err.max(err);
                sum_err += err;
                count += 1;
                if (y[o] as f64 / unit * 49.0).round() != s {
                    unrecovered += 1;
                }
                assert!(err <= half_step + 1e-4, "adc {adc}: error {err} beyond half an ADC step {half_step}");
            }
        }
        let mean_err = sum_err / count as f64;
        eprintln!(
            "abfp 4/4/n=16, adc {adc} bits: max |err| = {max_err:.5} (half ADC step {half_step:.5}), mean {mean_err:.5}, \
             {unrecovered}/{count} products not recoverable"
        );
        if adc >= 11 {
            assert_eq!(unrecovered, 0, "adc {adc}: every tile product must be recoverable");
        } else {
            assert!(unrecovered > 0, "adc {adc}: fewer than 11 bits cannot resolve every product");
        }
        if adc == 24 {
            assert!(max_err <= 1e-5, "adc 24: error {max_err}");
        }
        mean_errors.push(mean_err);
    }
    // The error grows as the ADC loses bits (16 → 6; the 24-bit error is f32 noise).
    for w in mean_errors[1..].windows(2) {
        assert!(w[1] > w[0], "mean ADC error must grow as bits decrease: {mean_errors:?}");
    }
}

#[test]
fn abfp_gain_recovers_low_bits_then_clips() {
    // One tile, n = 16, 24-bit operands (exact here), 8-bit ADC (L = 127):
    // x = [1, 0.7, 0…], w = 1 → s_w = s_x = 1, p = 1.7, ADC input v = (G/16)·1.7,
    // y = (16/G)·round(127·clamp(v, −1, 1))/127:
    //   G = 1:  v = 0.10625, 127v = 13.49  → 13  → y = 16·13/127 = 1.63780
    //   G = 2:  v = 0.2125,  127v = 26.99  → 27  → y = 8·27/127  = 1.70079
    //   G = 4:  v = 0.425,   127v = 53.98  → 54  → y = 4·54/127  = 1.70079
    //   G = 8:  v = 0.85,    127v = 107.95 → 108 → y = 2·108/127 = 1.70079
    //   G = 16: v = 1.7 > 1: clipped → 127 → y = s_w·s_x·n/G = 1
    //   G = 32: v = 3.4 > 1: clipped        → y = 0.5
    // Unclipped: |y − p| ≤ (n/G)·δ_out/2 (halves with each doubling of G).
    // Tolerance 1e-6 (a few f32 roundings); clipped values exact.
    let n = 16;
    let w = Tensor::new(vec![1, n], vec![1.0; n]);
    let mut x = vec![0.0f32; n];
    x[0] = 1.0;
    x[1] = 0.7;
    let expected =
        [(1.0, 16.0 * 13.0 / 127.0), (2.0, 8.0 * 27.0 / 127.0), (4.0, 4.0 * 54.0 / 127.0), (8.0, 2.0 * 108.0 / 127.0)];
    for (gain, want) in expected {
        let y = run(&abfp_graph(&w, None, with_format(abfp(16, 24, 24, 8, gain))), 0, 0, &x)[0] as f64;
        assert!((y - want).abs() <= 1e-6, "G = {gain}: {y} vs {want}");
        assert!((y - 1.7).abs() <= 16.0 / gain / 2.0 / 127.0 + 1e-6, "G = {gain}: beyond half an ADC step");
    }
    let mut previous = f32::INFINITY;
    for gain in [16.0, 32.0, 64.0] {
        let y = run(&abfp_graph(&w, None, with_format(abfp(16, 24, 24, 8, gain))), 0, 0, &x)[0];
        assert_eq!(y, (16.0 / gain) as f32, "G = {gain}: clipped at s_w·s_x·n/G");
        assert!(y < previous, "clipped output shrinks as 1/G");
        previous = y;
    }
}

#[test]
fn abfp_tiles_have_their_own_scales_and_the_configured_n() {
    // (a) Tiles of very different magnitudes (×1, ×0.01, ×100) and a short last
    // tile (k = 10, n = 4: tiles of 4, 4, 2), 6-bit operands, 24-bit ADC, G = 1.5:
    // y = Σ_t s_w,t·s_x,t·n/G·Q_adc((G/n)·p_t) + b with per-tile s_x, s_w, computed
    // here tile by tile with quant::q_bits. With one scale for the whole input the
    // ×0.01 tile would quantize to almost nothing. The 24-bit ADC rounding and the
    // f32 sums give at most 1e-6 of Σ_t s_w,t·s_x,t·n/G.
    let (rows, k, n, gain) = (3, 10, 4, 1.5);
    let mut w = data(rows * k, 300, -1.0, 1.0);
    for row in w.chunks_mut(k) {
        row[8] *= 50.0; // the last tile's weights are large
    }
    let w = Tensor::new(vec![rows, k], w);
    let bias = [0.0, 1.0, -1.0];
    let g = abfp_graph(&w, Some(&bias), with_format(abfp(n as u32, 6, 6, 24, gain)));
    for sample in 0..4 {
        let mut x = data(k, 301 + sample, -1.0, 1.0);
        x[4..8].iter_mut().for_each(|v| *v *= 0.01);
        x[8..].iter_mut().for_each(|v| *v *= 100.0);
        let y = run(&g, 0, sample, &x);
        let t = abfp_tiles(&w, &x, n, 6, 6);
        for o in 0..rows {
            let (mut want, mut scale) = (bias[o] as f64, 0.0);
            for tile in 0..3 {
                let unit = (t.s_w[o][tile] * t.s_x[tile]) as f64 * n as f64 / gain;
                want += unit * quant::q_bits((gain / n as f64 * t.p[o][tile]) as f32, 24) as f64;
                scale += unit;
            }
            assert!((y[o] as f64 - want).abs() <= 1e-6 * scale, "sample {sample} row {o}: {} vs {want}", y[o]);
        }
    }
    // (b) n is the configured block even for the short last tile: k = 10, n = 8,
    // x = w = 1, G = 2, 24-bit operands and ADC:
    //   tile 0 (8 elements): p = 8, (G/n)·p = 2 → clipped: 8/2·1 = 4
    //   tile 1 (2 elements): p = 2, (G/n)·p = 0.5 → 8/2·0.5 = 2
    // y = 6 (normalizing the short tile by its length, 2, would clip it to 1: y = 5).
    let w = Tensor::new(vec![1, 10], vec![1.0; 10]);
    let y = run(&abfp_graph(&w, None, with_format(abfp(8, 24, 24, 24, 2.0))), 0, 0, &[1.0; 10]);
    assert!((y[0] - 6.0).abs() <= 1e-5, "short last tile: {} vs 6", y[0]);
    // (c) A tile with s_x = 0 contributes 0 (no 0/0): x = [0.5, 0.25, 0, 0, 0, 0],
    // n = 2 → only tile 0 counts: y = 0.5·0.5 + 1·0.25 = 0.5 (to 1e-6); and an
    // all-zero input gives exactly the bias, even with ADC noise (σ = 5 lsb).
    let w = Tensor::new(vec![1, 6], vec![0.5, 1.0, 2.0, -3.0, 0.75, 1.0]);
    let y = run(&abfp_graph(&w, None, with_format(abfp(2, 24, 24, 24, 1.0))), 0, 0, &[0.5, 0.25, 0.0, 0.0, 0.0, 0.0]);
    assert!((y[0] - 0.5).abs() <= 1e-6, "zero tiles: {}", y[0]);
    let format = Format::Abfp {
        block: 2,
        input_bits: 8,
        weight_bits: 8,
        adc_bits: 8,
        gain: 1.0,
        adc_noise: 5.0,
        adc_noise_kind: NoiseShape::Gaussian,
    };
    let y = run(&abfp_graph(&w, Some(&[0.25]), with_format(format)), 0, 0, &[0.0; 6]);
    assert_eq!(y, vec![0.25], "all tiles zero");
}

#[test]
fn abfp_rounds_ties_to_even() {
    // §6.3 and §8: round is half to even. b = 2: δ = 1, Q_2(a) = round(a) ∈ {−1, 0, 1}.
    // n = 4, G = 1, 24-bit ADC. Inputs x = [1, 0.5, 0.5, −0.5], w = 1 (24 bits):
    // Q(x/s_x) = [1, 0, 0, −0] (the ties go to 0) → p = 1, y = s_w·s_x·n/G·Q_adc(p/4) = 1.
    // (Half away from zero would give Q = [1, 1, 1, −1], y = 2.)
    let w = Tensor::new(vec![1, 4], vec![1.0; 4]);
    let y = run(&abfp_graph(&w, None, with_format(abfp(4, 2, 24, 24, 1.0))), 0, 0, &[1.0, 0.5, 0.5, -0.5]);
    assert!((y[0] - 1.0).abs() < 1e-5, "inputs: got {}, expected 1", y[0]);
    // Weights: w = [1, 0.5, −0.5, 0.5] with b_w = 2 → Q = [1, 0, −0, 0]; x = 1 → p = 1, y = 1.
    let w = Tensor::new(vec![1, 4], vec![1.0, 0.5, -0.5, 0.5]);
    let y = run(&abfp_graph(&w, None, with_format(abfp(4, 24, 2, 24, 1.0))), 0, 0, &[1.0; 4]);
    assert!((y[0] - 1.0).abs() < 1e-5, "weights: got {}, expected 1", y[0]);
}

/// Collects, over `samples` inferences of an ABFP layer with one tile per row
/// (k = n), the ADC noise in ADC steps: `(y − y₀)/(s_w·s_x·n/G·δ_out)` where y₀
/// is the same layer without noise. Asserts no ADC input comes near clipping.
fn abfp_noise_in_lsb(noisy: &NodeHardware, n: usize, rows: usize, samples: u32, adc: u32, gain: f64) -> Vec<f64> {
    let w = Tensor::new(vec![rows, n], data(rows * n, 140, -1.0, 1.0));
    let clean = abfp_graph(&w, None, with_format(abfp(n as u32, 8, 8, adc, gain)));
    let g = abfp_graph(&w, None, noisy.clone());
    let x = |s: u32| data(n, 141 + s, -1.0, 1.0);
    let ys = run_samples(&g, 0, 0..samples, x);
    let y0 = run_samples(&clean, 0, 0..samples, x);
    let delta = 1.0 / ((1u64 << (adc - 1)) - 1) as f64;
    let mut d = vec![];
    for s in 0..samples as usize {
        let t = abfp_tiles(&w, &x(s as u32), n, 8, 8);
        for o in 0..rows {
            assert!((gain / n as f64 * t.p[o][0]).abs() < 0.9, "ADC input too close to clipping");
            let unit = (t.s_w[o][0] * t.s_x[0]) as f64 * n as f64 / gain * delta;
            d.push((ys[s][o] as f64 - y0[s][o] as f64) / unit);
        }
    }
    d
}

#[test]
fn abfp_adc_noise_has_the_documented_standard_deviation() {
    // adc_noise = σ lsb: ν = σ·δ_out·ε inside Q_bout, so the output moves by
    // σ·δ_out·s_w·s_x·n/G per tile. Measured in ADC steps over 256 rows × 256
    // samples = 65,536 conversions, with a 16-bit ADC and σ = 50 steps: the ADC
    // rounding adds ≈ 1/6 step² (two roundings), 7e-5 relative, negligible.
    // Gaussian: variance within 5·σ²·√(2/N) (±2.8 %); uniform on [−√3σ, √3σ]:
    // same variance, tolerance from its fourth moment, and |noise| ≤ √3·σ + 1.
    let (n, rows, samples, adc, gain, s) = (16, 256, 256, 16, 2.0, 50.0);
    for kind in [NoiseShape::Gaussian, NoiseShape::Uniform] {
        let Format::Abfp { block, input_bits, weight_bits, adc_bits, gain, .. } = abfp(n as u32, 8, 8, adc, gain)
        else {
            unreachable!()
        };
        let format =
            Format::Abfp { block, input_bits, weight_bits, adc_bits, gain, adc_noise: s, adc_noise_kind: kind };
        let d = abfp_noise_in_lsb(&with_format(format), n, rows, samples, adc, gain);
        check_mean(&format!("abfp adc_noise {kind:?} (lsb)"), &d, 0.0, s);
        match kind {
            NoiseShape::Gaussian => check_var_gaussian("abfp adc_noise Gaussian (lsb)", &d, s * s),
            NoiseShape::Uniform => {
                check_var("abfp adc_noise Uniform (lsb)", &d, s * s);
                let max = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                eprintln!(
                    "abfp adc_noise Uniform: max |ν| = {max:.2} steps (bound √3·σ + 1 = {:.2})",
                    3f64.sqrt() * s + 1.0
                );
                // + 0.01: f32 rounding of y (≈ 30,000 steps · 2^-23).
                assert!(max <= 3f64.sqrt() * s + 1.01, "uniform ADC noise beyond √3·σ");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 7. int8
// ---------------------------------------------------------------------------

fn int8_graph(w: &Tensor, bias: &[f32], format: Format, multiplier: Multiplier) -> Graph {
    let mut b = Builder::default();
    let i = b.input(&[w.shape[1]]);
    let y = b.dense(i, w, Some(bias), NodeHardware { format, multiplier, ..NodeHardware::default() });
    b.finish(&[y])
}

/// Weights whose rows have very different ranges (per-channel scales matter).
fn int8_weights(rows: usize, k: usize, salt: u32) -> Tensor {
    let mut w = data(rows * k, salt, -1.0, 1.0);
    for (r, row) in w.chunks_mut(k).enumerate() {
        row.iter_mut().for_each(|v| *v *= 0.25 + r as f32);
    }
    Tensor::new(vec![rows, k], w)
}

/// `y_o = scale_o·Σ_j terms(o, j) + b_o` computed in f64, with the tolerance
/// scale `|scale_o·Σ| + |b_o|`; exact integer sums (§6.3).
fn dequantize(
    rows: usize,
    k: usize,
    scale: impl Fn(usize) -> f64,
    term: impl Fn(usize, usize) -> i64,
    bias: &[f32],
) -> (Vec<f64>, Vec<f64>) {
    (0..rows)
        .map(|o| {
            let acc: i64 = (0..k).map(|j| term(o, j)).sum();
            let y = scale(o) * acc as f64;
            (y + bias[o] as f64, y.abs() + (bias[o] as f64).abs() + 1e-30)
        })
        .unzip()
}

#[test]
fn int8_signed_exact_and_table_equal_hand_arithmetic() {
    // s_x = max(|lo|, |hi|)/127 (input_range [−1.5, 2]), x_q = clamp(round(x/s_x), ±127)
    // (inputs reach ±2.5: some clamp), s_w = max|w|/127 per channel or tensor,
    // y = s_x·s_w·Σ x_q·w_q + b. The i32 sum is exact; the interpreter rounds
    // once or twice in f32 when dequantizing: tolerance 4·2^-23 relative.
    let (rows, k) = (6, 20);
    let w = int8_weights(rows, k, 140);
    let bias = data(rows, 141, -0.5, 0.5);
    let table = Multiplier::Table { path: example("mul8s_exact.npy"), layout: TableLayout::TorchApprox, signed: true };
    for ws in [WeightScale::PerChannel, WeightScale::PerTensor] {
        let format = int8(true, ws, -1.5, 2.0);
        let exact = int8_graph(&w, &bias, format.clone(), Multiplier::Exact);
        let tabled = int8_graph(&w, &bias, format, table.clone());
        let s_x = quant::symmetric_scale(2.0);
        let s_w: Vec<f32> = match ws {
            WeightScale::PerChannel => {
                w.data.chunks(k).map(|r| quant::symmetric_scale(r.iter().fold(0.0f32, |m, v| m.max(v.abs())))).collect()
            }
            WeightScale::PerTensor => {
                vec![quant::symmetric_scale(w.data.iter().fold(0.0f32, |m, v| m.max(v.abs()))); rows]
            }
        };
        for sample in 0..8 {
            let x = data(k, 142 + sample, -2.5, 2.5);
            let a = run(&exact, 0, sample, &x);
            let b = run(&tabled, 0, sample, &x);
            assert_eq!(bits(&a), bits(&b), "{ws:?}: exact multiplier and exact table must be bit-identical");
            let (want, scale) = dequantize(
                rows,
                k,
                |o| s_x as f64 * s_w[o] as f64,
                |o, j| {
                    let xq = quant::symmetric_code(x[j], s_x);
                    let wq = quant::symmetric_code(w.data[o * k + j], s_w[o]);
                    assert!(xq.abs() <= 127 && wq.abs() <= 127);
                    (xq * wq) as i64
                },
                &bias,
            );
            assert_close(&format!("int8 signed {ws:?} sample {sample}"), &a, &want, &scale, 4.0 * f32::EPSILON as f64);
        }
    }
}

/// §6.3 asymmetric parameters, literally: `s = (hi − lo)/255`, `z = round(−lo/s)`.
fn asymmetric(lo: f32, hi: f32) -> (f32, i64) {
    let s = (hi - lo) / 255.0;
    (s, (-lo / s).round() as i64)
}

fn asymmetric_code(v: f32, s: f32, z: i64) -> i64 {
    ((v / s).round() as i64 + z).clamp(0, 255)
}

/// The unsigned int8 layer of §6.3 by hand: `s_x·s_w·Σ (M(x_q, w_q) − z_w·x_q − z_x·w_q + z_x·z_w) + b`
/// with per-channel weight parameters from each row's min and max.
fn int8_unsigned_by_hand(w: &Tensor, x: &[f32], bias: &[f32], lo: f32, hi: f32) -> (Vec<f64>, Vec<f64>) {
    let k = x.len();
    let (s_x, z_x) = asymmetric(lo, hi);
    let params: Vec<(f32, i64)> = w
        .data
        .chunks(k)
        .map(|r| {
            asymmetric(
                r.iter().fold(f32::INFINITY, |m, v| m.min(*v)),
                r.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)),
            )
        })
        .collect();
    dequantize(
        w.shape[0],
        k,
        |o| s_x as f64 * params[o].0 as f64,
        |o, j| {
            let (s_w, z_w) = params[o];
            let xq = asymmetric_code(x[j], s_x, z_x);
            let wq = asymmetric_code(w.data[o * k + j], s_w, z_w);
            xq * wq - z_w * xq - z_x * wq + z_x * z_w
        },
        bias,
    )
}

#[test]
fn int8_unsigned_tfapprox_table_equals_zero_point_formula() {
    // input_range [−0.5, 1.5]: s_x = 2/255, z_x = round(63.75) = 64; inputs in
    // (−0.8, 1.8) so some clamp at 0 and 255. Weights per channel from each row's
    // min and max (every row spans 0). No ties occur in these data. Tolerance as
    // for signed int8: 4·2^-23 of |y − b| + |b|.
    let (rows, k) = (5, 24);
    let w = int8_weights(rows, k, 150);
    let bias = data(rows, 151, -0.5, 0.5);
    let format = int8(false, WeightScale::PerChannel, -0.5, 1.5);
    let table = Multiplier::Table { path: example("mul8u_exact.bin"), layout: TableLayout::TfApprox, signed: false };
    let exact = int8_graph(&w, &bias, format.clone(), Multiplier::Exact);
    let tabled = int8_graph(&w, &bias, format, table);
    assert_eq!(asymmetric(-0.5, 1.5).1, 64);
    for sample in 0..8 {
        let x = data(k, 152 + sample, -0.8, 1.8);
        let a = run(&exact, 0, sample, &x);
        let b = run(&tabled, 0, sample, &x);
        assert_eq!(bits(&a), bits(&b), "exact multiplier and exact TFApprox table must be bit-identical");
        let (want, scale) = int8_unsigned_by_hand(&w, &x, &bias, -0.5, 1.5);
        assert_close(&format!("int8 unsigned sample {sample}"), &a, &want, &scale, 4.0 * f32::EPSILON as f64);
    }
}

#[test]
fn int8_table_first_operand_is_the_input() {
    // §6.3: "first operand the input, second the weight". A TFApprox table that is
    // not symmetric, M(a, b) = a·b + a (served from memory through the
    // interpreter's reader), makes the order visible: the hand formula uses
    // M(x_q, w_q); M(w_q, x_q) would differ by Σ (w_q − x_q)·s_x·s_w.
    let bytes: Vec<u8> = (0..65536u32).flat_map(|i| (((i >> 8) * (i & 255) + (i >> 8)) as u16).to_le_bytes()).collect();
    let (rows, k) = (4, 12);
    let w = int8_weights(rows, k, 155);
    let bias = [0.0; 4];
    let path = PathBuf::from("in-memory/asymmetric.bin");
    let table = Multiplier::Table { path: path.clone(), layout: TableLayout::TfApprox, signed: false };
    let g = int8_graph(&w, &bias, int8(false, WeightScale::PerChannel, -0.5, 1.5), table);
    let it = Interpreter::new(&g, |p| {
        assert_eq!(p, path.as_path());
        Ok(bytes.clone())
    })
    .expect("interpreter");
    let t = it.trial(SEED, 0);
    let (s_x, z_x) = asymmetric(-0.5, 1.5);
    for sample in 0..4 {
        let x = data(k, 156 + sample, -0.5, 1.5);
        let y = it.run(&t, sample, &[&x]).remove(0);
        // The exact layer plus s_x·s_w·Σ x_q (the table's extra term).
        let (exact, scale) = int8_unsigned_by_hand(&w, &x, &bias, -0.5, 1.5);
        for o in 0..rows {
            let row = &w.data[o * k..(o + 1) * k];
            let lo = row.iter().fold(f32::INFINITY, |m, v| m.min(*v));
            let hi = row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
            let (s_w, _) = asymmetric(lo, hi);
            let extra: i64 = x.iter().map(|v| asymmetric_code(*v, s_x, z_x)).sum();
            let want = exact[o] + s_x as f64 * s_w as f64 * extra as f64;
            let tol = 4.0 * f32::EPSILON as f64 * (scale[o] + (s_x * s_w) as f64 * extra as f64);
            assert!((y[o] as f64 - want).abs() <= tol, "sample {sample} row {o}: {} vs {want}", y[o]);
        }
    }
}

#[test]
fn int8_unsigned_range_is_widened_to_contain_zero() {
    // §6.3: an unsigned range is first widened to contain 0 ([0.5, 2] → [0, 2]),
    // so that 0 is exactly representable; then s_x = (hi − lo)/255, z_x = round(−lo/s_x).
    let (rows, k) = (3, 16);
    let w = int8_weights(rows, k, 160);
    let bias = [0.0; 3];
    let g = int8_graph(&w, &bias, int8(false, WeightScale::PerChannel, 0.5, 2.0), Multiplier::Exact);
    let widened = int8_graph(&w, &bias, int8(false, WeightScale::PerChannel, 0.0, 2.0), Multiplier::Exact);
    let x = data(k, 161, 0.5, 2.0);
    let y = run(&g, 0, 0, &x);
    assert_eq!(y, run(&widened, 0, 0, &x), "[0.5, 2] must quantize as [0, 2]");
    let (want, scale) = int8_unsigned_by_hand(&w, &x, &bias, 0.0, 2.0);
    assert_close("int8 unsigned, range widened to 0", &y, &want, &scale, 4.0 * f32::EPSILON as f64);
}

#[test]
fn int8_closed_form_multiplier_goes_through_every_product() {
    // multiplier drum(4): y = s_x·s_w·Σ M(x_q, w_q) + b with M = multiplier::product(Drum{k: 4}, ·, ·, signed).
    let (rows, k) = (6, 20);
    let w = int8_weights(rows, k, 170);
    let bias = data(rows, 171, -0.5, 0.5);
    let g = int8_graph(&w, &bias, int8(true, WeightScale::PerChannel, -1.0, 1.0), Multiplier::Drum { k: 4 });
    let exact = int8_graph(&w, &bias, int8(true, WeightScale::PerChannel, -1.0, 1.0), Multiplier::Exact);
    let s_x = quant::symmetric_scale(1.0);
    let s_w: Vec<f32> =
        w.data.chunks(k).map(|r| quant::symmetric_scale(r.iter().fold(0.0f32, |m, v| m.max(v.abs())))).collect();
    let mut differs = 0;
    for sample in 0..8 {
        let x = data(k, 172 + sample, -1.0, 1.0);
        let y = run(&g, 0, sample, &x);
        let (want, scale) = dequantize(
            rows,
            k,
            |o| s_x as f64 * s_w[o] as f64,
            |o, j| {
                let xq = quant::symmetric_code(x[j], s_x);
                let wq = quant::symmetric_code(w.data[o * k + j], s_w[o]);
                multiplier::product(Design::Drum { k: 4 }, xq, wq, true) as i64
            },
            &bias,
        );
        assert_close(&format!("int8 drum(4) sample {sample}"), &y, &want, &scale, 4.0 * f32::EPSILON as f64);
        differs += y.iter().zip(run(&exact, 0, sample, &x)).filter(|(a, b)| **a != *b).count();
    }
    assert!(differs > 0, "drum(4) must differ from the exact multiplier somewhere");
}

// ---------------------------------------------------------------------------
// 8. analog_int (BrainScaleS-2)
// ---------------------------------------------------------------------------

#[test]
fn analog_int_by_hand() {
    // block = 2, unsigned 5-bit inputs (0…31), 6-bit weights (±31), 8-bit ADC
    // [−128, 127], gain 0.5, input_scale 1/31. Weights w = c/31 with max |w| = 1,
    // so s_w = 1/31 and w_q = c. Inputs x = [2, 1, 10/31, 20/31, 5/31, 1/31, −0.2]
    // → x_q = [31 (clamped from 62), 31, 10, 20, 5, 1, 0 (clamped from −6.2)].
    // Blocks {0,1}, {2,3}, {4,5}, {6} (the last one short).
    //
    // row 0, w_q = [31, 31, −20, −25, 12, −31, 9]:
    //   b0: 961 + 961 = 1922    → floor(961)   = 961  → 127 (ADC saturates high)
    //   b1: −200 − 500 = −700   → floor(−350)         → −128 (saturates low)
    //   b2: 60 − 31 = 29        → floor(14.5)  = 14
    //   b3: 0                   → 0
    //   y_int = 127 − 128 + 14 = 13
    // row 1, w_q = [1, −2, 3, 0, −1, 5, 31]:
    //   b0: 31 − 62 = −31 → floor(−15.5) = −16;  b1: 30 → 15;  b2: −5 + 5 = 0;  b3: 0
    //   y_int = −1
    // row 2, w_q = [31, 31, 31, 31, 31, 31, −31]:
    //   b0: 1922 → 127;  b1: 930 → 465 → 127;  b2: 155 + 31 = 186 → 93;  b3: 0
    //   y_int = clamp(347) = 127 (the sum saturates too)
    // row 3, w_q = [−31, −31, −31, −31, 0, 0, 0]:
    //   b0: −1922 → −128;  b1: −930 → −465 → −128;  b2, b3: 0
    //   y_int = clamp(−256) = −128
    // y = y_int·input_scale·s_w/gain + b, in the interpreter's f32 order: compared exactly.
    let codes: [[i32; 7]; 4] = [
        [31, 31, -20, -25, 12, -31, 9],
        [1, -2, 3, 0, -1, 5, 31],
        [31, 31, 31, 31, 31, 31, -31],
        [-31, -31, -31, -31, 0, 0, 0],
    ];
    let w = Tensor::new(vec![4, 7], codes.iter().flatten().map(|c| *c as f32 / 31.0).collect());
    let bias = [0.25, 0.0, -0.5, 0.0];
    let format = Format::AnalogInt {
        block: 2,
        input_bits: 5,
        input_signed: false,
        weight_bits: 6,
        adc_bits: 8,
        gain: 0.5,
        input_scale: 1.0 / 31.0,
        adc_noise: 0.0,
    };
    let g = abfp_graph(&w, Some(&bias), with_format(format));
    let x = [2.0, 1.0, 10.0 / 31.0, 20.0 / 31.0, 5.0 / 31.0, 1.0 / 31.0, -0.2];
    let y = run(&g, 0, 0, &x);
    let (s_in, s_w, gain) = ((1.0f64 / 31.0) as f32, 1.0f32 / 31.0, 0.5f32);
    let y_int = [13.0f32, -1.0, 127.0, -128.0];
    let want: Vec<f32> = y_int.iter().zip(&bias).map(|(yi, b)| yi * s_in * s_w / gain + b).collect();
    assert_eq!(y, want);
}

// ---------------------------------------------------------------------------
// 9. Units: fs and lsb
// ---------------------------------------------------------------------------

#[test]
fn fs_additive_noise_on_dense_scales_with_the_sample_full_scale() {
    // σ = 0.05 fs: std σ·max_j|x_j|·max_ij|w_ij|, with the input of each sample
    // (scaled by 1…4 so that a fixed reference would be caught). Normalized by
    // it, the noise is N(0, 1): 256 rows × 256 samples = 65,536 values, mean
    // within ±0.0195, variance within ±0.0276. Per element it is also exactly
    // σ·fs·gaussian(seed, trial, sample, site, o) up to the f32 rounding of the two
    // outputs (≈ 2^-23·|y|; allowed: 1e-4·(σ·fs + |y|), in units of σ·fs).
    let (rows, k, s) = (256, 8, 0.05);
    let w = Tensor::new(vec![rows, k], data(rows * k, 180, -1.0, 1.0));
    let max_w = w.data.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    let bias = data(rows, 181, -0.1, 0.1);
    let mut b = Builder::default();
    let i = b.input(&[k]);
    let clean = b.dense(i, &w, Some(&bias), NodeHardware::default());
    let noisy_fs =
        b.dense(i, &w, Some(&bias), noisy(12, NoiseKind::Additive { sigma: sigma(s, SigmaUnit::FullScale) }));
    let g = b.finish(&[clean, noisy_fs]);
    let it = interp(&g);
    let t = it.trial(SEED, 0);
    let mut d = vec![];
    for sample in 0..256u32 {
        let x: Vec<f32> = data(k, 182 + sample, -1.0, 1.0).iter().map(|v| v * (1 + sample % 4) as f32).collect();
        let fs = x.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64 * max_w;
        let ys = it.run(&t, sample, &[&x]);
        for o in 0..rows {
            let noise = (ys[1][o] as f64 - ys[0][o] as f64) / (s * fs);
            let eps = rng::gaussian(SEED, 0, sample, 12, o as u32) as f64;
            assert!((noise - eps).abs() <= 1e-4 * (1.0 + ys[0][o].abs() as f64 / (s * fs)), "sample {sample} row {o}");
            d.push(noise);
        }
    }
    check_mean("fs additive / (σ·max|x|·max|W|)", &d, 0.0, 1.0);
    check_var_gaussian("fs additive / (σ·max|x|·max|W|)", &d, 1.0);
}

#[test]
fn lsb_noise_on_abfp_is_added_at_the_adc() {
    // A user `noise additive(σ lsb)` on an ABFP layer is ADC noise in steps of
    // the ADC: the same statistics as adc_noise (σ = 50 steps, 16-bit ADC,
    // 65,536 conversions, variance within ±2.8 %) …
    let (n, rows, samples, s) = (16, 256, 256u32, 50.0);
    let lsb = |v| NoiseKind::Additive { sigma: sigma(v, SigmaUnit::Lsb) };
    let hw = NodeHardware { noise: Some(site(13, lsb(s), Draw::Dynamic, 1)), ..with_format(abfp(16, 8, 8, 16, 2.0)) };
    let d = abfp_noise_in_lsb(&hw, n, rows, samples, 16, 2.0);
    check_mean("abfp lsb noise (steps)", &d, 0.0, s);
    check_var_gaussian("abfp lsb noise (steps)", &d, s * s);
    // … and added before the ADC rounds: with a 6-bit ADC (L = 31), σ = 2
    // steps, every tile output is on the ADC grid, y·G/(s_w·s_x·n)·L an integer
    // (to 1e-3, f32 slack), yet differs from the noise-free output.
    let w = Tensor::new(vec![rows, n], data(rows * n, 140, -1.0, 1.0));
    let hw = NodeHardware { noise: Some(site(13, lsb(2.0), Draw::Dynamic, 1)), ..with_format(abfp(16, 8, 8, 6, 2.0)) };
    let g = abfp_graph(&w, None, hw);
    let clean = abfp_graph(&w, None, with_format(abfp(16, 8, 8, 6, 2.0)));
    let mut moved = 0;
    for sample in 0..8 {
        let x = data(n, 191 + sample, -1.0, 1.0);
        let y = run(&g, 0, sample, &x);
        let y0 = run(&clean, 0, sample, &x);
        let t = abfp_tiles(&w, &x, n, 8, 8);
        for o in 0..rows {
            let code = y[o] as f64 * 2.0 / ((t.s_w[o][0] * t.s_x[0]) as f64 * n as f64) * 31.0;
            assert!((code - code.round()).abs() < 1e-3, "sample {sample} row {o}: {code} is off the ADC grid");
            moved += (y[o] != y0[o]) as usize;
        }
    }
    eprintln!("abfp lsb noise σ = 2 steps, 6-bit ADC: {moved}/{} outputs moved, all on the grid", 8 * rows);
    assert!(moved > rows, "the noise must move most outputs");
}

// ---------------------------------------------------------------------------
// 10. Determinism
// ---------------------------------------------------------------------------

/// Every kind of draw at once: dynamic input noise, dynamic weight noise, a
/// random accumulation order, multiplicative output noise, an ABFP layer with
/// Gaussian ADC noise, lsb noise and repeat = 3, static noise on a relu.
fn everything_graph() -> Graph {
    let mut b = Builder::default();
    let x = b.input_hw(&[16], noisy(0, additive(0.1)));
    let hw = NodeHardware {
        noise: Some(site(1, multiplicative(0.05), Draw::Dynamic, 1)),
        weight_noise: Some(site(2, additive(0.02), Draw::Dynamic, 1)),
        accumulate: Accumulate::Ordered { order: Order::Random, lo: -2.0, hi: 2.0, leak: 0.9 },
        ..NodeHardware::default()
    };
    let h = b.dense(x, &Tensor::new(vec![12, 16], data(192, 200, -1.0, 1.0)), Some(&data(12, 201, -0.1, 0.1)), hw);
    let r = b.unary(
        Op::Relu,
        h,
        NodeHardware { noise: Some(site(3, additive(0.1), Draw::Static, 1)), ..NodeHardware::default() },
    );
    let format = Format::Abfp {
        block: 4,
        input_bits: 8,
        weight_bits: 8,
        adc_bits: 8,
        gain: 2.0,
        adc_noise: 0.5,
        adc_noise_kind: NoiseShape::Gaussian,
    };
    let lsb = NoiseKind::Additive { sigma: sigma(1.0, SigmaUnit::Lsb) };
    let hw = NodeHardware { noise: Some(site(4, lsb, Draw::Dynamic, 3)), format, ..NodeHardware::default() };
    let y = b.dense(r, &Tensor::new(vec![5, 12], data(60, 202, -1.0, 1.0)), Some(&data(5, 203, -0.1, 0.1)), hw);
    b.finish(&[y, h])
}

#[test]
fn results_depend_only_on_seed_trial_and_sample() {
    let g = everything_graph();
    let x = |s: u32| data(16, 210 + s % 5, -1.0, 1.0);
    let it = interp(&g);
    let t = it.trial(SEED, 1);
    let forward: Vec<Vec<Vec<f32>>> = (0..64).map(|s| it.run(&t, s, &[&x(s)])).collect();
    // The same inference twice, in a fresh interpreter and chip.
    let it2 = interp(&g);
    let t2 = it2.trial(SEED, 1);
    for s in [0u32, 17, 63] {
        assert_eq!(it2.run(&t2, s, &[&x(s)]), forward[s as usize], "sample {s} rerun");
        let again: Vec<u32> = it2.run(&t2, s, &[&x(s)]).iter().flat_map(|v| bits(v)).collect();
        let first: Vec<u32> = forward[s as usize].iter().flat_map(|v| bits(v)).collect();
        assert_eq!(again, first, "sample {s}: same bits twice");
    }
    // In reverse order, and on its own, each sample gives the same bits.
    for s in (0..64u32).rev() {
        let y = it2.run(&t2, s, &[&x(s)]);
        for (a, b) in y.iter().zip(&forward[s as usize]) {
            assert_eq!(bits(a), bits(b), "sample {s} in reverse order");
        }
    }
    let alone = run_all(&g, 1, 42, &x(42));
    for (a, b) in alone.iter().zip(&forward[42]) {
        assert_eq!(bits(a), bits(b), "sample 42 alone");
    }
    // And the draws are really there: samples with the same input differ, and
    // another chip or seed gives other results.
    assert_ne!(forward[0], forward[5], "samples 0 and 5 share their input but not their draws");
    assert_ne!(run_all(&g, 2, 0, &x(0)), forward[0], "another chip");
    let t3 = it2.trial(SEED + 1, 1);
    assert_ne!(it2.run(&t3, 0, &[&x(0)]), forward[0], "another seed");
}

// ---------------------------------------------------------------------------
// 11. Plain ops
// ---------------------------------------------------------------------------

/// `x[c, i, j]` of a `[c, h, w]` tensor, `pad` outside.
fn at(x: &[f32], shape: [usize; 3], c: usize, i: isize, j: isize, pad: f64) -> f64 {
    if i < 0 || j < 0 || i >= shape[1] as isize || j >= shape[2] as isize {
        pad
    } else {
        x[(c * shape[1] + i as usize) * shape[2] + j as usize] as f64
    }
}

/// §3.2 conv2d, literally: `y[o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v]·x[g(o)·c_g + c, s·i+u−p, s·j+v−p]`.
/// Returns the output, its shape and the tolerance scale `Σ|terms| + |b|`.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f32],
    shape: [usize; 3],
    w: &[f32],
    out: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding2d,
    groups: usize,
    bias: Option<&[f32]>,
) -> (Vec<f64>, [usize; 3], Vec<f64>) {
    let cg = shape[0] / groups;
    let oh = (shape[1] + padding[0][0] + padding[0][1] - kernel[0]) / stride[0] + 1;
    let ow = (shape[2] + padding[1][0] + padding[1][1] - kernel[1]) / stride[1] + 1;
    let (mut y, mut scale) = (vec![], vec![]);
    for o in 0..out {
        let g = o / (out / groups);
        for i in 0..oh {
            for j in 0..ow {
                let b = bias.map_or(0.0, |b| b[o] as f64);
                let (mut acc, mut mag) = (b, b.abs());
                for c in 0..cg {
                    for u in 0..kernel[0] {
                        for v in 0..kernel[1] {
                            let wv = w[((o * cg + c) * kernel[0] + u) * kernel[1] + v] as f64;
                            let r = (stride[0] * i + u) as isize - padding[0][0] as isize;
                            let s = (stride[1] * j + v) as isize - padding[1][0] as isize;
                            let term = wv * at(x, shape, g * cg + c, r, s, 0.0);
                            acc += term;
                            mag += term.abs();
                        }
                    }
                }
                y.push(acc);
                scale.push(mag + 1e-30);
            }
        }
    }
    (y, [out, oh, ow], scale)
}

#[test]
fn conv2d_matches_the_naive_formula() {
    // Non-square kernels, strides and paddings per axis (and per side), grouped and depthwise.
    // Tolerance 1e-5·(Σ|terms| + |b|) (f32 sums of ≤ 12 products).
    let configs: [([usize; 3], usize, [usize; 2], [usize; 2], Padding2d, usize); 5] = [
        ([4, 5, 6], 6, [3, 2], [2, 1], symmetric([1, 2]), 2),
        ([3, 7, 5], 4, [3, 3], [1, 1], symmetric([1, 1]), 1),
        ([4, 6, 6], 4, [2, 3], [2, 3], symmetric([0, 1]), 4),
        ([2, 4, 4], 2, [4, 4], [1, 1], symmetric([0, 0]), 1),
        ([2, 5, 6], 3, [2, 3], [1, 2], [[0, 1], [2, 1]], 1),
    ];
    for (n, (shape, out, kernel, stride, padding, groups)) in configs.into_iter().enumerate() {
        let cg = shape[0] / groups;
        let wlen = out * cg * kernel[0] * kernel[1];
        let w = data(wlen, 220 + n as u32, -1.0, 1.0);
        let bias = data(out, 230 + n as u32, -0.5, 0.5);
        let x = data(shape.iter().product(), 240 + n as u32, -2.0, 2.0);
        let (want, oshape, scale) = naive_conv(&x, shape, &w, out, kernel, stride, padding, groups, Some(&bias));
        let mut b = Builder::default();
        let i = b.input(&shape);
        let params =
            vec![param("weight", &[out, cg, kernel[0], kernel[1]], w.clone()), param("bias", &[out], bias.clone())];
        let op = Op::Conv2d { out, kernel, stride, padding, groups };
        let y = b.op(op, &[i], &oshape, params, NodeHardware::default());
        let g = b.finish(&[y]);
        let got = run(&g, 0, 0, &x);
        assert_close(&format!("conv2d config {n} {oshape:?}"), &got, &want, &scale, 1e-5);
    }
}

#[test]
fn pools_match_the_naive_formula_with_padding() {
    // maxpool pads with −∞ (all inputs negative, so a zero pad would win);
    // avgpool counts the zero padding and divides by kh·kw. Tolerance 1e-6·max|x|.
    let shape = [2, 4, 5];
    let x = data(40, 250, -3.0, -0.5);
    for (kernel, stride, padding) in [
        ([3, 3], [2, 2], symmetric([1, 1])),
        ([2, 3], [1, 2], symmetric([1, 1])),
        ([2, 2], [2, 2], symmetric([0, 1])),
        ([3, 2], [2, 1], [[1, 0], [0, 1]]),
    ] {
        let oh = (shape[1] + padding[0][0] + padding[0][1] - kernel[0]) / stride[0] + 1;
        let ow = (shape[2] + padding[1][0] + padding[1][1] - kernel[1]) / stride[1] + 1;
        let (mut max, mut avg) = (vec![], vec![]);
        for c in 0..shape[0] {
            for i in 0..oh {
                for j in 0..ow {
                    let (mut m, mut s) = (f64::NEG_INFINITY, 0.0);
                    for u in 0..kernel[0] {
                        for v in 0..kernel[1] {
                            let r = (stride[0] * i + u) as isize - padding[0][0] as isize;
                            let q = (stride[1] * j + v) as isize - padding[1][0] as isize;
                            m = m.max(at(&x, shape, c, r, q, f64::NEG_INFINITY));
                            s += at(&x, shape, c, r, q, 0.0);
                        }
                    }
                    max.push(m);
                    avg.push(s / (kernel[0] * kernel[1]) as f64);
                }
            }
        }
        let tol = vec![3e-6; max.len()];
        for (op, want) in
            [(Op::MaxPool2d { kernel, stride, padding }, &max), (Op::AvgPool2d { kernel, stride, padding }, &avg)]
        {
            let mut b = Builder::default();
            let i = b.input(&shape);
            let y = b.op(op.clone(), &[i], &[shape[0], oh, ow], vec![], NodeHardware::default());
            let got = run(&b.finish(&[y]), 0, 0, &x);
            assert_close(&format!("{op:?}"), &got, want, &tol, 1.0);
        }
    }
}

#[test]
fn batchnorm_softmax_and_elementwise_ops_match_their_formulas() {
    // batchnorm: (x − mean[c])/√(var[c] + eps)·γ[c] + β[c], c the first axis,
    // for [c] and [c, h, w]. Tolerance 1e-5·(1 + |y|) (a few f32 roundings).
    let (gamma, beta, mu, var) = ([1.5f32, -0.5, 2.0], [0.1f32, 0.2, -0.3], [0.5f32, -1.0, 0.0], [0.25f32, 2.0, 1e-4]);
    let eps = 1e-3;
    for shape in [vec![3], vec![3, 2, 2]] {
        let len: usize = shape.iter().product();
        let x = data(len, 260, -2.0, 2.0);
        let mut b = Builder::default();
        let i = b.input(&shape);
        let params = vec![
            param("weight", &[3], gamma.to_vec()),
            param("bias", &[3], beta.to_vec()),
            param("running_mean", &[3], mu.to_vec()),
            param("running_var", &[3], var.to_vec()),
        ];
        let y = b.op(Op::BatchNorm { eps }, &[i], &shape, params, NodeHardware::default());
        let got = run(&b.finish(&[y]), 0, 0, &x);
        let per = len / 3;
        let want: Vec<f64> = (0..len)
            .map(|e| {
                let c = e / per;
                (x[e] as f64 - mu[c] as f64) / (var[c] as f64 + eps).sqrt() * gamma[c] as f64 + beta[c] as f64
            })
            .collect();
        let scale: Vec<f64> = want.iter().map(|w| 1.0 + w.abs()).collect();
        assert_close(&format!("batchnorm {shape:?}"), &got, &want, &scale, 1e-5);
    }
    // softmax over the last axis of [2, 3, 4], with large values (max subtracted).
    let shape = [2, 3, 4];
    let x: Vec<f32> =
        data(24, 261, -5.0, 5.0).iter().enumerate().map(|(i, v)| v + if i < 12 { 500.0 } else { 0.0 }).collect();
    let mut b = Builder::default();
    let i = b.input(&shape);
    let y = b.unary(Op::Softmax, i, NodeHardware::default());
    let got = run(&b.finish(&[y]), 0, 0, &x);
    let mut want = vec![];
    for row in x.chunks(4) {
        let m = row.iter().fold(f64::NEG_INFINITY, |a, v| a.max(*v as f64));
        let e: Vec<f64> = row.iter().map(|v| (*v as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        want.extend(e.iter().map(|v| v / s));
    }
    // 1e-5 absolute: f32 exp and sum; the (500 + v) inputs carry 3e-5 of f32 input error.
    assert_close("softmax", &got, &want, &[1.0; 24], 1e-5 + 3e-5);
    for row in got.chunks(4) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
    // sigmoid, tanh, relu, flatten, add.
    let x = data(12, 262, -4.0, 4.0);
    let other = data(12, 263, -1.0, 1.0);
    let mut b = Builder::default();
    let i = b.input(&[3, 2, 2]);
    let j = b.input(&[3, 2, 2]);
    let s = b.unary(Op::Sigmoid, i, NodeHardware::default());
    let t = b.unary(Op::Tanh, i, NodeHardware::default());
    let r = b.unary(Op::Relu, i, NodeHardware::default());
    let f = b.op(Op::Flatten, &[i], &[12], vec![], NodeHardware::default());
    let a = b.op(Op::Add, &[i, j], &[3, 2, 2], vec![], NodeHardware::default());
    let g = b.finish(&[s, t, r, f, a]);
    let it = interp(&g);
    let ys = it.run(&it.trial(SEED, 0), 0, &[&x, &other]);
    let ones = [1.0; 12];
    let f64s = |f: &dyn Fn(usize) -> f64| (0..12).map(f).collect::<Vec<f64>>();
    assert_close("sigmoid", &ys[0], &f64s(&|e| 1.0 / (1.0 + (-x[e] as f64).exp())), &ones, 1e-6);
    assert_close("tanh", &ys[1], &f64s(&|e| (x[e] as f64).tanh()), &ones, 1e-6);
    assert_eq!(ys[2], x.iter().map(|v| v.max(0.0)).collect::<Vec<_>>(), "relu");
    assert_eq!(ys[3], x, "flatten keeps row-major order");
    assert_eq!(ys[4], x.iter().zip(&other).map(|(a, b)| a + b).collect::<Vec<_>>(), "add");
}

#[test]
fn denoise_is_x_plus_up_relu_down() {
    // Vector: down dense 5 → 3, up dense 3 → 5. [C, H, W]: 3×3 convolutions with
    // padding 1, 2 → 4 → 2 channels on 4×3. y = x + up(relu(down(x))), by hand in
    // f64 (via the naive conv). Tolerance 1e-5·(|x| + Σ|up terms| + 1).
    let x = data(5, 270, -2.0, 2.0);
    let (dw, db, uw, ub) =
        (data(15, 271, -1.0, 1.0), data(3, 272, -0.5, 0.5), data(15, 273, -1.0, 1.0), data(5, 274, -0.5, 0.5));
    let mut b = Builder::default();
    let i = b.input(&[5]);
    let params = vec![
        param("down.weight", &[3, 5], dw.clone()),
        param("down.bias", &[3], db.clone()),
        param("up.weight", &[5, 3], uw.clone()),
        param("up.bias", &[5], ub.clone()),
    ];
    let y = b.op(Op::Denoise { hidden: 3, kernel: 3 }, &[i], &[5], params, NodeHardware::default());
    let got = run(&b.finish(&[y]), 0, 0, &x);
    let (h, _) = dense_f64(&dw, &x, Some(&db));
    let h: Vec<f32> = h.iter().map(|v| v.max(0.0) as f32).collect();
    let (up, up_scale) = dense_f64(&uw, &h, Some(&ub));
    let want: Vec<f64> = x.iter().zip(&up).map(|(x, u)| *x as f64 + u).collect();
    let scale: Vec<f64> = x.iter().zip(&up_scale).map(|(x, s)| x.abs() as f64 + s + 1.0).collect();
    assert_close("denoise vector", &got, &want, &scale, 1e-5);
    assert!(h.contains(&0.0) && h.iter().any(|v| *v > 0.0), "the relu must clip something");

    let shape = [2, 4, 3];
    let x = data(24, 275, -2.0, 2.0);
    let (dw, db) = (data(4 * 2 * 9, 276, -0.5, 0.5), data(4, 277, -0.5, 0.5));
    let (uw, ub) = (data(2 * 4 * 9, 278, -0.5, 0.5), data(2, 279, -0.5, 0.5));
    let mut b = Builder::default();
    let i = b.input(&shape);
    let params = vec![
        param("down.weight", &[4, 2, 3, 3], dw.clone()),
        param("down.bias", &[4], db.clone()),
        param("up.weight", &[2, 4, 3, 3], uw.clone()),
        param("up.bias", &[2], ub.clone()),
    ];
    let y = b.op(Op::Denoise { hidden: 4, kernel: 3 }, &[i], &shape, params, NodeHardware::default());
    let got = run(&b.finish(&[y]), 0, 0, &x);
    let (h, hshape, _) = naive_conv(&x, shape, &dw, 4, [3, 3], [1, 1], [[1, 1]; 2], 1, Some(&db));
    assert_eq!(hshape, [4, 4, 3]);
    let h: Vec<f32> = h.iter().map(|v| v.max(0.0) as f32).collect();
    let (up, ushape, up_scale) = naive_conv(&h, hshape, &uw, 2, [3, 3], [1, 1], [[1, 1]; 2], 1, Some(&ub));
    assert_eq!(ushape, shape);
    let want: Vec<f64> = x.iter().zip(&up).map(|(x, u)| *x as f64 + u).collect();
    let scale: Vec<f64> = x.iter().zip(&up_scale).map(|(x, s)| x.abs() as f64 + s + 1.0).collect();
    assert_close("denoise [C, H, W]", &got, &want, &scale, 1e-5);
}

// ---------------------------------------------------------------------------
// §7: order of a MAC layer; inputs
// ---------------------------------------------------------------------------

#[test]
fn mac_order_weight_noise_then_format_then_bias_then_output_noise() {
    // Static weight noise on an int8 layer: the chip's perturbed weights W' are
    // quantized (per channel), then the int8 arithmetic, then the bias, then
    // multiplicative output noise: y = (s_x·s_w'·Σ x_q·w'_q + b)·(1 + σ·ε).
    // If the noise came before the bias, b would not be multiplied.
    // Tolerance 1e-5 relative (int8 dequantization and the noise product in f32).
    let (rows, k) = (4, 10);
    let w = Tensor::new(vec![rows, k], data(rows * k, 280, -1.0, 1.0));
    let bias = [2.0, -3.0, 1.0, 4.0];
    let (sw_site, out_site, s_wn, s_out) = (30, 31, 0.2, 0.3);
    let mut b = Builder::default();
    let i = b.input(&[k]);
    let hw = NodeHardware {
        noise: Some(site(out_site, multiplicative(s_out), Draw::Dynamic, 1)),
        weight_noise: Some(site(sw_site, additive(s_wn), Draw::Static, 1)),
        format: int8(true, WeightScale::PerChannel, -1.0, 1.0),
        ..NodeHardware::default()
    };
    let y = b.dense(i, &w, Some(&bias), hw);
    let g = b.finish(&[y]);
    let s_x = quant::symmetric_scale(1.0);
    for trial in 0..2 {
        let w2: Vec<f32> = (0..rows * k)
            .map(|e| w.data[e] + s_wn as f32 * rng::gaussian(SEED, trial, PER_CHIP, sw_site, e as u32))
            .collect();
        let s_w: Vec<f32> =
            w2.chunks(k).map(|r| quant::symmetric_scale(r.iter().fold(0.0f32, |m, v| m.max(v.abs())))).collect();
        for sample in 0..4 {
            let x = data(k, 281 + sample, -1.0, 1.0);
            let got = run(&g, trial, sample, &x);
            for o in 0..rows {
                let acc: i64 = (0..k)
                    .map(|j| (quant::symmetric_code(x[j], s_x) * quant::symmetric_code(w2[o * k + j], s_w[o])) as i64)
                    .sum();
                let eps = rng::gaussian(SEED, trial, sample, out_site, o as u32) as f64;
                let want = (s_x as f64 * s_w[o] as f64 * acc as f64 + bias[o] as f64) * (1.0 + s_out * eps);
                assert!(
                    (got[o] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "trial {trial} sample {sample} row {o}: {} vs {want}",
                    got[o]
                );
            }
        }
    }
}

#[test]
fn input_preprocessing_steps() {
    // u8 [2, 2, 2] → scale(1/255) → normalize(mean = [0.5, 0.25], std = [0.5, 0.25]) per
    // channel (the first axis) → flatten; noise-free. Tolerance 1e-6 (f32).
    let steps =
        vec![Step::Scale(1.0 / 255.0), Step::Normalize { mean: vec![0.5, 0.25], std: vec![0.5, 0.25] }, Step::Flatten];
    let mut b = Builder::default();
    let kind = NodeKind::Input { dtype: Dtype::U8, shape: vec![2, 2, 2], steps };
    let i = b.push(kind, &[8], NodeHardware::default(), vec![]);
    let g = b.finish(&[i]);
    let raw = [0.0, 51.0, 127.0, 255.0, 0.0, 64.0, 200.0, 255.0];
    let got = run(&g, 0, 0, &raw);
    let want: Vec<f64> = raw
        .iter()
        .enumerate()
        .map(|(e, v)| {
            let (m, s) = if e < 4 { (0.5, 0.5) } else { (0.25, 0.25) };
            (*v as f64 / 255.0 - m) / s
        })
        .collect();
    assert_close("preprocess", &got, &want, &[1.0; 8], 1e-6);
}

#[test]
fn adc_site_constant_matches_the_interpreter() {
    // The Gaussian ADC noise of an ABFP layer is drawn at ADC_SITE + uid,
    // element = conversion·tiles + tile (interp/mac.rs). One row, one tile,
    // 24-bit ADC: y = s_w·s_x·n/G·Q(p·G/n + σ·δ_out·ε) ≈ p + σ·δ_out·n·ε (G = 1),
    // within the 24-bit rounding (1e-6).
    let n = 8;
    let w = Tensor::new(vec![1, n], data(n, 290, -1.0, 1.0));
    let format = Format::Abfp {
        block: n as u32,
        input_bits: 24,
        weight_bits: 24,
        adc_bits: 24,
        gain: 1.0,
        adc_noise: 1000.0,
        adc_noise_kind: NoiseShape::Gaussian,
    };
    let mut b = Builder::default();
    let i = b.input(&[n]);
    let y = b.dense(i, &w, None, with_format(format));
    let uid = UID_OFFSET + y.0;
    let g = b.finish(&[y]);
    let x = data(n, 291, -1.0, 1.0);
    let t = abfp_tiles(&w, &x, n, 24, 24);
    let delta = 1.0 / ((1u64 << 23) - 1) as f64;
    for sample in 0..4 {
        let got = run(&g, 0, sample, &x)[0] as f64;
        let eps = rng::gaussian(SEED, 0, sample, ADC_SITE.wrapping_add(uid), 0) as f64;
        let unit = (t.s_w[0][0] * t.s_x[0]) as f64 * n as f64;
        let want = unit * (t.p[0][0] / n as f64 + 1000.0 * delta * eps);
        assert!((got - want).abs() <= 1e-6 * unit, "sample {sample}: {got} vs {want}");
    }
}

// ---------------------------------------------------------------------------
// 12. Observers
// ---------------------------------------------------------------------------

/// Records everything an observer is told.
#[derive(Default)]
struct Record {
    nodes: Vec<(NodeId, Vec<f32>)>,
    adc: Vec<(NodeId, f32)>,
    operands: Vec<(NodeId, i32, i32)>,
}

impl analog_runtime::interp::observe::Observer for Record {
    fn node(&mut self, id: NodeId, y: &[f32]) {
        self.nodes.push((id, y.to_vec()));
    }
    fn adc(&mut self, id: NodeId, v: f32) {
        self.adc.push((id, v));
    }
    fn operands(&mut self, id: NodeId, x: i32, w: i32) {
        self.operands.push((id, x, w));
    }
}

#[test]
fn observers_see_node_outputs_adc_inputs_and_int8_operands() {
    // int8, signed, input_range [−1, 1] (s_x = 1/127), w = [[1, −0.5]] per
    // channel (s_w = 1/127, codes [127, −64]: −63.5 goes to even), x = [0.5, −1]:
    // x codes [64, −127] (63.5 → 64), products (64, 127) and (−127, −64) in row order.
    let w = Tensor::new(vec![1, 2], vec![1.0, -0.5]);
    let g = int8_graph(&w, &[0.0], int8(true, WeightScale::PerChannel, -1.0, 1.0), Multiplier::Exact);
    let i = interp(&g);
    let t = i.trial(SEED, 0);
    let mut rec = Record::default();
    let y = i.run_observed(&t, 0, &[&[0.5, -1.0]], &mut rec);
    assert_eq!(y, i.run(&t, 0, &[&[0.5, -1.0]]), "observing changes nothing");
    assert_eq!(rec.operands, vec![(NodeId(1), 64, 127), (NodeId(1), -127, -64)]);
    assert_eq!(rec.nodes, vec![(NodeId(0), vec![0.5, -1.0]), (NodeId(1), y[0].clone())]);
    assert!(rec.adc.is_empty());

    // ABFP, the gain test's tile (n = 16, p = 1.7): one conversion, v = (G/16)·1.7,
    // clipping from G = 16 on.
    let n = 16;
    let w = Tensor::new(vec![1, n], vec![1.0; n]);
    let mut x = vec![0.0f32; n];
    x[0] = 1.0;
    x[1] = 0.7;
    for gain in [1.0, 16.0] {
        let g = abfp_graph(&w, None, with_format(abfp(16, 24, 24, 8, gain)));
        let i = interp(&g);
        let mut rec = Record::default();
        i.run_observed(&i.trial(SEED, 0), 0, &[&x], &mut rec);
        assert_eq!(rec.adc.len(), 1);
        let want = gain as f32 / 16.0 * 1.7;
        assert!((rec.adc[0].1 - want).abs() <= 1e-6, "G = {gain}: v = {} vs {want}", rec.adc[0].1);
        assert!(rec.operands.is_empty());
    }
}

// ---------------------------------------------------------------------------
// Graphs the interpreter cannot run: an error naming the node, never a panic
// ---------------------------------------------------------------------------

/// The error `Interpreter::new` gives for `g`.
fn rejected(g: &Graph) -> String {
    match Interpreter::new(g, |p| std::fs::read(p)) {
        Ok(_) => panic!("the interpreter accepted a graph it cannot run"),
        Err(e) => e,
    }
}

fn assert_rejected(g: &Graph, node: &str, says: &str) {
    let e = rejected(g);
    assert!(e.contains(&format!("node `{node}`")) && e.contains(says), "{e}");
}

#[test]
fn prepared_weights_of_another_format_are_rejected() {
    let w = Tensor::new(vec![2, 3], data(6, 1, -1.0, 1.0));
    let mut b = Builder::default();
    let x = b.input(&[3]);
    let y = b.dense(x, &w, None, with_format(int8(true, WeightScale::PerChannel, -1.0, 1.0)));
    let mut g = b.finish(&[y]);
    g.nodes[y.index()].prepared = quant::prepare(&abfp(2, 8, 8, 8, 1.0), &w);
    assert_rejected(&g, "n1", "prepared weights");
    // Prepared for the format, the same graph runs.
    g.nodes[y.index()].prepared = quant::prepare(&g.nodes[y.index()].hw.format, &w);
    assert_eq!(run(&g, 0, 0, &[0.5, -0.5, 0.25]).len(), 2);
}

#[test]
fn prepared_weights_of_another_size_are_rejected() {
    let w = Tensor::new(vec![2, 3], data(6, 2, -1.0, 1.0));
    let mut b = Builder::default();
    let x = b.input(&[3]);
    let y = b.dense(x, &w, None, with_format(abfp(2, 8, 8, 8, 1.0)));
    let mut g = b.finish(&[y]);
    let small = Tensor::new(vec![1, 3], w.data[..3].to_vec());
    g.nodes[y.index()].prepared = quant::prepare(&g.nodes[y.index()].hw.format, &small);
    assert_rejected(&g, "n1", "prepared weights are not 2 rows of 3");
}

#[test]
fn a_mac_layer_without_matching_weights_is_rejected() {
    let w = Tensor::new(vec![2, 3], data(6, 3, -1.0, 1.0));
    let mut b = Builder::default();
    let x = b.input(&[4]);
    let y = b.dense(x, &w, None, NodeHardware::default());
    let g = b.finish(&[y]);
    assert_rejected(&g, "n1", "not 2 rows of 4");

    let mut b = Builder::default();
    let x = b.input(&[3]);
    let y = b.op(Op::Dense { out: 2 }, &[x], &[2], vec![], NodeHardware::default());
    assert_rejected(&b.finish(&[y]), "n1", "no `weight` tensor");

    let mut b = Builder::default();
    let x = b.input(&[3]);
    let params = vec![param("weight", &[2, 3], w.data.clone()), param("bias", &[1], vec![1.0])];
    let y = b.op(Op::Dense { out: 2 }, &[x], &[2], params, NodeHardware::default());
    assert_rejected(&b.finish(&[y]), "n1", "`bias` tensor has 1 values, not 2");
}

#[test]
fn a_format_without_blocks_is_rejected() {
    let w = Tensor::new(vec![1, 3], data(3, 4, -1.0, 1.0));
    let mut b = Builder::default();
    let x = b.input(&[3]);
    let y = b.dense(x, &w, None, with_format(abfp(0, 8, 8, 8, 1.0)));
    assert_rejected(&b.finish(&[y]), "n1", "block 0");
}

#[test]
fn ops_missing_operands_or_tensors_are_rejected() {
    let mut b = Builder::default();
    let x = b.input(&[3]);
    let y = b.unary(Op::Add, x, NodeHardware::default());
    assert_rejected(&b.finish(&[y]), "n1", "one operand");

    let mut b = Builder::default();
    let x = b.input(&[2, 1, 1]);
    let y = b.unary(Op::BatchNorm { eps: 1e-5 }, x, NodeHardware::default());
    assert_rejected(&b.finish(&[y]), "n1", "no `weight` tensor");

    let mut b = Builder::default();
    let x = b.input(&[3]);
    let y = b.op(Op::Relu, &[NodeId(2)], &[3], vec![], NodeHardware::default());
    let z = b.unary(Op::Relu, x, NodeHardware::default());
    assert_rejected(&b.finish(&[y, z]), "n1", "does not come before");
}

#[test]
fn a_window_larger_than_the_padded_input_is_rejected() {
    let mut b = Builder::default();
    let x = b.input(&[1, 2, 2]);
    let pool = Op::MaxPool2d { kernel: [3, 3], stride: [1, 1], padding: [[0, 0]; 2] };
    let y = b.op(pool, &[x], &[1, 1, 1], vec![], NodeHardware::default());
    assert_rejected(&b.finish(&[y]), "n1", "a window of");
}

#[test]
fn an_input_reshaped_to_another_size_or_without_a_mean_is_rejected() {
    let steps = |steps: Vec<Step>| {
        let mut b = Builder::default();
        let x =
            b.push(NodeKind::Input { dtype: Dtype::F32, shape: vec![4], steps }, &[4], NodeHardware::default(), vec![]);
        b.finish(&[x])
    };
    assert_rejected(&steps(vec![Step::Reshape(vec![3])]), "n0", "a reshape of 4 values");
    assert_rejected(&steps(vec![Step::Normalize { mean: vec![], std: vec![1.0] }]), "n0", "without a mean");
    assert_eq!(run(&steps(vec![Step::Reshape(vec![2, 2])]), 0, 0, &[1.0, 2.0, 3.0, 4.0]), vec![1.0, 2.0, 3.0, 4.0]);
}
