//! The checked model: every name resolved, every shape known, every layer's
//! effective hardware resolved and fitted, every weight tensor verified.

use super::args::{bind, param, positional, Bound, Kind, Param, Val};
use super::effects::{bind_block, Ctx};
use super::hardware::Hardware;
use super::ops::{self, Op, TensorUse};
use super::{fit, shapes, weights};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{Loader, Span};
use crate::syntax::ast::{self, Stmt, ValueKind};
use analog_runtime::ir::{self, op::OpClass};
use analog_runtime::ir::{Dtype, Step};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq)]
pub struct CheckedModel {
    pub name: String,
    pub weights: Option<PathBuf>,
    /// The dataset folder `eval` uses by default.
    pub data: Option<PathBuf>,
    pub inputs: Vec<CheckedInput>,
    pub layers: Vec<CheckedLayer>,
    pub outputs: Vec<CheckedOutput>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckedInput {
    pub name: String,
    pub dtype: Dtype,
    /// The declared shape of one sample.
    pub shape: Vec<usize>,
    pub steps: Vec<Step>,
    /// The shape after preprocessing.
    pub out_shape: Vec<usize>,
    pub hardware: Hardware,
    pub span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TensorRef {
    Input(usize),
    Layer(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckedLayer {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<TensorRef>,
    pub shape: Vec<usize>,
    pub hardware: Hardware,
    pub tensors: Vec<TensorUse>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckedOutput {
    pub name: String,
    pub source: TensorRef,
    pub span: Span,
}

const STEPS: &[(&str, &[Param])] = &[
    ("scale", &[positional("factor", Kind::Float { min: Bound::None, max: Bound::None, units: &[] })]),
    (
        "normalize",
        &[param("mean", Kind::Floats { min: Bound::None }), param("std", Kind::Floats { min: Bound::Excl(0.0) })],
    ),
    ("reshape", &[positional("shape", Kind::Ints)]),
    ("flatten", &[]),
];

/// A name in the model's tensor namespace.
struct Def {
    r: TensorRef,
    shape: Vec<usize>,
    span: Span,
}

pub struct ModelChecker<'a> {
    pub loader: &'a dyn Loader,
    pub dir: &'a Path,
    pub profiles: &'a HashMap<String, (Hardware, Span)>,
    pub diags: &'a mut Diagnostics,
    /// The layer being checked, to catch one that reads its own output.
    pub defining: Option<String>,
    pub options: super::Options,
    /// The weights file given on the command line, which replaces the model's.
    pub weights: Option<(PathBuf, Span)>,
}

impl ModelChecker<'_> {
    pub fn check(&mut self, m: &ast::Model) -> Option<CheckedModel> {
        let errors_before = self.diags.error_count();
        let mut out = CheckedModel {
            name: m.name.name.clone(),
            weights: None,
            data: None,
            inputs: vec![],
            layers: vec![],
            outputs: vec![],
        };
        let mut defs: HashMap<String, Def> = HashMap::new();
        // Every name defined anywhere, to tell "used before defined" from "unknown".
        let all_names: HashMap<&str, Span> = m
            .stmts
            .iter()
            .filter_map(|s| match s {
                Stmt::Input(i) => Some((i.name.name.as_str(), i.name.span)),
                Stmt::Layer(l) => Some((l.name.name.as_str(), l.name.span)),
                _ => None,
            })
            .collect();
        let mut weights_at: Option<(PathBuf, Span)> = None;
        let mut data_at: Option<(PathBuf, Span)> = None;
        let mut pending_tensors: Vec<(usize, Span)> = vec![];
        let mut output_spans: HashMap<String, Span> = HashMap::new();
        for stmt in &m.stmts {
            match stmt {
                Stmt::Weights(w) => self.file_once(&mut weights_at, w, Code::DuplicateWeights, "weights file"),
                Stmt::Data(d) => self.file_once(&mut data_at, d, Code::DuplicateData, "dataset"),
                Stmt::Input(i) => self.input_stmt(i, &mut defs, &mut out),
                Stmt::Layer(l) => self.layer_stmt(l, &mut defs, &all_names, &mut out, &mut pending_tensors),
                Stmt::Output(o) => self.output_stmt(o, &defs, &all_names, &mut output_spans, &mut out),
            }
        }
        self.require_interface(m);
        if let Some(given) = self.weights.take() {
            weights_at = Some(given);
        }
        self.check_weights(&out, weights_at.as_ref(), &pending_tensors);
        if let Some((dir, span)) = &data_at {
            if self.options.own_data && !out.inputs.is_empty() {
                super::data::check(dir, *span, &out.inputs, self.loader, self.diags);
            }
        }
        out.data = data_at.map(|(p, _)| p);
        self.warn_unused(&out);
        out.weights = weights_at.map(|(p, _)| p);
        (self.diags.error_count() == errors_before).then_some(out)
    }

    /// An input statement: defines its name when it checks.
    fn input_stmt(&mut self, i: &ast::Input, defs: &mut HashMap<String, Def>, out: &mut CheckedModel) {
        if !self.define(defs, &i.name, TensorRef::Input(out.inputs.len())) {
            return;
        }
        if let Some(input) = self.input(i) {
            defs.get_mut(&i.name.name).expect("just defined").shape = input.out_shape.clone();
            out.inputs.push(input);
        } else {
            defs.remove(&i.name.name);
        }
    }

    /// A layer statement: defines its name when it checks, and notes its
    /// weight tensors in `pending` (checked against the file at the end).
    fn layer_stmt(
        &mut self,
        l: &ast::Layer,
        defs: &mut HashMap<String, Def>,
        all_names: &HashMap<&str, Span>,
        out: &mut CheckedModel,
        pending: &mut Vec<(usize, Span)>,
    ) {
        // Defined only once its own arguments resolve: `h = relu(h)` reads nothing.
        if let Some(prev) = defs.get(&l.name.name) {
            self.diags.push(
                Diagnostic::error(Code::DuplicateName, format!("`{}` is defined twice", l.name.name))
                    .primary(l.name.span, "defined again here")
                    .secondary(prev.span, "first defined here"),
            );
            return;
        }
        self.defining = Some(l.name.name.clone());
        let checked = self.layer(l, defs, all_names);
        self.defining = None;
        let Some(layer) = checked else { return };
        self.define(defs, &l.name, TensorRef::Layer(out.layers.len()));
        defs.get_mut(&l.name.name).expect("just defined").shape = layer.shape.clone();
        if !layer.tensors.is_empty() {
            pending.push((out.layers.len(), l.op.name.span));
        }
        out.layers.push(layer);
    }

    fn output_stmt(
        &mut self,
        o: &ast::Output,
        defs: &HashMap<String, Def>,
        all_names: &HashMap<&str, Span>,
        output_spans: &mut HashMap<String, Span>,
        out: &mut CheckedModel,
    ) {
        if let Some(first) = output_spans.get(&o.name.name) {
            self.diags.push(
                Diagnostic::error(Code::DuplicateName, format!("output `{}` is declared twice", o.name.name))
                    .primary(o.name.span, "declared again here")
                    .secondary(*first, "first declared here"),
            );
            return;
        }
        output_spans.insert(o.name.name.clone(), o.name.span);
        if let Some(def) = self.lookup(defs, all_names, &o.source) {
            out.outputs.push(CheckedOutput { name: o.name.name.clone(), source: def.r, span: o.span });
        }
    }

    /// A model needs an input and an output.
    fn require_interface(&mut self, m: &ast::Model) {
        if !m.stmts.iter().any(|s| matches!(s, Stmt::Input(_))) {
            self.diags.push(
                Diagnostic::error(Code::NoInput, format!("model `{}` has no input", m.name.name))
                    .primary(m.name.span, "no `input` in this model")
                    .help("declare one, e.g. `input image: u8[1, 28, 28]`"),
            );
        }
        if !m.stmts.iter().any(|s| matches!(s, Stmt::Output(_))) {
            self.diags.push(
                Diagnostic::error(Code::NoOutput, format!("model `{}` has no output", m.name.name))
                    .primary(m.name.span, "no `output` in this model")
                    .help("name the result, e.g. `output logits = fc3`"),
            );
        }
    }

    /// Records a file a model may name once (`weights`, `data`), relative to the model.
    fn file_once(&mut self, slot: &mut Option<(PathBuf, Span)>, path: &ast::StrLit, code: Code, what: &str) {
        match slot {
            Some((_, first)) => self.diags.push(
                Diagnostic::error(code, format!("the model names a {what} twice"))
                    .primary(path.span, format!("second {what}"))
                    .secondary(*first, "first named here"),
            ),
            None => *slot = Some((super::normalize(&self.dir.join(&path.value)), path.span)),
        }
    }

    fn define(&mut self, defs: &mut HashMap<String, Def>, name: &ast::Ident, r: TensorRef) -> bool {
        if let Some(prev) = defs.get(&name.name) {
            self.diags.push(
                Diagnostic::error(Code::DuplicateName, format!("`{}` is defined twice", name.name))
                    .primary(name.span, "defined again here")
                    .secondary(prev.span, "first defined here"),
            );
            return false;
        }
        defs.insert(name.name.clone(), Def { r, shape: vec![], span: name.span });
        true
    }

    fn lookup<'d>(
        &mut self,
        defs: &'d HashMap<String, Def>,
        all: &HashMap<&str, Span>,
        name: &ast::Ident,
    ) -> Option<&'d Def> {
        if let Some(d) = defs.get(&name.name) {
            return Some(d);
        }
        if let Some(later) = all.get(name.name.as_str()) {
            if self.defining.as_deref() == Some(name.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(Code::UseBeforeDefinition, format!("`{}` reads its own output", name.name))
                        .primary(name.span, "used here")
                        .secondary(*later, "while being defined here")
                        .note("layers run in the order they are written; a model has no cycles"),
                );
                return None;
            }
            if later.start > name.span.start {
                self.diags.push(
                    Diagnostic::error(
                        Code::UseBeforeDefinition,
                        format!("`{}` is used before it is defined", name.name),
                    )
                    .primary(name.span, "used here")
                    .secondary(*later, "defined later here")
                    .note("layers run in the order they are written; a model has no cycles"),
                );
            }
            // Otherwise its definition failed and was reported already.
            return None;
        }
        let candidates = self.diags.budgeted(all.keys().copied());
        self.diags.push(
            Diagnostic::error(Code::UnknownName, format!("no tensor named `{}`", name.name))
                .primary(name.span, "not defined in this model")
                .suggest(&name.name, candidates),
        );
        None
    }

    fn input(&mut self, i: &ast::Input) -> Option<CheckedInput> {
        let dtype = match i.dtype.name.as_str() {
            "u8" => Some(Dtype::U8),
            "f32" => Some(Dtype::F32),
            other => {
                self.diags.push(
                    Diagnostic::error(Code::UnknownDtype, format!("unknown input dtype `{other}`"))
                        .primary(i.dtype.span, "unknown dtype")
                        .suggest(other, ["u8", "f32"])
                        .note("inputs are `u8` (raw pixels) or `f32`"),
                );
                None
            }
        };
        let shape = self.input_shape(i);
        let ctx = Ctx { loader: self.loader, dir: self.dir };
        let hardware = bind_block(&i.effects, &ctx, self.diags);
        let (dtype, shape) = (dtype?, shape?);
        let mut cur = shape.clone();
        let mut steps = vec![];
        for call in &i.steps {
            steps.push(self.step(call, i, &shape, &mut cur)?);
        }
        let what = format!("input `{}`", i.name.name);
        fit::check(&hardware, &fit::Target { what: &what, class: OpClass::Plain, is_input: true }, self.diags);
        Some(CheckedInput { name: i.name.name.clone(), dtype, shape, steps, out_shape: cur, hardware, span: i.span })
    }

    /// One preprocessing step of input `i` (declared `shape`), applied to
    /// `cur`, the shape before it.
    fn step(&mut self, call: &ast::Call, i: &ast::Input, shape: &[usize], cur: &mut Vec<usize>) -> Option<Step> {
        let Some((_, params)) = STEPS.iter().find(|(n, _)| *n == call.name.name) else {
            self.diags.push(
                Diagnostic::error(Code::UnknownStep, format!("unknown preprocessing step `{}`", call.name.name))
                    .primary(call.name.span, "unknown step")
                    .suggest(&call.name.name, STEPS.iter().map(|(n, _)| *n))
                    .note("steps: scale, normalize, reshape, flatten"),
            );
            return None;
        };
        let args = bind(call, params, &format!("`{}`", call.name.name), self.diags);
        if !args.ok {
            return None;
        }
        let step = match call.name.name.as_str() {
            "scale" => Step::Scale(args.float("factor")?),
            "normalize" => {
                let mean = args.floats("mean").map_or(vec![0.0], <[f64]>::to_vec);
                let std = args.floats("std").map_or(vec![1.0], <[f64]>::to_vec);
                let channels = cur[0];
                for (name, list) in [("mean", &mean), ("std", &std)] {
                    if list.len() != 1 && list.len() != channels {
                        let values =
                            if list.len() == 1 { "1 value".to_string() } else { format!("{} values", list.len()) };
                        let d = Diagnostic::error(
                            Code::ChannelListMismatch,
                            format!("`{name}` has {values} but the data has {channels} along its first axis"),
                        )
                        .primary(args.span(name).expect("given"), values);
                        let d = if cur == shape {
                            d.secondary(i.shape_span, format!("{channels} channels (the first axis)"))
                        } else {
                            d.note(format!("after the steps before it, the data has shape {}", ir::dims(cur)))
                        };
                        self.diags.push(d.help("give one value for all channels, or one per channel"));
                        return None;
                    }
                }
                Step::Normalize { mean, std }
            }
            "reshape" => {
                let dims: Vec<usize> = args.ints("shape")?.iter().map(|d| *d as usize).collect();
                let (from, to) = (cur.iter().product::<usize>(), dims.iter().product::<usize>());
                if dims.is_empty() || dims.len() > 3 {
                    self.diags.push(
                        Diagnostic::error(
                            Code::ReshapeMismatch,
                            format!("`reshape` takes 1 to 3 dimensions, found {}", dims.len()),
                        )
                        .primary(call.span, "[features] or [channels, height, width]"),
                    );
                    return None;
                }
                if from != to {
                    self.diags.push(
                        Diagnostic::error(
                            Code::ReshapeMismatch,
                            format!("cannot reshape {} ({from} values) to {}", ir::dims(cur), ir::dims(&dims)),
                        )
                        .primary(call.span, format!("{to} values"))
                        .secondary(i.shape_span, format!("{from} values")),
                    );
                    return None;
                }
                *cur = dims.clone();
                Step::Reshape(dims)
            }
            "flatten" => {
                *cur = vec![cur.iter().product()];
                Step::Flatten
            }
            _ => unreachable!("step in STEPS"),
        };
        Some(step)
    }

    fn input_shape(&mut self, i: &ast::Input) -> Option<Vec<usize>> {
        let mut dims = vec![];
        for v in &i.shape {
            match &v.kind {
                ValueKind::Number { value, unit: None }
                    if value.fract() == 0.0 && *value >= 1.0 && *value <= (1u64 << 24) as f64 =>
                {
                    dims.push(*value as usize)
                }
                ValueKind::Number { value, .. } if value.is_nan() => return None,
                _ => {
                    self.diags.push(
                        Diagnostic::error(
                            Code::BadInputShape,
                            "input dimensions must be whole numbers from 1 to 16777216",
                        )
                        .primary(v.span, "not a valid dimension"),
                    );
                    return None;
                }
            }
        }
        let elements = dims.iter().try_fold(1u64, |n, d| n.checked_mul(*d as u64));
        if elements.is_none_or(|n| n > self.options.max_elements) {
            let what = format!("input `{}`", i.name.name);
            let d = shapes::too_large(&what, &dims, elements, self.options.max_elements, i.shape_span);
            self.diags.push(d);
            return None;
        }
        if dims.is_empty() || dims.len() > 3 {
            self.diags.push(
                Diagnostic::error(Code::BadInputShape, format!("an input has 1 to 3 dimensions, found {}", dims.len()))
                    .primary(i.shape_span, "one sample's shape: [features] or [channels, height, width]"),
            );
            return None;
        }
        Some(dims)
    }

    fn layer(
        &mut self,
        l: &ast::Layer,
        defs: &HashMap<String, Def>,
        all: &HashMap<&str, Span>,
    ) -> Option<CheckedLayer> {
        let Some((_, params)) = ops::OPS.iter().find(|(n, _)| *n == l.op.name.name) else {
            self.diags.push(
                Diagnostic::error(Code::UnknownOp, format!("unknown operation `{}`", l.op.name.name))
                    .primary(l.op.name.span, "unknown operation")
                    .suggest(&l.op.name.name, ops::OPS.iter().map(|(n, _)| *n))
                    .note(format!("operations: {}", ops::OPS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))),
            );
            return None;
        };
        let args = bind(&l.op, params, &format!("`{}`", l.op.name.name), self.diags);
        let hardware = self.layer_hardware(l);
        if !args.ok || !ops::related(&args, self.diags) {
            return None;
        }
        let op = ops::build(&l.op, &args);
        // The tensor arguments, in order, with where they are used and defined.
        let mut inputs = vec![];
        let mut operands = vec![];
        let named = |name| args.values.iter().filter(move |(n, _, _)| *n == name);
        for (_, value, span) in named("input").chain(named("other")) {
            let (Val::Tensor(tensor), span) = (value, *span) else { continue };
            let ident = ast::Ident { name: tensor.to_string(), span };
            let def = self.lookup(defs, all, &ident)?;
            inputs.push(def.r);
            operands.push(shapes::Operand {
                name: tensor.to_string(),
                shape: def.shape.clone(),
                used: span,
                defined: def.span,
            });
        }
        let shape = match shapes::infer(&op, &operands, l.op.span, |name| args.span(name)) {
            Ok(s) => s,
            Err(d) => {
                self.diags.push(*d);
                return None;
            }
        };
        if let Err(d) =
            shapes::size(&l.name.name, &op, &operands[0].shape, &shape, l.op.span, self.options.max_elements)
        {
            self.diags.push(*d);
            return None;
        }
        let hardware = hardware?;
        let what = format!("`{}` ({})", l.name.name, op.name());
        fit::check(&hardware, &fit::Target { what: &what, class: op.class(), is_input: false }, self.diags);
        let tensors = ops::tensors(&l.name.name, &op, &args, &operands[0].shape);
        Some(CheckedLayer { name: l.name.name.clone(), op, inputs, shape, hardware, tensors, span: l.span })
    }

    /// The layer's profile (if any) with its own block on top.
    fn layer_hardware(&mut self, l: &ast::Layer) -> Option<Hardware> {
        let ctx = Ctx { loader: self.loader, dir: self.dir };
        let own = bind_block(&l.effects, &ctx, self.diags);
        let base = match &l.profile {
            None => Hardware::default(),
            Some(p) if p.name == "digital" => Hardware::default(),
            Some(p) => match self.profiles.get(&p.name) {
                Some((hw, _)) => hw.applied_at(p.span),
                None => {
                    let names = self.diags.budgeted(self.profiles.keys().map(String::as_str).chain(["digital"]));
                    self.diags.push(
                        Diagnostic::error(Code::UnknownProfile, format!("no profile named `{}`", p.name))
                            .primary(p.span, "unknown profile")
                            .suggest(&p.name, names)
                            .help("define it with `profile NAME { ... }` or `import` the file that does"),
                    );
                    return None;
                }
            },
        };
        Some(base.overlay(&own))
    }

    fn check_weights(&mut self, m: &CheckedModel, at: Option<&(PathBuf, Span)>, pending: &[(usize, Span)]) {
        if pending.is_empty() {
            return;
        }
        let Some((path, span)) = at else {
            if self.options.untrained {
                return;
            }
            let (i, span) = pending[0];
            self.diags.push(
                Diagnostic::error(
                    Code::NoWeightsFile,
                    format!("`{}` needs weights, but the model names no weights file", m.layers[i].name),
                )
                .primary(span, "this layer has weights")
                .help("add `weights \"model.safetensors\"` to the model (a path relative to the model file)"),
            );
            return;
        };
        let whence = if self.options.weights.is_some() { "the working directory" } else { "the model file" };
        let Some(file) = weights::load(path, *span, whence, self.loader, self.diags) else { return };
        for (i, span) in pending {
            let layer = &m.layers[*i];
            weights::check_layer(&file, &layer.name, *span, &layer.tensors, self.diags);
        }
    }

    fn warn_unused(&mut self, m: &CheckedModel) {
        let mut used = vec![false; m.layers.len()];
        let mut stack: Vec<TensorRef> = m.outputs.iter().map(|o| o.source).collect();
        while let Some(r) = stack.pop() {
            if let TensorRef::Layer(i) = r {
                if !std::mem::replace(&mut used[i], true) {
                    stack.extend(m.layers[i].inputs.iter().copied());
                }
            }
        }
        if m.outputs.is_empty() {
            return;
        }
        for (layer, used) in m.layers.iter().zip(used) {
            if !used {
                self.diags.push(
                    Diagnostic::error(Code::UnusedLayer, format!("layer `{}` does not reach any output", layer.name))
                        .primary(Span { end: layer.span.start + layer.name.len() as u32, ..layer.span }, "never used")
                        .note("it is checked but will not be computed"),
                );
            }
        }
    }
}
