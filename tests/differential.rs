//! A randomized differential test of the JIT against the reference
//! interpreter. For every seed a small random model is generated as source
//! text (random layer stacks, shapes and hardware annotations, valid by
//! construction) with random weights in a safetensors file next to it; the
//! model is checked, lowered and optimized as `tests/jit.rs` does, and both
//! kernel sets of the JIT must give the interpreter's outputs bit for bit
//! (±0 compare equal, NaN equals NaN), in one batch and in batches of two.
//!
//! The default run covers `DEFAULT_SEEDS` seeds; `ANALOGC_DIFF_SEEDS=N` runs
//! seeds `0..N`, `ANALOGC_DIFF_SEEDS=A..B` seeds `A..B` (e.g. to rerun one
//! failing seed); `ANALOGC_DIFF_FILE=path.anl` runs one model file instead
//! (a kept failure or a reduced reproducer; the seed of its inputs is read
//! from its `// tests/differential.rs, seed N` header, else 0);
//! `ANALOGC_DIFF_KEEP=1` keeps every generated model on disk. A model that
//! does not check is a generator bug and fails the test like a disagreement.
//! Every failure names the model file, which is kept on disk (with its
//! weights, under `CARGO_TARGET_TMPDIR`) and printed in full.
//!
//! Not generated: `data` (only `eval` reads it), `import` and `--set`
//! (front end only: the JIT sees the same graph), weights stored as
//! F16/BF16/F64 (converted to f32 when loaded, before either backend).

mod support;

use analog_runtime::interp::Interpreter;
use analog_runtime::ir::{Dtype, Graph, NodeKind};
use analogc::check::check_file;
use analogc::diag::render;
use analogc::jit::{self, Kernels};
use analogc::lower::lower;
use analogc::passes::run_pipeline;
use analogc::source::FsLoader;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use support::repo;

/// About 3 s in the default test profile on two cores.
const DEFAULT_SEEDS: u64 = 300;
/// Samples per model; the JIT runs them in one call and in calls of `SPLIT`.
/// One model in ten runs `MANY_SAMPLES`, more than the JIT's largest batch
/// (64), so one call is cut into batches.
const SAMPLES: usize = 5;
const MANY_SAMPLES: usize = 67;
const SPLIT: usize = 2;

// ---------------------------------------------------------------- random numbers

/// splitmix64: small, fast, and the same on every machine.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    fn next(&mut self) -> u64 {
        support::splitmix64(&mut self.0)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    /// An index drawn with the given relative weights.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut r = self.below(total as usize) as u32;
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        unreachable!("r < total")
    }

    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit() as f32
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01B3))
}

// ---------------------------------------------------------------- effects

const KEYS: [&str; 5] = ["noise", "weight_noise", "accumulate", "format", "multiplier"];
/// The ideal design of each key, accepted on every op but `denoise`.
const IDEAL: [&str; 5] = ["none", "none", "exact", "fp32", "exact"];
const NOISE: usize = 0;
const WEIGHT_NOISE: usize = 1;
const ACCUMULATE: usize = 2;
const FORMAT: usize = 3;
const MULTIPLIER: usize = 4;

/// The effective design text per key (`None`: not set, the ideal default).
type Effects = [Option<String>; 5];

#[derive(Copy, Clone, PartialEq, Eq)]
enum Class {
    /// dense, conv1d, conv2d: every effect.
    Mac,
    /// Output noise only.
    Plain,
    /// denoise: nothing, not even a profile.
    Digital,
}

/// Which noise units the place takes.
#[derive(Copy, Clone)]
struct Units {
    fs: bool,
    lsb: bool,
    /// Weight noise: static by default.
    weights: bool,
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Fmt {
    Fp32,
    Int8 { signed: bool },
    Abfp,
    AnalogInt,
}

struct Profile {
    name: String,
    extends: Option<String>,
    own: Effects,
    /// With the base's effects.
    merged: Effects,
}

struct Tensor {
    name: String,
    shape: Vec<usize>,
    used: bool,
}

/// Multiplier tables, as absolute paths (the model lives in a temp folder).
struct Tables {
    signed: Vec<String>,
    unsigned: Vec<String>,
}

impl Tables {
    fn new() -> Self {
        let path = |p: &str| repo().join(p).display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
        Tables {
            signed: vec![
                path("examples/multipliers/mul8s_exact.npy"),
                path("examples/multipliers/mul8s_trunc6.npy"),
                path("tests/fixtures/jit/big_products.npy"),
            ],
            unsigned: vec![path("examples/multipliers/mul8u_exact.bin")],
        }
    }
}

fn show(shape: &[usize]) -> String {
    shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}

/// `k` or `[a, b]` (both written at random when equal).
fn pair(rng: &mut Rng, a: usize, b: usize) -> String {
    if a == b && rng.chance(0.7) {
        a.to_string()
    } else {
        format!("[{a}, {b}]")
    }
}

// ---------------------------------------------------------------- the generator

struct Gen<'t> {
    rng: Rng,
    tables: &'t Tables,
    profiles: Vec<Profile>,
    body: Vec<String>,
    tensors: Vec<Tensor>,
    weights: Vec<(String, Vec<usize>, Vec<f32>)>,
    /// Constructs generated, for the coverage summary.
    tags: BTreeMap<String, usize>,
}

impl<'t> Gen<'t> {
    fn new(seed: u64, tables: &'t Tables) -> Self {
        Gen {
            rng: Rng::new(seed),
            tables,
            profiles: vec![],
            body: vec![],
            tensors: vec![],
            weights: vec![],
            tags: BTreeMap::new(),
        }
    }

    fn tag(&mut self, t: impl Into<String>) {
        *self.tags.entry(t.into()).or_default() += 1;
    }

    /// The model's source text.
    fn model(&mut self, seed: u64, weights_file: &str) -> String {
        let inputs = if self.rng.chance(0.25) { 2 } else { 1 };
        for i in 0..inputs {
            self.input(i);
        }
        let layers = self.rng.range(2, 6);
        for l in 0..layers {
            self.layer(l);
        }
        // Every tensor nothing reads is an output (inputs included), and
        // now and then one that is read too (its buffer must survive fusion
        // and folding).
        let mut outputs = vec![];
        for i in 0..self.tensors.len() {
            if !self.tensors[i].used {
                outputs.push(i);
            } else if self.rng.chance(0.15) {
                self.tag("output.inner");
                outputs.push(i);
            }
        }
        let mut out_lines = vec![];
        for (k, i) in outputs.into_iter().enumerate() {
            let name = self.tensors[i].name.clone();
            if self.rng.chance(0.3) {
                self.tag("output.alias");
                out_lines.push(format!("  output out{k} = {name}"));
            } else {
                out_lines.push(format!("  output {name}"));
            }
        }
        let mut text = format!("// tests/differential.rs, seed {seed}\n");
        for p in &self.profiles {
            let ext = p.extends.as_ref().map(|b| format!(" extends {b}")).unwrap_or_default();
            text += &format!("profile {}{ext} {{\n", p.name);
            for (k, e) in p.own.iter().enumerate() {
                if let Some(e) = e {
                    text += &format!("  {} {e}\n", KEYS[k]);
                }
            }
            text += "}\n";
        }
        text += &format!("model diff_{seed} {{\n");
        if !self.weights.is_empty() {
            text += &format!("  weights \"{weights_file}\"\n");
        }
        for l in self.body.iter().chain(&out_lines) {
            text += l;
            text += "\n";
        }
        text += "}\n";
        text
    }

    // ------------------------------------------------------------ inputs

    fn input(&mut self, i: usize) {
        let name = format!("x{i}");
        let kind = self.rng.weighted(&[3, 4, 3, 1, 1]);
        let (dtype, mut shape) = match kind {
            0 => ("f32", vec![self.rng.range(1, 20)]),
            1 => ("u8", vec![self.rng.range(1, 4), self.rng.range(3, 7), self.rng.range(3, 7)]),
            2 => ("f32", vec![self.rng.range(1, 4), self.rng.range(3, 7), self.rng.range(3, 7)]),
            3 => ("u8", vec![self.rng.range(1, 16)]),
            _ => ("f32", vec![self.rng.range(2, 4), self.rng.range(2, 5)]),
        };
        self.tag(format!("input.{dtype}.rank{}", shape.len()));
        let declared = shape.clone();
        let mut steps = vec![];
        if dtype == "u8" && self.rng.chance(0.8) {
            steps.push("scale(1/255)".to_string());
            self.tag("input.scale");
        }
        for _ in 0..self.rng.below(3) {
            let total: usize = shape.iter().product();
            match self.rng.below(4) {
                0 => {
                    steps.push(format!("scale({})", self.rng.pick(&[0.5, 2.0, -1.0, 0.25])));
                    self.tag("input.scale");
                }
                1 => {
                    let c = shape[0];
                    let mean = if c <= 6 && self.rng.chance(0.5) {
                        let m: Vec<String> =
                            (0..c).map(|_| self.rng.pick(&["0", "0.1", "0.5", "-0.2"]).into()).collect();
                        format!("[{}]", m.join(", "))
                    } else {
                        self.rng.pick(&["0.1307", "0.5", "-0.25"]).to_string()
                    };
                    let std = if c <= 6 && self.rng.chance(0.4) {
                        let s: Vec<String> = (0..c).map(|_| self.rng.pick(&["0.3081", "0.5", "2"]).into()).collect();
                        format!("[{}]", s.join(", "))
                    } else {
                        self.rng.pick(&["0.3081", "0.25", "1.5"]).to_string()
                    };
                    steps.push(format!("normalize(mean = {mean}, std = {std})"));
                    self.tag("input.normalize");
                }
                2 => {
                    shape = self.reshape_of(total);
                    steps.push(format!("reshape([{}])", show(&shape)));
                    self.tag("input.reshape");
                }
                _ => {
                    if shape.len() > 1 {
                        shape = vec![total];
                        steps.push("flatten".into());
                        self.tag("input.flatten");
                    }
                }
            }
        }
        if self.rng.chance(0.3) {
            let units = Units { fs: false, lsb: false, weights: false };
            let noise = self.noise(units, "input");
            steps.push(format!("noise {noise}"));
        }
        let mut line = format!("  input {name}: {dtype}[{}]", show(&declared));
        if !steps.is_empty() {
            if self.rng.chance(0.5) {
                line += &format!(" {{ {} }}", steps.join("; "));
            } else {
                line += " {\n";
                for s in steps {
                    line += &format!("    {s}\n");
                }
                line += "  }";
            }
        }
        self.body.push(line);
        self.tensors.push(Tensor { name, shape, used: false });
    }

    /// A random shape of `total` elements, 1 to 3 axes.
    fn reshape_of(&mut self, total: usize) -> Vec<usize> {
        let divisors: Vec<usize> = (1..=total).filter(|d| total.is_multiple_of(*d)).collect();
        match self.rng.below(4) {
            0 => vec![total],
            1 => {
                let a = self.rng.pick(&divisors);
                vec![a, total / a]
            }
            _ => {
                let c = self.rng.pick(&divisors[..divisors.len().min(3)]);
                let rest = total / c;
                let ds: Vec<usize> = (1..=rest).filter(|d| rest.is_multiple_of(*d)).collect();
                let h = self.rng.pick(&ds);
                vec![c, h, rest / h]
            }
        }
    }

    // ------------------------------------------------------------ layers

    fn layer(&mut self, l: usize) {
        let last = self.tensors.len() - 1;
        let src = if self.rng.chance(0.75) { last } else { self.rng.below(self.tensors.len()) };
        let shape = self.tensors[src].shape.clone();
        let same: Vec<usize> = (0..self.tensors.len()).filter(|i| self.tensors[*i].shape == shape).collect();
        // Tensors `concat` can join to this one: its rank, the same axes past the first.
        let joinable: Vec<usize> = (0..self.tensors.len())
            .filter(|i| {
                let s = &self.tensors[*i].shape;
                s.len() == shape.len() && s[1..] == shape[1..]
            })
            .collect();
        let add = if same.len() > 1 { 3 } else { 1 };
        // dense/conv, pool, activation, softmax, batchnorm, denoise, add, flatten, globalavgpool, concat
        let weights: [u32; 10] = match shape.len() {
            1 => [8, 0, 4, 1, 1, 1, add, 0, 0, 1],
            3 => [8, 3, 3, 1, 1, 1, add, 2, 1, 2],
            _ => [3, 2, 3, 2, 1, 0, 1, 4, 1, 2],
        };
        let x = self.tensors[src].name.clone();
        self.tensors[src].used = true;
        let (name, out_shape) = match self.rng.weighted(&weights) {
            0 if shape.len() == 1 => self.dense(l, &x, shape[0]),
            0 if shape.len() == 2 => self.conv1d(l, &x, &shape),
            0 => self.conv(l, &x, &shape),
            1 => self.pool(l, &x, &shape),
            2 => {
                let op = self.rng.pick(&[
                    "relu",
                    "sigmoid",
                    "tanh",
                    "leaky_relu",
                    "clip",
                    "relu6",
                    "hard_sigmoid",
                    "hard_swish",
                ]);
                let call = match op {
                    "hard_sigmoid" if self.rng.chance(0.5) => {
                        let (alpha, beta) =
                            (self.rng.pick(&["0.2", "1/3", "-0.5"]), self.rng.pick(&["0.5", "0", "0.25"]));
                        format!("hard_sigmoid({x}, alpha = {alpha}, beta = {beta})")
                    }
                    "leaky_relu" if self.rng.chance(0.5) => {
                        format!("leaky_relu({x}, slope = {})", self.rng.pick(&["0.2", "-0.5", "0", "1/3"]))
                    }
                    "clip" => {
                        let (min, max) = (self.rng.pick(&["-1", "-0.25", "0"]), self.rng.pick(&["0.125", "1", "3"]));
                        format!("clip({x}, min = {min}, max = {max})")
                    }
                    _ => format!("{op}({x})"),
                };
                self.plain(&format!("{op}{l}"), &call, op, &shape)
            }
            3 => self.plain(&format!("sm{l}"), &format!("softmax({x})"), "softmax", &shape),
            4 => self.batchnorm(l, &x, &shape),
            5 => self.denoise(l, &x, &shape),
            6 => {
                let other = self.rng.pick(&same);
                self.tensors[other].used = true;
                let y = self.tensors[other].name.clone();
                self.tag(if other == src { "op.add.self" } else { "op.add" });
                self.plain(&format!("add{l}"), &format!("add({x}, {y})"), "add", &shape)
            }
            7 => {
                let total = shape.iter().product();
                self.plain(&format!("flat{l}"), &format!("flatten({x})"), "flatten", &[total])
            }
            8 => self.plain(&format!("gap{l}"), &format!("globalavgpool({x})"), "globalavgpool", &[shape[0]]),
            _ => {
                let mut operands = vec![x];
                let mut out = shape.clone();
                for _ in 0..self.rng.range(1, 2) {
                    let other = self.rng.pick(&joinable);
                    self.tensors[other].used = true;
                    operands.push(self.tensors[other].name.clone());
                    out[0] += self.tensors[other].shape[0];
                }
                self.plain(&format!("cat{l}"), &format!("concat({})", operands.join(", ")), "concat", &out)
            }
        };
        self.tensors.push(Tensor { name, shape: out_shape, used: false });
    }

    /// An op with output noise at most.
    fn plain(&mut self, name: &str, call: &str, op: &str, shape: &[usize]) -> (String, Vec<usize>) {
        self.tag(format!("op.{op}.rank{}", shape.len()));
        let mut eff = Effects::default();
        if self.rng.chance(0.3) {
            eff[NOISE] = Some(if self.rng.chance(0.1) {
                "none".into()
            } else {
                let units = Units { fs: false, lsb: false, weights: false };
                self.noise(units, "op")
            });
        }
        self.emit(name, call, &eff, Class::Plain);
        (name.into(), shape.to_vec())
    }

    fn dense(&mut self, l: usize, x: &str, n: usize) -> (String, Vec<usize>) {
        let name = format!("fc{l}");
        // Up to 5 panels of 8 outputs: the host GEMM's register block is 4 panels wide.
        let out = match self.rng.weighted(&[12, 5, 3]) {
            0 => self.rng.range(1, 8),
            1 => self.rng.range(9, 20),
            _ => self.rng.range(21, 40),
        };
        let op = if self.rng.chance(0.15) { "linear" } else { "dense" };
        self.tag(format!("op.{op}"));
        let mut call = format!("{op}({x}, {out}");
        let weight = if self.rng.chance(0.1) {
            call += &format!(", weight = \"w_{name}\"");
            self.tag("op.custom_weight_name");
            format!("w_{name}")
        } else {
            format!("{name}.weight")
        };
        let w = self.mac_weights(out, n);
        self.weights.push((weight, vec![out, n], w));
        self.bias(&name, out, &mut call);
        let eff = self.mac_effects(n);
        self.emit(&name, &call, &eff, Class::Mac);
        (name, vec![out])
    }

    fn conv(&mut self, l: usize, x: &str, shape: &[usize]) -> (String, Vec<usize>) {
        let name = format!("conv{l}");
        let (c, h, w) = (shape[0], shape[1], shape[2]);
        let divisors: Vec<usize> = (1..=c).filter(|d| c % d == 0).collect();
        let groups = if self.rng.chance(0.4) { self.rng.pick(&divisors) } else { 1 };
        let out = groups
            * match (groups, self.rng.below(10)) {
                (1, 0) => self.rng.range(25, 36),
                (1, _) => self.rng.range(1, 6),
                _ => self.rng.range(1, 3),
            };
        let mut geometry = [[0usize; 4]; 2]; // per axis: kernel, stride, padding before and after
        let asymmetric = self.rng.chance(0.25);
        for (axis, size) in [h, w].into_iter().enumerate() {
            let before = if size + 2 > 12 { 0 } else { self.rng.weighted(&[5, 4, 1]) };
            let after = if asymmetric && size + 2 <= 12 { self.rng.weighted(&[5, 4, 1]) } else { before };
            let kernel = self.rng.range(1, (size + before + after).min(4));
            let stride = self.rng.range(1, 2);
            geometry[axis] = [kernel, stride, before, after];
        }
        let [[kh, sh, pt, pb], [kw, sw, pl, pr]] = geometry;
        let mut call = format!("conv2d({x}, {out}, {}", pair(&mut self.rng, kh, kw));
        if sh != 1 || sw != 1 || self.rng.chance(0.2) {
            call += &format!(", stride = {}", pair(&mut self.rng, sh, sw));
        }
        if asymmetric {
            call += &format!(", padding = [{pt}, {pb}, {pl}, {pr}]");
            self.tag("op.conv2d.per_side_padding");
        } else if pt != 0 || pl != 0 || self.rng.chance(0.2) {
            call += &format!(", padding = {}", pair(&mut self.rng, pt, pl));
        }
        if groups != 1 || self.rng.chance(0.1) {
            call += &format!(", groups = {groups}");
            self.tag("op.conv2d.groups");
        }
        if kh != kw {
            self.tag("op.conv2d.rect_kernel");
        }
        self.tag("op.conv2d");
        let k = c / groups * kh * kw;
        let wv = self.mac_weights(out, k);
        self.weights.push((format!("{name}.weight"), vec![out, c / groups, kh, kw], wv));
        self.bias(&name, out, &mut call);
        let eff = self.mac_effects(k);
        self.emit(&name, &call, &eff, Class::Mac);
        let oh = (h + pt + pb - kh) / sh + 1;
        let ow = (w + pl + pr - kw) / sw + 1;
        (name, vec![out, oh, ow])
    }

    /// A conv1d on `[c, l]`: conv's choices along one axis.
    fn conv1d(&mut self, l: usize, x: &str, shape: &[usize]) -> (String, Vec<usize>) {
        let name = format!("conv{l}");
        let (c, len) = (shape[0], shape[1]);
        let divisors: Vec<usize> = (1..=c).filter(|d| c % d == 0).collect();
        let groups = if self.rng.chance(0.4) { self.rng.pick(&divisors) } else { 1 };
        let out = groups * if groups == 1 { self.rng.range(1, 6) } else { self.rng.range(1, 3) };
        let left = if len + 2 > 12 { 0 } else { self.rng.weighted(&[5, 4, 1]) };
        let asymmetric = len + 2 <= 12 && self.rng.chance(0.25);
        let right = if asymmetric { self.rng.weighted(&[5, 4, 1]) } else { left };
        let kernel = self.rng.range(1, (len + left + right).min(4));
        let stride = self.rng.range(1, 2);
        let mut call = format!("conv1d({x}, {out}, {kernel}");
        if stride != 1 || self.rng.chance(0.2) {
            call += &format!(", stride = {stride}");
        }
        if asymmetric {
            call += &format!(", padding = [{left}, {right}]");
            self.tag("op.conv1d.per_side_padding");
        } else if left != 0 || self.rng.chance(0.2) {
            call += &format!(", padding = {left}");
        }
        if groups != 1 || self.rng.chance(0.1) {
            call += &format!(", groups = {groups}");
            self.tag("op.conv1d.groups");
        }
        self.tag("op.conv1d");
        let k = c / groups * kernel;
        let wv = self.mac_weights(out, k);
        self.weights.push((format!("{name}.weight"), vec![out, c / groups, kernel], wv));
        self.bias(&name, out, &mut call);
        let eff = self.mac_effects(k);
        self.emit(&name, &call, &eff, Class::Mac);
        (name, vec![out, (len + left + right - kernel) / stride + 1])
    }

    fn pool(&mut self, l: usize, x: &str, shape: &[usize]) -> (String, Vec<usize>) {
        if shape.len() == 2 {
            return self.pool1d(l, x, shape);
        }
        let op = self.rng.pick(&["maxpool2d", "avgpool2d"]);
        let name = format!("pool{l}");
        let mut geometry = [[0usize; 4]; 2]; // per axis: kernel, stride, padding before and after
        let asymmetric = self.rng.chance(0.2);
        for (axis, size) in [shape[1], shape[2]].into_iter().enumerate() {
            let kernel = self.rng.range(1, 3);
            let padding = if self.rng.chance(0.3) { self.rng.range(0, kernel / 2) } else { 0 };
            let after = if asymmetric { self.rng.range(0, kernel / 2) } else { padding };
            let kernel = kernel.min(size + padding + after);
            let (padding, after) = (padding.min(kernel / 2), after.min(kernel / 2));
            let stride = if self.rng.chance(0.5) { kernel } else { self.rng.range(1, 2) };
            geometry[axis] = [kernel, stride, padding, after];
        }
        let [[kh, sh, pt, pb], [kw, sw, pl, pr]] = geometry;
        let mut call = format!("{op}({x}, {}", pair(&mut self.rng, kh, kw));
        if sh != kh || sw != kw || self.rng.chance(0.2) {
            call += &format!(", stride = {}", pair(&mut self.rng, sh, sw));
        }
        if asymmetric {
            call += &format!(", padding = [{pt}, {pb}, {pl}, {pr}]");
            self.tag(format!("op.{op}.per_side_padding"));
        } else if pt != 0 || pl != 0 {
            call += &format!(", padding = {}", pair(&mut self.rng, pt, pl));
            self.tag(format!("op.{op}.padding"));
        }
        call += ")";
        let out = vec![shape[0], (shape[1] + pt + pb - kh) / sh + 1, (shape[2] + pl + pr - kw) / sw + 1];
        self.plain(&name, &call, op, &out);
        (name, out)
    }

    /// maxpool1d or avgpool1d on `[c, l]`, each side's padding at most half the kernel.
    fn pool1d(&mut self, l: usize, x: &str, shape: &[usize]) -> (String, Vec<usize>) {
        let op = self.rng.pick(&["maxpool1d", "avgpool1d"]);
        let name = format!("pool{l}");
        let kernel = self.rng.range(1, 3);
        let side = |rng: &mut Rng| if rng.chance(0.4) { rng.range(0, kernel / 2) } else { 0 };
        let (left, right) = (side(&mut self.rng), side(&mut self.rng));
        let kernel = kernel.min(shape[1] + left + right);
        let (left, right) = (left.min(kernel / 2), right.min(kernel / 2));
        let stride = if self.rng.chance(0.5) { kernel } else { self.rng.range(1, 2) };
        let mut call = format!("{op}({x}, {kernel}");
        if stride != kernel || self.rng.chance(0.2) {
            call += &format!(", stride = {stride}");
        }
        match (left, right) {
            (0, 0) => {}
            (a, b) if a == b && self.rng.chance(0.5) => call += &format!(", padding = {a}"),
            (a, b) => call += &format!(", padding = [{a}, {b}]"),
        }
        call += ")";
        let out = vec![shape[0], (shape[1] + left + right - kernel) / stride + 1];
        self.plain(&name, &call, op, &out);
        (name, out)
    }

    fn batchnorm(&mut self, l: usize, x: &str, shape: &[usize]) -> (String, Vec<usize>) {
        let name = format!("bn{l}");
        let c = shape[0];
        let gamma = self.values(c, 0.5, 1.5);
        let beta = self.values(c, -0.5, 0.5);
        let mean = self.values(c, -0.5, 0.5);
        let var = self.values(c, 0.1, 2.0);
        for (role, v) in [("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", var)] {
            self.weights.push((format!("{name}.{role}"), vec![c], v));
        }
        let call =
            if self.rng.chance(0.3) { format!("batchnorm({x}, eps = 0.001)") } else { format!("batchnorm({x})") };
        self.plain(&name, &call, "batchnorm", shape)
    }

    fn denoise(&mut self, l: usize, x: &str, shape: &[usize]) -> (String, Vec<usize>) {
        let name = format!("dn{l}");
        let c = shape[0];
        let hidden = self.rng.range(1, 4);
        let mut call = format!("denoise({x}, {hidden}");
        let (down, up) = if shape.len() == 1 {
            (vec![hidden, c], vec![c, hidden])
        } else {
            let k = self.rng.pick(&[1, 3, 3, 5]);
            if k != 3 || self.rng.chance(0.2) {
                call += &format!(", kernel = {k}");
            }
            (vec![hidden, c, k, k], vec![c, hidden, k, k])
        };
        call += ")";
        for (role, s) in [("down.weight", down), ("down.bias", vec![hidden]), ("up.weight", up), ("up.bias", vec![c])] {
            let n = s.iter().product();
            let v = self.values(n, -0.5, 0.5);
            self.weights.push((format!("{name}.{role}"), s, v));
        }
        self.tag(format!("op.denoise.rank{}", shape.len()));
        self.emit(&name, &call, &Effects::default(), Class::Digital);
        (name, shape.to_vec())
    }

    // ------------------------------------------------------------ weights

    fn values(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.rng.uniform(lo, hi)).collect()
    }

    /// `[out, k]` weights of a MAC layer: uniform, on a coarse grid (ties and
    /// zeros), one-signed, with a zero row, or all zero.
    /// A bias (or `bias = false`) for a MAC layer with `out` outputs; closes `call`.
    fn bias(&mut self, name: &str, out: usize, call: &mut String) {
        if self.rng.chance(0.2) {
            *call += ", bias = false";
            self.tag("op.no_bias");
        } else {
            let b = self.values(out, -0.3, 0.3);
            self.weights.push((format!("{name}.bias"), vec![out], b));
        }
        *call += ")";
    }

    fn mac_weights(&mut self, out: usize, k: usize) -> Vec<f32> {
        let n = out * k;
        let mut w: Vec<f32> = match self.rng.weighted(&[12, 4, 2, 1]) {
            0 => (0..n).map(|_| if self.rng.chance(0.08) { 0.0 } else { self.rng.uniform(-0.5, 0.5) }).collect(),
            1 => {
                self.tag("weights.grid");
                (0..n).map(|_| self.rng.range(0, 8) as f32 / 8.0 - 0.5).collect()
            }
            2 => {
                self.tag("weights.positive");
                (0..n).map(|_| self.rng.uniform(0.0, 0.5)).collect()
            }
            _ => {
                self.tag("weights.zero");
                vec![0.0; n]
            }
        };
        if self.rng.chance(0.1) {
            self.tag("weights.zero_row");
            let row = self.rng.below(out);
            w[row * k..(row + 1) * k].fill(0.0);
        }
        w
    }

    // ------------------------------------------------------------ effects

    /// A noise design (`additive(…)`, `multiplicative(…)` or `mixed(…)`) valid where `u` says.
    fn noise(&mut self, u: Units, place: &str) -> String {
        let additive = |g: &mut Gen| -> String {
            let mut units = vec!["", "abs"];
            if u.fs {
                units.push("fs");
            }
            if u.lsb {
                units.extend(["lsb", "lsb", "lsb"]);
            }
            let unit = g.rng.pick(&units);
            g.tag(format!("{place}.sigma.{}", if unit.is_empty() { "plain" } else { unit }));
            let v = match unit {
                "fs" => g.rng.pick(&[0.01, 0.06, 0.2]),
                "lsb" => g.rng.pick(&[0.5, 1.0, 2.0]),
                _ => g.rng.pick(&[0.0, 0.01, 0.05, 0.05, 0.2, 0.2]),
            };
            if unit.is_empty() {
                format!("{v}")
            } else {
                format!("{v} {unit}")
            }
        };
        let ratio = |g: &mut Gen| -> String {
            if g.rng.chance(0.5) {
                format!("{}{}", g.rng.pick(&[1, 5, 20]), g.rng.pick(&[" %", "%"]))
            } else {
                format!("{}", g.rng.pick(&[0.0, 0.02, 0.1]))
            }
        };
        // Mixed noise on element-wise nodes and repeats on inputs once broke
        // the JIT: tests/fixtures/jit/repro_mixed_noise_elementwise.anl,
        // repro_input_noise_repeat.anl.
        let (design, mut args) = match self.rng.weighted(&[4, 2, 2, 1]) {
            0 => {
                self.tag(format!("{place}.additive"));
                ("additive", vec![format!("sigma = {}", additive(self))])
            }
            1 => {
                self.tag(format!("{place}.multiplicative"));
                ("multiplicative", vec![format!("sigma = {}", ratio(self))])
            }
            2 => {
                self.tag(format!("{place}.mixed"));
                ("mixed", vec![format!("add = {}", additive(self)), format!("mul = {}", ratio(self))])
            }
            _ => {
                self.tag(format!("{place}.mixed_amplitude"));
                let a = self.rng.pick(&[0.05, 0.2]);
                let r = if self.rng.chance(0.5) {
                    "25 %".to_string()
                } else {
                    format!("{}", self.rng.pick(&[0.0, 0.5, 1.0]))
                };
                ("mixed", vec![format!("amplitude = {a}"), format!("ratio = {r}")])
            }
        };
        if args.len() == 2 && self.rng.chance(0.5) {
            let order = self.rng.pick(&["mul_first", "add_first"]);
            self.tag(format!("{place}.mixed.{order}"));
            args.push(format!("order = {order}"));
        }
        let draw = match self.rng.below(3) {
            0 => None,
            1 => Some("dynamic"),
            _ => Some("static"),
        };
        let dynamic = draw.map_or(!u.weights, |d| d == "dynamic");
        self.tag(format!("{place}.draw.{}", if dynamic { "dynamic" } else { "static" }));
        if let Some(d) = draw {
            args.push(format!("draw = {d}"));
        }
        if dynamic && self.rng.chance(0.3) {
            let r = self.rng.range(1, 3);
            self.tag(format!("{place}.repeat"));
            args.push(format!("repeat = {r}"));
        }
        if self.rng.chance(0.15) {
            let during = self.rng.pick(&["eval", "both", "train"]);
            self.tag(format!("{place}.during.{during}"));
            args.push(format!("during = {during}"));
        }
        format!("{design}({})", args.join(", "))
    }

    /// The effective effects of a MAC layer that sums `k` products.
    fn mac_effects(&mut self, k: usize) -> Effects {
        let mut eff = Effects::default();
        let fmt = match self.rng.weighted(&[3, 3, 2, 2]) {
            0 => Fmt::Fp32,
            1 => Fmt::Int8 { signed: self.rng.chance(0.6) },
            2 => Fmt::Abfp,
            _ => Fmt::AnalogInt,
        };
        eff[FORMAT] = match fmt {
            Fmt::Fp32 => self.rng.chance(0.2).then(|| "fp32".into()),
            Fmt::Int8 { signed } => Some(self.int8(signed)),
            Fmt::Abfp => Some(self.abfp(k)),
            Fmt::AnalogInt => Some(self.analog_int(k)),
        };
        let adc = matches!(fmt, Fmt::Abfp | Fmt::AnalogInt);
        eff[MULTIPLIER] = match fmt {
            Fmt::Int8 { signed } => self.multiplier(signed),
            _ => self.rng.chance(0.1).then(|| "exact".into()),
        };
        eff[ACCUMULATE] = if adc { self.rng.chance(0.1).then(|| "exact".into()) } else { self.accumulate() };
        eff[WEIGHT_NOISE] = match self.rng.weighted(&[12, 1, 6]) {
            0 => None,
            1 => Some("none".into()),
            _ => Some(self.noise(Units { fs: true, lsb: false, weights: true }, "weight_noise")),
        };
        eff[NOISE] = match self.rng.weighted(&[9, 1, 8]) {
            0 => None,
            1 => Some("none".into()),
            _ => Some(self.noise(Units { fs: true, lsb: adc, weights: false }, "noise")),
        };
        eff
    }

    fn int8(&mut self, signed: bool) -> String {
        let lo = self.rng.pick(&[-2.0, -1.0, -0.5, 0.0, 0.1, -1.5]);
        let hi = if lo >= 0.0 || self.rng.chance(0.8) { lo + self.rng.pick(&[0.5, 1.0, 2.0, 4.0]) } else { lo * 0.2 };
        let mut args = vec![format!("input_range = [{lo}, {hi}]")];
        if !signed {
            args.push("signed = false".into());
        } else if self.rng.chance(0.2) {
            args.push("signed = true".into());
        }
        match self.rng.below(3) {
            0 => {
                args.push("weight_scale = per_tensor".into());
                self.tag("format.int8.per_tensor");
            }
            1 => args.push("weight_scale = per_channel".into()),
            _ => {}
        }
        self.tag(format!("format.int8.{}", if signed { "signed" } else { "unsigned" }));
        let n = args.len();
        let r = self.rng.below(n);
        args.rotate_left(r);
        format!("int8({})", args.join(", "))
    }

    fn abfp(&mut self, k: usize) -> String {
        let block = match self.rng.below(4) {
            0 => 1,
            1 => k + self.rng.range(0, 3),
            _ => self.rng.range(1, k.max(2)),
        };
        let mut args = vec![
            format!("block = {block}"),
            format!("input_bits = {}", self.rng.pick(&[2, 4, 6, 8, 10, 16])),
            format!("weight_bits = {}", self.rng.pick(&[2, 5, 7, 8, 12])),
            format!("adc_bits = {}", self.rng.pick(&[2, 6, 8, 11, 16, 24])),
        ];
        if self.rng.chance(0.6) {
            args.push(format!("gain = {}", self.rng.pick(&[0.5, 1.0, 1.86, 2.0, 8.0])));
        }
        if self.rng.chance(0.5) {
            args.push(format!("adc_noise = {} lsb", self.rng.pick(&[0.0, 0.5, 1.0, 2.0])));
            self.tag("format.abfp.adc_noise");
            if self.rng.chance(0.5) {
                let kind = self.rng.pick(&["gaussian", "uniform"]);
                self.tag(format!("format.abfp.adc_noise.{kind}"));
                args.push(format!("adc_noise_kind = {kind}"));
            }
        }
        self.tag("format.abfp");
        format!("abfp({})", args.join(", "))
    }

    fn analog_int(&mut self, k: usize) -> String {
        let block = match self.rng.below(3) {
            0 => k + self.rng.range(0, 2),
            _ => self.rng.range(1, k.max(2)),
        };
        let mut args = vec![format!("block = {block}"), format!("input_bits = {}", self.rng.pick(&[1, 3, 5, 8]))];
        if self.rng.chance(0.4) {
            args.push("input_signed = true".into());
            self.tag("format.analog_int.signed");
        }
        args.push(format!("weight_bits = {}", self.rng.pick(&[2, 4, 6, 8])));
        args.push(format!("adc_bits = {}", self.rng.pick(&[4, 6, 8, 10])));
        args.push(format!("gain = {}", self.rng.pick(&[0.002, 0.25, 0.5, 1.0, 2.0])));
        args.push(format!("input_scale = {}", self.rng.pick(&["1/31", "0.01", "0.05", "1/255", "0.2"])));
        if self.rng.chance(0.5) {
            args.push(format!("adc_noise = {} lsb", self.rng.pick(&[0.0, 1.0, 2.0])));
            self.tag("format.analog_int.adc_noise");
        }
        self.tag("format.analog_int");
        format!("analog_int({})", args.join(", "))
    }

    fn multiplier(&mut self, signed: bool) -> Option<String> {
        let m = match self.rng.weighted(&[3, 1, 2, 2, 2, 3]) {
            0 => return None,
            1 => "exact".to_string(),
            2 => "mitchell".to_string(),
            3 => format!("drum({})", self.rng.range(3, 8)),
            4 => format!("truncated({})", self.rng.range(1, 15)),
            _ => {
                if signed {
                    let file =
                        self.rng.pick(&self.tables.signed.iter().map(String::as_str).collect::<Vec<_>>()).to_string();
                    let layout = self.rng.pick(&["torchapprox", "adapt"]);
                    let explicit = if self.rng.chance(0.3) { ", signed = true" } else { "" };
                    format!("table(\"{file}\", layout = {layout}{explicit})")
                } else {
                    let file = self.tables.unsigned[0].clone();
                    let explicit = if self.rng.chance(0.3) { ", signed = false" } else { "" };
                    format!("table(\"{file}\", layout = tfapprox{explicit})")
                }
            }
        };
        let kind = m.split('(').next().unwrap_or_default().to_string();
        self.tag(format!("multiplier.{kind}"));
        Some(m)
    }

    fn accumulate(&mut self) -> Option<String> {
        let bounds = |g: &mut Gen| -> (f64, f64) {
            let hi = g.rng.pick(&[0.05, 0.2, 0.5, 1.0, 4.0]);
            let lo = if g.rng.chance(0.1) { hi / 4.0 } else { -hi * g.rng.pick(&[0.5, 1.0, 2.0]) };
            (lo, hi)
        };
        Some(match self.rng.weighted(&[4, 1, 2, 4]) {
            0 => return None,
            1 => "exact".into(),
            2 => {
                let (lo, hi) = bounds(self);
                self.tag("accumulate.clamp");
                format!("clamp(lo = {lo}, hi = {hi})")
            }
            _ => {
                let (lo, hi) = bounds(self);
                let mut args = vec![];
                let orders =
                    ["natural", "reversed", "ascending", "descending", "positive_first", "negative_first", "random"];
                let order = self.rng.pick(&orders);
                self.tag(format!("accumulate.ordered.{order}"));
                if order != "natural" || self.rng.chance(0.5) {
                    args.push(format!("order = {order}"));
                }
                args.push(format!("lo = {lo}"));
                args.push(format!("hi = {hi}"));
                if self.rng.chance(0.6) {
                    args.push(format!("leak = {}", self.rng.pick(&[0.5, 0.9, 0.99, 1.0])));
                }
                format!("ordered({})", args.join(", "))
            }
        })
    }

    /// Writes the layer `name = call [on PROFILE] [{ block }]` so that its
    /// effective effects are `eff`: directly, or through a (new or existing)
    /// profile with the layer's block overriding what differs.
    fn emit(&mut self, name: &str, call: &str, eff: &Effects, class: Class) {
        let mut line = format!("  {name} = {call}");
        if class == Class::Digital {
            self.body.push(line);
            return;
        }
        let set: Vec<usize> = (0..5).filter(|k| eff[*k].is_some()).collect();
        let mut base: Option<(String, Effects)> = None;
        if class == Class::Mac && !set.is_empty() && self.rng.chance(0.2) {
            let mut own = Effects::default();
            for k in &set {
                if self.rng.chance(0.6) {
                    own[*k] = eff[*k].clone();
                }
            }
            if own.iter().all(Option::is_none) {
                own[set[0]] = eff[set[0]].clone();
            }
            // Sometimes a noise the layer does not want: the block resets it.
            if eff[NOISE].is_none() && self.rng.chance(0.3) {
                own[NOISE] = Some("additive(sigma = 0.3)".into());
                self.tag("profile.overridden");
            }
            let extends =
                (!self.profiles.is_empty() && self.rng.chance(0.4)).then(|| self.rng.below(self.profiles.len()));
            let mut merged = extends.map(|p| self.profiles[p].merged.clone()).unwrap_or_default();
            for k in 0..5 {
                if own[k].is_some() {
                    merged[k] = own[k].clone();
                }
            }
            let pname = format!("p{}", self.profiles.len());
            self.tag(if extends.is_some() { "profile.extends" } else { "profile.new" });
            self.profiles.push(Profile {
                name: pname.clone(),
                extends: extends.map(|p| self.profiles[p].name.clone()),
                own,
                merged: merged.clone(),
            });
            base = Some((pname, merged));
        } else if !self.profiles.is_empty() && self.rng.chance(0.25) {
            let p = &self.profiles[self.rng.below(self.profiles.len())];
            base = Some((p.name.clone(), p.merged.clone()));
            self.tag("profile.reused");
        } else if self.rng.chance(0.05) {
            base = Some(("digital".into(), Effects::default()));
            self.tag("profile.digital");
        }
        let inherited = base.as_ref().map(|b| b.1.clone()).unwrap_or_default();
        let mut block = vec![];
        for k in 0..5 {
            // What differs from the profile, and now and then a redundant repeat of it.
            let restate = base.is_some() && eff[k].is_some() && self.rng.chance(0.1);
            if inherited[k] != eff[k] || restate {
                block.push(format!("{} {}", KEYS[k], eff[k].as_deref().unwrap_or(IDEAL[k])));
            }
        }
        let r = self.rng.below(block.len().max(1));
        block.rotate_left(r);
        if let Some((p, _)) = &base {
            line += &format!(" on {p}");
        }
        if !block.is_empty() {
            if block.len() == 1 && self.rng.chance(0.5) {
                line += &format!(" {{ {} }}", block[0]);
            } else {
                line += " {\n";
                for b in block {
                    line += &format!("    {b}\n");
                }
                line += "  }";
            }
        }
        self.body.push(line);
    }

    /// The safetensors file of the generated weights.
    fn safetensors(&self) -> Vec<u8> {
        let mut header = String::from("{");
        let mut data = vec![];
        for (i, (name, shape, values)) in self.weights.iter().enumerate() {
            let start = data.len();
            for v in values {
                data.extend_from_slice(&v.to_le_bytes());
            }
            if i > 0 {
                header.push(',');
            }
            header += &format!(
                "\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{start},{}]}}",
                shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","),
                data.len()
            );
        }
        header.push('}');
        while header.len() % 8 != 0 {
            header.push(' ');
        }
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&data);
        out
    }
}

// ---------------------------------------------------------------- running

/// Deterministic input values of sample `sample` for every input node: u8
/// inputs get byte values (with extra 0s and 255s), f32 inputs values in
/// [−1.5, 1.5] with zeros, negative zeros and ties.
fn sample_inputs(g: &Graph, seed: u64, sample: usize) -> Vec<Vec<f32>> {
    g.nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Input { shape, dtype, .. } => {
                let mut rng = Rng::new(seed ^ fnv(&n.name) ^ (sample as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
                let len: usize = shape.iter().product();
                Some(
                    (0..len)
                        .map(|_| match dtype {
                            Dtype::U8 => match rng.below(10) {
                                0 => 0.0,
                                1 => 255.0,
                                _ => rng.below(256) as f32,
                            },
                            Dtype::F32 => match rng.below(16) {
                                0 | 1 => 0.0,
                                2 => -0.0,
                                3 | 4 => rng.pick(&[-1.0, -0.5, -0.25, 0.25, 0.5, 1.0]),
                                _ => rng.uniform(-1.5, 1.5),
                            },
                        })
                        .collect(),
                )
            }
            _ => None,
        })
        .collect()
}

fn same(a: f32, b: f32) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The first difference, if any (as `tests/jit.rs`).
fn compare(want: &[Vec<f32>], got: &[Vec<f32>], samples: usize) -> Result<(), String> {
    for (o, (w, g)) in want.iter().zip(got).enumerate() {
        if w.len() != g.len() {
            return Err(format!("output {o}: {} values, interpreter {}", g.len(), w.len()));
        }
        if let Some(i) = (0..w.len()).find(|i| !same(w[*i], g[*i])) {
            return Err(format!(
                "output {o} element {i} of {} (the run's sample {}): interpreter {:e} ({:#010x}), jit {:e} ({:#010x})",
                w.len(),
                i / (w.len() / samples).max(1),
                w[i],
                w[i].to_bits(),
                g[i],
                g[i].to_bits()
            ));
        }
    }
    Ok(())
}

/// Checks, lowers, optimizes and runs `path` on the interpreter and the JIT;
/// the disagreements found (or why it could not run).
fn differences(path: &Path, seed: u64) -> Vec<String> {
    let loader = FsLoader::default();
    let fe = check_file(path, &loader);
    let Some(model) = fe.model else {
        return vec![format!(
            "generator bug: the model does not check:\n{}",
            render::to_string(&fe.map, &fe.diags.list)
        )];
    };
    let mut l = match lower(&model, &loader) {
        Ok(l) => l,
        Err(d) => return vec![format!("does not lower:\n{}", render::to_string(&fe.map, &[*d]))],
    };
    run_pipeline(&mut l);
    let g = &l.graph;
    // The run's seed, chip, first sample index and sample count vary with
    // the model: small and large (all 64 bits of the seed, indices near 2³²).
    let mut rng = Rng::new(!seed);
    let run_seed = if rng.chance(0.5) { rng.next() % 1000 } else { rng.next() };
    let trial = if rng.chance(0.7) { rng.below(4) as u32 } else { rng.next() as u32 };
    let base = if rng.chance(0.5) { 0 } else { rng.next() as u32 % (u32::MAX - 1000) };
    let samples = if rng.chance(0.1) { MANY_SAMPLES } else { SAMPLES };
    let inputs: Vec<Vec<Vec<f32>>> = (0..samples).map(|s| sample_inputs(g, seed, s)).collect();
    let run = format!("run seed {run_seed}, trial {trial}, samples {base}..{}", base as usize + samples);

    let interp = match Interpreter::new(g, |p| std::fs::read(p)) {
        Ok(i) => i,
        Err(e) => return vec![format!("the interpreter cannot load the model: {e}")],
    };
    let chip = interp.trial(run_seed, trial);
    let mut want: Vec<Vec<f32>> = vec![vec![]; g.outputs.len()];
    for (s, x) in inputs.iter().enumerate() {
        let refs: Vec<&[f32]> = x.iter().map(|v| &v[..]).collect();
        for (o, y) in want.iter_mut().zip(interp.run(&chip, base + s as u32, &refs)) {
            o.extend(y);
        }
    }

    let mut found = vec![];
    for kernels in [Kernels::Native, Kernels::Cranelift] {
        let compiled = match jit::compile(g, kernels) {
            Ok(c) => c,
            Err(e) => {
                found.push(format!("{kernels:?}: does not compile: {e}"));
                continue;
            }
        };
        let chip = compiled.chip(run_seed, trial);
        // One workspace for every call: nothing may leak from one batch to the next.
        let mut ws = compiled.workspace();
        for split in [samples, SPLIT] {
            let mut got: Vec<Vec<f32>> = vec![vec![]; g.outputs.len()];
            let mut first = 0;
            while first < samples {
                let n = split.min(samples - first);
                let joined: Vec<Vec<f32>> = (0..inputs[0].len())
                    .map(|i| (first..first + n).flat_map(|s| inputs[s][i].iter().copied()).collect())
                    .collect();
                let refs: Vec<&[f32]> = joined.iter().map(|v| &v[..]).collect();
                for (o, y) in got.iter_mut().zip(compiled.run(&chip, &mut ws, base + first as u32, &refs, n)) {
                    o.extend(y);
                }
                first += n;
            }
            if let Err(e) = compare(&want, &got, samples) {
                found.push(format!("{kernels:?}, calls of {split} samples: {e} ({run})"));
            }
        }
    }
    found
}

/// The seeds to run: `DEFAULT_SEEDS`, or `ANALOGC_DIFF_SEEDS` (`N` or `A..B`).
fn seeds() -> std::ops::Range<u64> {
    match std::env::var("ANALOGC_DIFF_SEEDS") {
        Ok(v) => match v.split_once("..") {
            Some((a, b)) => a.trim().parse().expect("ANALOGC_DIFF_SEEDS=A..B")..b.trim().parse().expect("A..B"),
            None => 0..v.trim().parse().expect("ANALOGC_DIFF_SEEDS=N"),
        },
        Err(_) => 0..DEFAULT_SEEDS,
    }
}

/// Constructs the default seeds must generate at least once, so the
/// generator cannot silently stop covering them.
const REQUIRED: &[&str] = &[
    "op.dense",
    "op.linear",
    "op.conv2d",
    "op.conv2d.groups",
    "op.maxpool2d.rank3",
    "op.avgpool2d.rank3",
    "op.relu.rank1",
    "op.sigmoid.rank1",
    "op.tanh.rank1",
    "op.softmax.rank1",
    "op.batchnorm.rank1",
    "op.batchnorm.rank3",
    "op.denoise.rank1",
    "op.denoise.rank3",
    "op.add",
    "op.flatten.rank1",
    "op.leaky_relu.rank1",
    "op.leaky_relu.rank3",
    "op.clip.rank1",
    "op.clip.rank3",
    "op.relu6.rank3",
    "op.globalavgpool.rank1",
    "op.concat.rank1",
    "op.concat.rank3",
    "op.conv1d",
    "op.conv1d.groups",
    "op.conv1d.per_side_padding",
    "op.conv2d.per_side_padding",
    "op.maxpool2d.per_side_padding",
    "op.avgpool2d.per_side_padding",
    "op.maxpool1d.rank2",
    "op.avgpool1d.rank2",
    "op.hard_sigmoid.rank1",
    "op.hard_sigmoid.rank3",
    "op.hard_swish.rank1",
    "op.hard_swish.rank3",
    "op.batchnorm.rank2",
    "input.u8.rank3",
    "input.f32.rank1",
    "input.normalize",
    "input.reshape",
    "input.flatten",
    "input.additive",
    "format.int8.signed",
    "format.int8.unsigned",
    "format.int8.per_tensor",
    "format.abfp",
    "format.abfp.adc_noise.uniform",
    "format.analog_int",
    "format.analog_int.signed",
    "multiplier.exact",
    "multiplier.mitchell",
    "multiplier.drum",
    "multiplier.truncated",
    "multiplier.table",
    "accumulate.clamp",
    "accumulate.ordered.natural",
    "accumulate.ordered.reversed",
    "accumulate.ordered.ascending",
    "accumulate.ordered.descending",
    "accumulate.ordered.positive_first",
    "accumulate.ordered.negative_first",
    "accumulate.ordered.random",
    "weight_noise.additive",
    "weight_noise.multiplicative",
    "weight_noise.mixed",
    "weight_noise.sigma.fs",
    "weight_noise.draw.static",
    "weight_noise.draw.dynamic",
    "noise.additive",
    "noise.multiplicative",
    "noise.mixed",
    "noise.mixed_amplitude",
    "noise.sigma.fs",
    "noise.sigma.lsb",
    "noise.draw.static",
    "noise.repeat",
    "op.additive",
    "op.repeat",
    "op.mixed",
    "input.mixed",
    "input.repeat",
    "output.inner",
    "weights.zero",
    "weights.zero_row",
    "profile.new",
    "profile.extends",
    "profile.reused",
];

#[test]
fn jit_agrees_with_the_interpreter_on_random_models() {
    // `ANALOGC_DIFF_FILE=path/model.anl`: that one model (a kept failure, a
    // minimized reproducer) instead of generated ones.
    if let Ok(file) = std::env::var("ANALOGC_DIFF_FILE") {
        // The seed of the run and the inputs: from the generated header comment.
        let text = std::fs::read_to_string(&file).expect("readable model");
        let seed = text
            .lines()
            .find_map(|l| l.strip_prefix("// tests/differential.rs, seed "))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let found = differences(Path::new(&file), seed);
        assert!(found.is_empty(), "{file}:\n  {}", found.join("\n  "));
        return;
    }
    let start = Instant::now();
    let tables = Tables::new();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("differential-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp folder");
    let seeds = seeds();
    let all: Vec<u64> = seeds.clone().collect();
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(vec![]);
    let tags: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    // `ANALOGC_DIFF_KEEP=1` keeps every generated model, not only failing ones.
    let keep = std::env::var_os("ANALOGC_DIFF_KEEP").is_some();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = all.get(i) else { break };
                let file = dir.join(format!("seed_{seed}.anl"));
                let weights = dir.join(format!("seed_{seed}.safetensors"));
                let mut gen = Gen::new(seed, &tables);
                let text = gen.model(seed, &format!("seed_{seed}.safetensors"));
                std::fs::write(&file, &text).expect("model written");
                std::fs::write(&weights, gen.safetensors()).expect("weights written");
                for (t, n) in gen.tags {
                    *tags.lock().unwrap().entry(t).or_default() += n;
                }
                let found = catch_unwind(AssertUnwindSafe(|| differences(&file, seed)))
                    .unwrap_or_else(|e| {
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        vec![format!("panicked: {msg}")]
                    });
                if found.is_empty() {
                    if !keep {
                        let _ = std::fs::remove_file(&file);
                        let _ = std::fs::remove_file(&weights);
                    }
                } else {
                    let report = format!(
                        "seed {seed}: {} (weights {} next to it; rerun: ANALOGC_DIFF_SEEDS={seed}..{})\n  {}\n--- {}\n{text}---",
                        file.display(),
                        weights.file_name().unwrap_or_default().to_string_lossy(),
                        seed + 1,
                        found.join("\n  "),
                        file.display(),
                    );
                    failures.lock().unwrap().push((seed, report));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|f| f.0);
    let tags = tags.into_inner().unwrap();
    eprintln!(
        "differential: {} models in {:.1} s on {threads} threads, {} failing; constructs generated:",
        all.len(),
        start.elapsed().as_secs_f64(),
        failures.len()
    );
    for (t, n) in &tags {
        eprintln!("  {t}: {n}");
    }
    if failures.is_empty() && !keep {
        let _ = std::fs::remove_dir(&dir);
    }
    assert!(
        failures.is_empty(),
        "{} of {} random models disagree (files kept in {}):\n\n{}",
        failures.len(),
        all.len(),
        dir.display(),
        failures.into_iter().map(|f| f.1).collect::<Vec<_>>().join("\n\n")
    );
    if seeds == (0..DEFAULT_SEEDS) {
        let missing: Vec<&str> = REQUIRED.iter().copied().filter(|t| !tags.contains_key(*t)).collect();
        assert!(missing.is_empty(), "the default seeds no longer generate: {}", missing.join(", "));
    }
}
