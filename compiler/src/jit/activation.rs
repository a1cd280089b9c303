//! Activations: emitted as the interpreter computes them, and fused into the
//! epilogue of the layer before them where nothing else reads that layer.

use super::emit::Fx;
use super::host;
use analog_runtime::derived::noise::repeat;
use analog_runtime::derived::window::HARD_SWISH;
use analog_runtime::ir::{Graph, NodeId, NodeKind, Op};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Activation {
    Relu,
    /// The slope below 0.
    LeakyRelu(f32),
    /// `min`, `max`.
    Clip(f32, f32),
    /// `alpha`, `beta`.
    HardSigmoid(f32, f32),
    HardSwish,
    Sigmoid,
    Tanh,
}

impl Activation {
    pub fn of(op: &Op) -> Option<Activation> {
        match op {
            Op::Relu => Some(Activation::Relu),
            Op::LeakyRelu { slope } => Some(Activation::LeakyRelu(*slope as f32)),
            Op::Clip { min, max } => Some(Activation::Clip(*min as f32, *max as f32)),
            Op::HardSigmoid { alpha, beta } => Some(Activation::HardSigmoid(*alpha as f32, *beta as f32)),
            Op::HardSwish => Some(Activation::HardSwish),
            Op::Sigmoid => Some(Activation::Sigmoid),
            Op::Tanh => Some(Activation::Tanh),
            _ => None,
        }
    }

    /// The activation of `v` (`F32` or `F32X4`), as the interpreter computes it.
    pub fn emit(self, fx: &mut Fx, v: Value) -> Value {
        if fx.is_vector(v) && matches!(self, Activation::Sigmoid | Activation::Tanh) {
            // The host's libm, one lane at a time.
            let mut out = v;
            for lane in 0..4u8 {
                let x = fx.b.ins().extractlane(v, lane);
                let y = self.emit(fx, x);
                out = fx.b.ins().insertlane(out, y, lane);
            }
            return out;
        }
        match self {
            Activation::Relu => fx.relu(v),
            // `v > 0 ? v : slope·v`
            Activation::LeakyRelu(slope) => {
                let (s, zero) = (fx.like(v, slope), fx.like(v, 0.0));
                let below = fx.b.ins().fmul(s, v);
                fx.select_cmp(FloatCC::GreaterThan, v, zero, v, below)
            }
            Activation::Clip(min, max) => fx.clamp(v, min, max),
            Activation::HardSigmoid(alpha, beta) => hard_sigmoid(fx, v, alpha, beta),
            // v · hard_sigmoid(v)
            Activation::HardSwish => {
                let (alpha, beta) = HARD_SWISH;
                let h = hard_sigmoid(fx, v, alpha, beta);
                fx.b.ins().fmul(v, h)
            }
            // 1 / (1 + exp(−v))
            Activation::Sigmoid => {
                let n = fx.b.ins().fneg(v);
                let e = fx.call(host::EXPF, &[n])[0];
                let one = fx.f(1.0);
                let d = fx.b.ins().fadd(one, e);
                fx.b.ins().fdiv(one, d)
            }
            Activation::Tanh => fx.call(host::TANHF, &[v])[0],
        }
    }
}

/// `clamp(alpha·v + beta, 0, 1)`, rounded after the product and the sum.
fn hard_sigmoid(fx: &mut Fx, v: Value, alpha: f32, beta: f32) -> Value {
    let (a, b) = (fx.like(v, alpha), fx.like(v, beta));
    let t = fx.b.ins().fmul(a, v);
    let t = fx.b.ins().fadd(t, b);
    fx.clamp(t, 0.0, 1.0)
}

/// Which nodes write an activation's output in their epilogue.
pub struct Fusion {
    /// Per node: the activation node it writes for, and the activation.
    pub into: Vec<Option<(NodeId, Activation)>>,
    /// Per node: computed by its input's epilogue.
    pub fused_away: Vec<bool>,
}

/// An activation without hardware effects fuses into an op that only it reads.
pub fn fusion(g: &Graph) -> Fusion {
    let uses = g.use_counts();
    let mut f = Fusion { into: vec![None; g.nodes.len()], fused_away: vec![false; g.nodes.len()] };
    for id in g.ids() {
        let node = g.node(id);
        let NodeKind::Op { op, inputs } = &node.kind else { continue };
        let Some(act) = Activation::of(op) else { continue };
        let producer = inputs[0];
        let p = g.node(producer);
        let fusable = matches!(p.kind, NodeKind::Op { .. })
            && uses[producer.index()] == 1
            && node.hw.is_ideal()
            && repeat(p) == 1
            && f.into[producer.index()].is_none()
            && !f.fused_away[producer.index()];
        if fusable {
            f.into[producer.index()] = Some((id, act));
            f.fused_away[id.index()] = true;
        }
    }
    f
}
