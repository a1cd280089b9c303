//! The layer operations as the language spells them: their parameters, the
//! [`Op`] a call builds, and the names of the weight tensors it reads (their
//! shapes, like the output shapes, are the IR's rules: [`Op::param_shapes`]).

use super::args::{param, positional, repeated, required, Args, Bound, Kind, Param, Val};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::syntax::ast::Call;
pub use analog_runtime::ir::op::Op;

const INPUT: Param = positional("input", Kind::Tensor);
const BIAS: Param = param("bias", Kind::BoolOrStr);
const WEIGHT: Param = param("weight", Kind::Str);
/// A state_dict prefix `P`: the layer's tensors are `P.weight`, `P.bias`….
const WEIGHTS: Param = param("weights", Kind::Str);
const PAIR: Kind = Kind::IntPair { min: 1 };
const PADDING_2D: Kind = Kind::Padding { axes: 2, max: 1 << 20 };
const PADDING_1D: Kind = Kind::Padding { axes: 1, max: 1 << 24 };

const DENSE: &[Param] = &[INPUT, positional("out", Kind::Int { min: 1, max: 1 << 24 }), BIAS, WEIGHT, WEIGHTS];
const CONV: &[Param] = &[
    INPUT,
    positional("out", Kind::Int { min: 1, max: 1 << 20 }),
    positional("kernel", PAIR),
    param("stride", PAIR),
    param("padding", PADDING_2D),
    param("groups", Kind::Int { min: 1, max: 1 << 20 }),
    BIAS,
    WEIGHT,
    WEIGHTS,
];
const CONV1D: &[Param] = &[
    INPUT,
    positional("out", Kind::Int { min: 1, max: 1 << 20 }),
    positional("kernel", Kind::Int { min: 1, max: 1 << 24 }),
    param("stride", Kind::Int { min: 1, max: 1 << 24 }),
    param("padding", PADDING_1D),
    param("groups", Kind::Int { min: 1, max: 1 << 20 }),
    BIAS,
    WEIGHT,
    WEIGHTS,
];
const POOL: &[Param] = &[INPUT, positional("kernel", PAIR), param("stride", PAIR), param("padding", PADDING_2D)];
const WHOLE: Kind = Kind::Int { min: 1, max: 1 << 24 };
const POOL1D: &[Param] = &[INPUT, positional("kernel", WHOLE), param("stride", WHOLE), param("padding", PADDING_1D)];
const UNARY: &[Param] = &[INPUT];
const BATCHNORM: &[Param] = &[
    INPUT,
    param("eps", Kind::Float { min: Bound::Excl(0.0), max: Bound::Incl(1.0), units: &[] }),
    WEIGHT,
    param("bias", Kind::Str),
    param("running_mean", Kind::Str),
    param("running_var", Kind::Str),
    WEIGHTS,
];
const ADD: &[Param] = &[INPUT, positional("other", Kind::Tensor)];
const CONCAT: &[Param] = &[INPUT, repeated("other", Kind::Tensor)];
const NUMBER: Kind = Kind::Float { min: Bound::None, max: Bound::None, units: &[] };
const LEAKY_RELU: &[Param] = &[INPUT, param("slope", NUMBER)];
const CLIP: &[Param] = &[INPUT, required("min", NUMBER), required("max", NUMBER)];
const HARD_SIGMOID: &[Param] = &[INPUT, param("alpha", NUMBER), param("beta", NUMBER)];
const DENOISE: &[Param] =
    &[INPUT, positional("hidden", Kind::Int { min: 1, max: 1 << 20 }), param("kernel", Kind::Int { min: 1, max: 15 })];

pub const OPS: &[(&str, &[Param])] = &[
    ("dense", DENSE),
    ("linear", DENSE),
    ("conv2d", CONV),
    ("conv1d", CONV1D),
    ("maxpool2d", POOL),
    ("avgpool2d", POOL),
    ("maxpool1d", POOL1D),
    ("avgpool1d", POOL1D),
    ("flatten", UNARY),
    ("relu", UNARY),
    ("leaky_relu", LEAKY_RELU),
    ("clip", CLIP),
    ("relu6", UNARY),
    ("hard_sigmoid", HARD_SIGMOID),
    ("hard_swish", UNARY),
    ("sigmoid", UNARY),
    ("tanh", UNARY),
    ("softmax", UNARY),
    ("batchnorm", BATCHNORM),
    ("add", ADD),
    ("concat", CONCAT),
    ("globalavgpool", UNARY),
    ("denoise", DENOISE),
];

fn pair(args: &Args, name: &str, default: [i64; 2]) -> [usize; 2] {
    let p = args.pair(name).unwrap_or(default);
    [p[0] as usize, p[1] as usize]
}

/// The `padding` argument's `[before, after]` of axis `axis` (none: 0).
fn padding(args: &Args, axis: usize) -> [usize; 2] {
    args.padding("padding").map_or([0, 0], |p| p[axis].map(|v| v as usize))
}

/// The op of a bound call (its arguments already checked).
pub fn build(call: &Call, args: &Args) -> Op {
    let int = |n: &str, d: i64| args.int(n).unwrap_or(d) as usize;
    match call.name.name.as_str() {
        "dense" | "linear" => Op::Dense { out: int("out", 1) },
        "conv2d" => {
            let kernel = pair(args, "kernel", [1, 1]);
            Op::Conv2d {
                out: int("out", 1),
                kernel,
                stride: pair(args, "stride", [1, 1]),
                padding: [padding(args, 0), padding(args, 1)],
                groups: int("groups", 1),
            }
        }
        "conv1d" => Op::Conv1d {
            out: int("out", 1),
            kernel: int("kernel", 1),
            stride: int("stride", 1),
            padding: padding(args, 0),
            groups: int("groups", 1),
        },
        "maxpool2d" | "avgpool2d" => {
            let kernel = pair(args, "kernel", [1, 1]);
            let stride = pair(args, "stride", [kernel[0] as i64, kernel[1] as i64]);
            let padding = [padding(args, 0), padding(args, 1)];
            if call.name.name == "maxpool2d" {
                Op::MaxPool2d { kernel, stride, padding }
            } else {
                Op::AvgPool2d { kernel, stride, padding }
            }
        }
        "maxpool1d" | "avgpool1d" => {
            let kernel = int("kernel", 1);
            let (stride, padding) = (int("stride", kernel as i64), padding(args, 0));
            if call.name.name == "maxpool1d" {
                Op::MaxPool1d { kernel, stride, padding }
            } else {
                Op::AvgPool1d { kernel, stride, padding }
            }
        }
        "flatten" => Op::Flatten,
        "relu" => Op::Relu,
        "leaky_relu" => Op::LeakyRelu { slope: args.float("slope").unwrap_or(0.01) },
        "clip" => Op::Clip { min: args.float("min").unwrap_or(f64::MIN), max: args.float("max").unwrap_or(f64::MAX) },
        "relu6" => Op::Clip { min: 0.0, max: 6.0 },
        "hard_sigmoid" => {
            Op::HardSigmoid { alpha: args.float("alpha").unwrap_or(1.0 / 6.0), beta: args.float("beta").unwrap_or(0.5) }
        }
        "hard_swish" => Op::HardSwish,
        "sigmoid" => Op::Sigmoid,
        "tanh" => Op::Tanh,
        "softmax" => Op::Softmax,
        "batchnorm" => Op::BatchNorm { eps: args.float("eps").unwrap_or(1e-5) },
        "add" => Op::Add,
        "concat" => Op::Concat,
        "globalavgpool" => Op::GlobalAvgPool,
        "denoise" => Op::Denoise { hidden: int("hidden", 1), kernel: int("kernel", 3) },
        other => unreachable!("op {other} is in OPS"),
    }
}

/// The conditions between a bound call's arguments (a clip's `min` below
/// its `max`); false after reporting the first that fails.
pub fn related(args: &Args, diags: &mut Diagnostics) -> bool {
    let (Some(min), Some(max)) = (args.float("min"), args.float("max")) else { return true };
    if min < max {
        return true;
    }
    diags.push(
        Diagnostic::error(Code::EmptyRange, format!("`clip` bounds min = {min} and max = {max} leave no room"))
            .primary(args.span("min").expect("given"), "min")
            .secondary(args.span("max").expect("given"), "max")
            .help("`min` must be below `max`"),
    );
    false
}

/// One weight tensor an op reads: its role, name in the file, and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorUse {
    pub role: &'static str,
    pub name: String,
    pub shape: Vec<usize>,
    /// Named by its own argument (`bias = "…"`), which a prefix does not override.
    pub named: bool,
}

/// The weight tensors of `op` named `layer`, given its input shape: each
/// named by the layer's argument of its role when given (a `bias = false`
/// drops the bias), else `PREFIX.ROLE` with the `weights = "PREFIX"`
/// argument's prefix, else `LAYER.ROLE`.
pub fn tensors(layer: &str, op: &Op, args: &Args, input: &[usize]) -> Vec<TensorUse> {
    let prefix = match args.get("weights") {
        Some(Val::Str(prefix)) => prefix.as_str(),
        _ => layer,
    };
    let mut uses = vec![];
    for p in op.param_shapes(input) {
        let (name, named) = match args.get(p.role) {
            Some(Val::Bool(false)) => continue,
            Some(Val::Str(name)) => (name.clone(), true),
            _ => (format!("{prefix}.{}", p.role), false),
        };
        uses.push(TensorUse { role: p.role, name, shape: p.shape, named });
    }
    uses
}
