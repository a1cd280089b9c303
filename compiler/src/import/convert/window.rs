//! Sliding windows: `Conv` → `conv2d`, or `conv1d` for a 1-D kernel,
//! `MaxPool` / `AveragePool` → `maxpool2d` / `avgpool2d`, or `maxpool1d` /
//! `avgpool1d` on `[c, l]`, with their strides and padding (each side its
//! own); a zero `Pad` read only by convolutions is added to their padding.

use super::{floats, node_label, spatial, unsupported, Ctx};
use crate::import::layers::{pair, Layer, Weight};
use crate::import::names::layer_name;
use crate::import::proto::NodeProto;
use crate::import::ImportError;
use analog_runtime::ir::op::Padding2d;

/// Larger padding is surely a corrupt file; it would overflow the shape arithmetic.
const MAX_PAD: i64 = 1 << 20;

impl Ctx {
    pub(super) fn conv(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        let w = self.float_constant(node, 1)?;
        let one_d = w.dims.len() == 3;
        // A 1-D convolution is the 2-D one of a single row: [c, l] as [c, 1, l], kernel [1, k].
        let [c, h, wd] = match (one_d, &shape[..]) {
            (true, &[c, l]) => [c, 1, l],
            (true, _) => {
                return Err(unsupported(
                    node,
                    format!("an input of shape {shape:?}: a 1-D convolution takes [channels, length]"),
                ))
            }
            (false, _) => spatial(node, &shape)?,
        };
        if !matches!(w.dims.len(), 3 | 4) {
            return Err(unsupported(node, format!("its weight `{}` has dimensions {:?}", node.input[1], w.dims)));
        }
        let (out, kh, kw) = if one_d { (w.dims[0], 1, w.dims[2]) } else { (w.dims[0], w.dims[2], w.dims[3]) };
        let groups = self.int_attr(node, "group", 1);
        if groups < 1 {
            return Err(unsupported(node, format!("`group = {groups}`")));
        }
        let groups = groups as usize;
        if w.dims[1].checked_mul(groups) != Some(c) || !out.is_multiple_of(groups) {
            return Err(unsupported(
                node,
                format!(
                    "its weight `{}` {:?} with {groups} groups does not fit {c} input channels",
                    node.input[1], w.dims
                ),
            ));
        }
        let kernel = self.ints_attr(node, "kernel_shape");
        let weight_kernel: &[i64] = if one_d { &[kw as i64] } else { &[kh as i64, kw as i64] };
        if !kernel.is_empty() && kernel != weight_kernel {
            return Err(unsupported(
                node,
                format!("`kernel_shape = {kernel:?}` differs from its weight's {weight_kernel:?}"),
            ));
        }
        let mut geometry = self.window(node, if one_d { 1 } else { 2 }, [h, wd], [kh, kw])?;
        let pad_node = self.padded.get(&node.input[0]).map(|(before, label)| (*before, label.clone()));
        if let Some((before, _)) = pad_node {
            for (axis, sides) in geometry.pad.iter_mut().enumerate() {
                for (side, p) in sides.iter_mut().enumerate() {
                    *p += before[axis][side];
                }
            }
        }
        let (oh, ow) = (
            out_size(node, h, kh, geometry.stride[0], geometry.pad[0], false)?,
            out_size(node, wd, kw, geometry.stride[1], geometry.pad[1], false)?,
        );
        let name = self.names.unique(&layer_name(node.name(), node.op_type(), Some(&node.input[1])));
        let mut layer = if one_d {
            let mut layer = Layer::new("conv1d", vec![x], vec![out, ow]);
            layer.arg(None, out.to_string());
            layer.arg(None, kw.to_string());
            if geometry.stride[1] != 1 {
                layer.arg(Some("stride"), geometry.stride[1].to_string());
            }
            if geometry.pad[1] != [0, 0] {
                layer.arg(Some("padding"), padding_1d(geometry.pad[1]));
            }
            layer
        } else {
            let mut layer = Layer::new("conv2d", vec![x], vec![out, oh, ow]);
            layer.arg(None, out.to_string());
            layer.arg(None, pair(kh, kw));
            geometry.args(&mut layer);
            layer
        };
        if groups != 1 {
            layer.arg(Some("groups"), groups.to_string());
        }
        layer.weights.push(Weight::kept("weight", &node.input[1], w.dims.clone(), floats(&w)));
        layer.has_bias = true;
        if node.input.get(2).is_some_and(|b| !b.is_empty()) {
            let b = self.float_constant(node, 2)?;
            if b.dims != [out] {
                return Err(unsupported(
                    node,
                    format!("its bias `{}` has dimensions {:?}, not [{out}]", node.input[2], b.dims),
                ));
            }
            layer.weights.push(Weight::kept("bias", &node.input[2], vec![out], floats(&b)));
        }
        self.push(node, name, layer);
        if let Some((_, label)) = pad_node {
            let conv = self.layers.last_mut().expect("just pushed");
            conv.node = format!("{label} + {}", conv.node);
        }
        Ok(())
    }

    pub(super) fn pool(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        if node.output.get(1).is_some_and(|i| self.is_read(i)) {
            return Err(unsupported(node, "its indices output is used"));
        }
        let (x, shape) = self.act(node, 0)?;
        let kernel = self.ints_attr(node, "kernel_shape");
        if kernel.iter().any(|&k| k < 1) {
            return Err(unsupported(node, format!("`kernel_shape = {kernel:?}`")));
        }
        // A 1-D pooling is the 2-D one of a single row: [c, l] as [c, 1, l], kernel [1, k].
        let ([c, h, w], [kh, kw]) = match (kernel.as_slice(), &shape[..]) {
            (&[k], &[c, l]) => ([c, 1, l], [1, k as usize]),
            (&[kh, kw], _) => (spatial(node, &shape)?, [kh as usize, kw as usize]),
            _ => {
                return Err(unsupported(
                    node,
                    format!("`kernel_shape = {kernel:?}` on {shape:?}: pooling is 1-D on [channels, length] or 2-D on [channels, height, width]"),
                ))
            }
        };
        let one_d = shape.len() == 2;
        let geometry = self.window(node, if one_d { 1 } else { 2 }, [h, w], [kh, kw])?;
        let average = node.op_type() == "AveragePool";
        if average && geometry.is_padded() && self.int_attr(node, "count_include_pad", 0) == 0 {
            return Err(unsupported(
                node,
                "padding with `count_include_pad = 0`: the language's average pooling divides by the whole window, padding included",
            )
            .help("export with `count_include_pad=True` (PyTorch's default), or pad the input instead"));
        }
        for (k, sides) in [kh, kw].into_iter().zip(geometry.pad) {
            if let Some(p) = sides.into_iter().find(|p| 2 * p > k) {
                return Err(unsupported(node, format!("padding {p} is more than half the kernel {k}")));
            }
        }
        let ceil = self.int_attr(node, "ceil_mode", 0) != 0;
        let oh = out_size(node, h, kh, geometry.stride[0], geometry.pad[0], ceil)?;
        let ow = out_size(node, w, kw, geometry.stride[1], geometry.pad[1], ceil)?;
        let layer = if one_d {
            let mut layer = Layer::new(if average { "avgpool1d" } else { "maxpool1d" }, vec![x], vec![c, ow]);
            layer.arg(None, kw.to_string());
            if geometry.stride[1] != kw {
                layer.arg(Some("stride"), geometry.stride[1].to_string());
            }
            if geometry.pad[1] != [0, 0] {
                layer.arg(Some("padding"), padding_1d(geometry.pad[1]));
            }
            layer
        } else {
            let mut layer = Layer::new(if average { "avgpool2d" } else { "maxpool2d" }, vec![x], vec![c, oh, ow]);
            layer.arg(None, pair(kh, kw));
            if geometry.stride != [kh, kw] {
                layer.arg(Some("stride"), pair(geometry.stride[0], geometry.stride[1]));
            }
            if geometry.is_padded() {
                layer.arg(Some("padding"), padding_2d(geometry.pad));
            }
            layer
        };
        self.layer(node, layer);
        Ok(())
    }

    /// A `Pad` with zeros on the spatial axes, read only by convolutions:
    /// its output stands for its input, and each conv reading it adds its
    /// sides to its own padding. Any other pad (a non-zero constant,
    /// `reflect`, `edge`, `wrap`, the batch or channel axes, negative sides)
    /// the language cannot express.
    pub(super) fn pad(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (_, shape) = self.act(node, 0)?;
        let mode = self.string_attr(node, "mode");
        if !matches!(mode.as_str(), "" | "constant") {
            return Err(unsupported(node, format!("`mode = {mode}`: the language pads with zeros only")));
        }
        let (pads, value) = if self.opset < 11 {
            (self.ints_attr(node, "pads"), self.float_attr(node, "value", 0.0))
        } else {
            if node.input.get(3).is_some_and(|a| !a.is_empty()) {
                return Err(unsupported(node, "its `axes` input: give pads for every axis"));
            }
            let value = match node.input.get(2).filter(|v| !v.is_empty()) {
                Some(_) => match floats(self.constant(node, 2)?)[..] {
                    [v] => v,
                    _ => return Err(unsupported(node, "its `constant_value` is not one number")),
                },
                None => 0.0,
            };
            (self.constant(node, 1)?.ints(), value)
        };
        if value != 0.0 {
            return Err(unsupported(node, format!("padding with {value}: the language pads with zeros only")));
        }
        let rank = shape.len() + 1;
        let spatial = shape.len() - 1;
        let side = |k: usize| pads.get(k).copied().unwrap_or(-1);
        let keeps_batch_and_channels = [0, 1, rank, rank + 1].into_iter().all(|k| side(k) == 0);
        if pads.len() != 2 * rank || !keeps_batch_and_channels || !matches!(spatial, 1 | 2) {
            return Err(unsupported(
                node,
                format!("`pads = {pads:?}` on {shape:?}: only zeros around the length or the plane of a convolution's input"),
            ));
        }
        let mut pad: Padding2d = [[0, 0]; 2];
        for axis in 0..spatial {
            let (before, after) = (side(2 + axis), side(rank + 2 + axis));
            if !(0..=MAX_PAD).contains(&before) || !(0..=MAX_PAD).contains(&after) {
                return Err(unsupported(node, format!("`pads = {pads:?}`: out of range (negative pads crop)")));
            }
            pad[2 - spatial + axis] = [before as usize, after as usize];
        }
        if !self.conv_inputs.contains(node.output.first().map_or("", String::as_str)) {
            return Err(unsupported(
                node,
                "its output is read by other nodes than convolutions: the language pads only inside a convolution",
            ));
        }
        self.alias(node)?;
        self.padded.insert(node.output[0].clone(), (pad, node_label(node)));
        Ok(())
    }

    /// Strides and padding of a conv or pool of `dims` (1 or 2) spatial axes
    /// over a plane of `size` with a `kernel`, a 1-D one as the row of a
    /// plane (stride 1 and no padding along the height): explicit `pads`, or
    /// `auto_pad` `SAME_UPPER` (PyTorch's `padding="same"`; the odd zero
    /// after) or `SAME_LOWER` (before). Dilation is refused.
    fn window(
        &self,
        node: &NodeProto,
        dims: usize,
        size: [usize; 2],
        kernel: [usize; 2],
    ) -> Result<Window, ImportError> {
        let strides = self.ints_attr(node, "strides");
        let pads = self.ints_attr(node, "pads");
        let dilations = self.ints_attr(node, "dilations");
        if dilations.iter().any(|&d| d != 1) {
            return Err(unsupported(node, format!("`dilations = {dilations:?}`: the language has no dilation")));
        }
        let stride = match (dims, strides.as_slice()) {
            (_, []) => [1, 1],
            (1, &[s]) if s >= 1 => [1, s as usize],
            (2, &[sh, sw]) if sh >= 1 && sw >= 1 => [sh as usize, sw as usize],
            _ => return Err(unsupported(node, format!("`strides = {strides:?}`"))),
        };
        let auto_pad = self.string_attr(node, "auto_pad");
        if let upper @ ("SAME_UPPER" | "SAME_LOWER") = auto_pad.as_str() {
            // ONNX: ⌈n / s⌉ outputs, the padding they need split in two, the odd one after (UPPER) or before.
            let mut pad = [[0, 0]; 2];
            for axis in 2 - dims..2 {
                let (n, k, s) = (size[axis], kernel[axis], stride[axis]);
                let total = ((n.div_ceil(s) - 1) * s + k).saturating_sub(n);
                let (small, large) = (total / 2, total - total / 2);
                pad[axis] = if upper == "SAME_UPPER" { [small, large] } else { [large, small] };
            }
            return Ok(Window { stride, pad });
        }
        if !matches!(auto_pad.as_str(), "" | "NOTSET" | "VALID") {
            return Err(unsupported(node, format!("`auto_pad = {auto_pad}`")));
        }
        if pads.iter().any(|p| !(0..=MAX_PAD).contains(p)) {
            return Err(unsupported(node, format!("`pads = {pads:?}`: out of range")));
        }
        let side = |k: usize| pads[k] as usize;
        // ONNX lists every axis's start, then every axis's end.
        let pad = match (dims, pads.len()) {
            (_, 0) => [[0, 0]; 2],
            (1, 2) => [[0, 0], [side(0), side(1)]],
            (2, 4) => [[side(0), side(2)], [side(1), side(3)]],
            _ => {
                return Err(unsupported(
                    node,
                    format!("`pads = {pads:?}`: {dims}-D needs {} values (each axis's start, then its end)", 2 * dims),
                ))
            }
        };
        Ok(Window { stride, pad })
    }
}

struct Window {
    stride: [usize; 2],
    pad: Padding2d,
}

impl Window {
    fn is_padded(&self) -> bool {
        self.pad != [[0, 0]; 2]
    }

    fn args(&self, layer: &mut Layer) {
        if self.stride != [1, 1] {
            layer.arg(Some("stride"), pair(self.stride[0], self.stride[1]));
        }
        if self.is_padded() {
            layer.arg(Some("padding"), padding_2d(self.pad));
        }
    }
}

/// The language's 2-D `padding`: one number when every side is alike, `[h, w]`
/// when each axis is padded alike on both sides, else `[top, bottom, left, right]`.
fn padding_2d(pad: Padding2d) -> String {
    match pad {
        [[t, b], [l, r]] if t == b && l == r => pair(t, l),
        [[t, b], [l, r]] => format!("[{t}, {b}, {l}, {r}]"),
    }
}

/// The language's 1-D `padding`: one number when both sides are alike, else `[left, right]`.
fn padding_1d([left, right]: [usize; 2]) -> String {
    if left == right {
        left.to_string()
    } else {
        format!("[{left}, {right}]")
    }
}

/// `⌊(n + before + after − k) / s⌋ + 1` (the language's); with `ceil`, only when rounding up gives the same.
fn out_size(node: &NodeProto, n: usize, k: usize, s: usize, p: [usize; 2], ceil: bool) -> Result<usize, ImportError> {
    let padded = n + p[0] + p[1];
    if padded < k {
        return Err(unsupported(
            node,
            format!("a kernel of {k} is larger than the padded input ({n} + {} + {})", p[0], p[1]),
        ));
    }
    let floor = (padded - k) / s + 1;
    if ceil && !(padded - k).is_multiple_of(s) {
        return Err(unsupported(node, "`ceil_mode = 1` where it adds a window: the language rounds down"));
    }
    Ok(floor)
}
