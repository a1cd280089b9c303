//! The stable text form of a graph (`analogc emit --stage ir|opt`).

use super::hardware::*;
use super::{Graph, NodeKind, NoiseSite, Step};
use std::fmt::Write;

pub fn print_graph(g: &Graph) -> String {
    let mut out = format!("graph {}\n", g.name);
    for id in g.ids() {
        let n = g.node(id);
        let head = match &n.kind {
            NodeKind::Input { dtype, shape, .. } => format!("input {:?}{}", dtype, dims(shape)).to_lowercase(),
            NodeKind::Op { op, inputs } => {
                let args: Vec<_> = inputs.iter().map(|i| format!("%{}", i.0)).collect();
                format!("{}({}){}", op.name(), args.join(", "), attrs(op))
            }
        };
        let _ = writeln!(out, "  %{} {} = {head} -> {}", id.0, n.name, dims(&n.shape));
        if let NodeKind::Input { steps, .. } = &n.kind {
            if !steps.is_empty() {
                let s: Vec<_> = steps.iter().map(step).collect();
                let _ = writeln!(out, "      steps {}", s.join(", "));
            }
        }
        for p in &n.params {
            let _ = writeln!(out, "      {} {:?} {}", p.role, p.name, dims(&p.value.shape));
        }
        if let Some(w) = &n.hw.weight_noise {
            let _ = writeln!(out, "      weight_noise {}", noise(w));
        }
        match &n.hw.format {
            Format::Fp32 => {}
            f => {
                let _ = writeln!(out, "      format {}", format_(f));
            }
        }
        match &n.hw.multiplier {
            Multiplier::Exact => {}
            m => {
                let _ = writeln!(out, "      multiplier {}", multiplier(m));
            }
        }
        match &n.hw.accumulate {
            Accumulate::Exact => {}
            a => {
                let _ = writeln!(out, "      accumulate {}", accumulate(a));
            }
        }
        if let Some(p) = &n.prepared {
            let _ = writeln!(out, "      prepared {}", prepared(p));
        }
        if let Some(s) = &n.hw.noise {
            let _ = writeln!(out, "      noise {}", noise(s));
        }
    }
    for (name, id) in &g.outputs {
        let _ = writeln!(out, "  output {name} = %{}", id.0);
    }
    out
}

/// A shape as the printer and messages show it: `[1, 28, 28]`.
pub fn dims(shape: &[usize]) -> String {
    format!("[{}]", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

/// Shortest round-trip form; whole numbers without a fraction.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

fn nums(v: &[f64]) -> String {
    format!("[{}]", v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", "))
}

fn attrs(op: &super::Op) -> String {
    use super::Op::*;
    let pair = |p: &[usize; 2]| format!("[{}, {}]", p[0], p[1]);
    // Symmetric padding prints as `[h, w]`, asymmetric as `[top, bottom, left, right]`.
    let padding = |p: &super::op::Padding2d| match p {
        [[t, b], [l, r]] if t == b && l == r => pair(&[*t, *l]),
        [[t, b], [l, r]] => format!("[{t}, {b}, {l}, {r}]"),
    };
    // One-axis padding prints as one number when symmetric, else `[left, right]`.
    let padding_1d = |p: &[usize; 2]| if p[0] == p[1] { p[0].to_string() } else { pair(p) };
    match op {
        Dense { out } => format!(" out={out}"),
        Conv2d { out, kernel, stride, padding: p, groups } => {
            format!(" out={out} kernel={} stride={} padding={} groups={groups}", pair(kernel), pair(stride), padding(p))
        }
        Conv1d { out, kernel, stride, padding: p, groups } => {
            format!(" out={out} kernel={kernel} stride={stride} padding={} groups={groups}", padding_1d(p))
        }
        MaxPool2d { kernel, stride, padding: p } | AvgPool2d { kernel, stride, padding: p } => {
            format!(" kernel={} stride={} padding={}", pair(kernel), pair(stride), padding(p))
        }
        MaxPool1d { kernel, stride, padding: p } | AvgPool1d { kernel, stride, padding: p } => {
            format!(" kernel={kernel} stride={stride} padding={}", padding_1d(p))
        }
        BatchNorm { eps } => format!(" eps={}", num(*eps)),
        LeakyRelu { slope } => format!(" slope={}", num(*slope)),
        Clip { min, max } => format!(" min={} max={}", num(*min), num(*max)),
        HardSigmoid { alpha, beta } => format!(" alpha={} beta={}", num(*alpha), num(*beta)),
        Denoise { hidden, kernel } => format!(" hidden={hidden} kernel={kernel}"),
        Flatten | Relu | HardSwish | Sigmoid | Tanh | Softmax | Add | GlobalAvgPool | Concat => String::new(),
    }
}

fn step(s: &Step) -> String {
    match s {
        Step::Scale(f) => format!("scale({})", num(*f)),
        Step::Normalize { mean, std } => format!("normalize(mean={}, std={})", nums(mean), nums(std)),
        Step::Reshape(d) => format!("reshape({})", dims(d)),
        Step::Flatten => "flatten".into(),
    }
}

fn sigma(s: &Sigma) -> String {
    let unit = match s.unit {
        SigmaUnit::Abs => "abs",
        SigmaUnit::Lsb => "lsb",
        SigmaUnit::FullScale => "fs",
    };
    format!("{} {unit}", num(s.value))
}

fn noise(s: &NoiseSite) -> String {
    let n = &s.noise;
    let kind = match &n.kind {
        NoiseKind::Off => "none".to_string(),
        NoiseKind::Additive { sigma: sg } => format!("additive(sigma={})", sigma(sg)),
        NoiseKind::Multiplicative { sigma: sg } => format!("multiplicative(sigma={})", num(*sg)),
        NoiseKind::Mixed { add, mul, order } => {
            let order = match order {
                MixOrder::MulFirst => "mul_first",
                MixOrder::AddFirst => "add_first",
            };
            format!("mixed(add={}, mul={}, order={order})", sigma(add), num(*mul))
        }
    };
    let draw = match n.draw {
        Draw::Dynamic => "dynamic",
        Draw::Static => "static",
    };
    let during = match n.during {
        Phase::Eval => "eval",
        Phase::Train => "train",
        Phase::Both => "both",
    };
    format!("#{} {kind} draw={draw} repeat={} during={during}", s.site, n.repeat)
}

fn accumulate(a: &Accumulate) -> String {
    match a {
        Accumulate::Exact => "exact".into(),
        Accumulate::Clamp { lo, hi } => format!("clamp(lo={}, hi={})", num(*lo), num(*hi)),
        Accumulate::Ordered { order, lo, hi, leak } => {
            let order = order.name();
            format!("ordered(order={order}, lo={}, hi={}, leak={})", num(*lo), num(*hi), num(*leak))
        }
    }
}

fn format_(f: &Format) -> String {
    match f {
        Format::Fp32 => "fp32".into(),
        Format::Abfp { block, input_bits, weight_bits, adc_bits, gain, adc_noise, adc_noise_kind } => format!(
            "abfp(block={block}, input_bits={input_bits}, weight_bits={weight_bits}, adc_bits={adc_bits}, gain={}, adc_noise={} lsb {})",
            num(*gain),
            num(*adc_noise),
            format!("{adc_noise_kind:?}").to_lowercase()
        ),
        Format::Int8 { signed, weight_scale, input_range } => format!(
            "int8(signed={signed}, weight_scale={}, input_range={})",
            match weight_scale {
                WeightScale::PerTensor => "per_tensor",
                WeightScale::PerChannel => "per_channel",
            },
            nums(input_range)
        ),
        Format::AnalogInt { block, input_bits, input_signed, weight_bits, adc_bits, gain, input_scale, adc_noise } => format!(
            "analog_int(block={block}, input_bits={input_bits}, input_signed={input_signed}, weight_bits={weight_bits}, adc_bits={adc_bits}, gain={}, input_scale={}, adc_noise={} lsb)",
            num(*gain),
            num(*input_scale),
            num(*adc_noise)
        ),
    }
}

fn multiplier(m: &Multiplier) -> String {
    match m {
        Multiplier::Exact => "exact".into(),
        Multiplier::Mitchell => "mitchell".into(),
        Multiplier::Truncated { bits } => format!("truncated({bits})"),
        Multiplier::Drum { k } => format!("drum({k})"),
        Multiplier::Table { path, layout, signed } => format!(
            "table({:?}, layout={}, signed={signed})",
            path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            format!("{layout:?}").to_lowercase()
        ),
    }
}

fn prepared(p: &crate::quant::Prepared) -> String {
    use crate::quant::Prepared::*;
    match p {
        Int8 { codes, scales, .. } => format!("int8 codes[{}] scales[{}]", codes.len(), scales.len()),
        Abfp { mantissas, scales, tiles } => {
            format!("abfp mantissas[{}] scales[{}] tiles={tiles}", mantissas.len(), scales.len())
        }
        AnalogInt { codes, scale } => format!("analog_int codes[{}] scale={scale:?}", codes.len()),
    }
}
