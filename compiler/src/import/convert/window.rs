//! Sliding windows: `Conv` → `conv2d`, or `conv1d` for a 1-D kernel,
//! `MaxPool` / `AveragePool` → `maxpool2d` / `avgpool2d`, with their strides
//! and symmetric padding.

use super::{floats, spatial, unsupported, Ctx};
use crate::import::layers::{pair, Layer, Weight};
use crate::import::names::layer_name;
use crate::import::proto::NodeProto;
use crate::import::ImportError;

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
        let geometry = self.window(node, if one_d { 1 } else { 2 })?;
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
            if geometry.pad[1] != 0 {
                layer.arg(Some("padding"), geometry.pad[1].to_string());
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
        Ok(())
    }

    pub(super) fn pool(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        if node.output.get(1).is_some_and(|i| self.is_read(i)) {
            return Err(unsupported(node, "its indices output is used"));
        }
        let (x, shape) = self.act(node, 0)?;
        let [c, h, w] = spatial(node, &shape)?;
        let kernel = self.ints_attr(node, "kernel_shape");
        let &[kh, kw] = kernel.as_slice() else {
            return Err(unsupported(node, format!("`kernel_shape = {kernel:?}`: only 2-D pooling is supported")));
        };
        if kh < 1 || kw < 1 {
            return Err(unsupported(node, format!("`kernel_shape = {kernel:?}`")));
        }
        let (kh, kw) = (kh as usize, kw as usize);
        let geometry = self.window(node, 2)?;
        let average = node.op_type() == "AveragePool";
        if average && geometry.pad != [0, 0] && self.int_attr(node, "count_include_pad", 0) == 0 {
            return Err(unsupported(
                node,
                "padding with `count_include_pad = 0`: the language's `avgpool2d` divides by the whole window, padding included",
            )
            .help("export with `count_include_pad=True` (PyTorch's default), or pad the input instead"));
        }
        for (k, p) in [kh, kw].into_iter().zip(geometry.pad) {
            if 2 * p > k {
                return Err(unsupported(node, format!("padding {p} is more than half the kernel {k}")));
            }
        }
        let ceil = self.int_attr(node, "ceil_mode", 0) != 0;
        let oh = out_size(node, h, kh, geometry.stride[0], geometry.pad[0], ceil)?;
        let ow = out_size(node, w, kw, geometry.stride[1], geometry.pad[1], ceil)?;
        let op = if average { "avgpool2d" } else { "maxpool2d" };
        let mut layer = Layer::new(op, vec![x], vec![c, oh, ow]);
        layer.arg(None, pair(kh, kw));
        if geometry.stride != [kh, kw] {
            layer.arg(Some("stride"), pair(geometry.stride[0], geometry.stride[1]));
        }
        if geometry.pad != [0, 0] {
            layer.arg(Some("padding"), pair(geometry.pad[0], geometry.pad[1]));
        }
        self.layer(node, layer);
        Ok(())
    }

    /// Strides and symmetric padding of a conv or pool of `dims` (1 or 2)
    /// spatial axes, a 1-D one as the row of a plane (stride and padding 1
    /// and 0 along the height); dilation and asymmetric or automatic padding
    /// are refused.
    fn window(&self, node: &NodeProto, dims: usize) -> Result<Window, ImportError> {
        let strides = self.ints_attr(node, "strides");
        let pads = self.ints_attr(node, "pads");
        let dilations = self.ints_attr(node, "dilations");
        if dilations.iter().any(|&d| d != 1) {
            return Err(unsupported(node, format!("`dilations = {dilations:?}`: the language has no dilation")));
        }
        let auto_pad = self.string_attr(node, "auto_pad");
        if !matches!(auto_pad.as_str(), "" | "NOTSET" | "VALID") {
            return Err(unsupported(node, format!("`auto_pad = {auto_pad}`: give explicit `pads` (PyTorch does)")));
        }
        let stride = match (dims, strides.as_slice()) {
            (_, []) => [1, 1],
            (1, &[s]) if s >= 1 => [1, s as usize],
            (2, &[sh, sw]) if sh >= 1 && sw >= 1 => [sh as usize, sw as usize],
            _ => return Err(unsupported(node, format!("`strides = {strides:?}`"))),
        };
        let pad = match (dims, pads.as_slice()) {
            (_, []) => [0, 0],
            (1, &[l, r]) if l == r => {
                if !(0..=MAX_PAD).contains(&l) {
                    return Err(unsupported(node, format!("`pads = {pads:?}`: out of range")));
                }
                [0, l as usize]
            }
            (2, &[t, l, b, r]) if t == b && l == r => {
                if !(0..=MAX_PAD).contains(&t) || !(0..=MAX_PAD).contains(&l) {
                    return Err(unsupported(node, format!("`pads = {pads:?}`: out of range")));
                }
                [t as usize, l as usize]
            }
            _ => {
                return Err(unsupported(
                    node,
                    format!("`pads = {pads:?}`: the language pads both sides of an axis alike ([top, left, bottom, right] with top = bottom, left = right; [left, right] in 1-D)"),
                ))
            }
        };
        Ok(Window { stride, pad })
    }
}

struct Window {
    stride: [usize; 2],
    pad: [usize; 2],
}

impl Window {
    fn args(&self, layer: &mut Layer) {
        if self.stride != [1, 1] {
            layer.arg(Some("stride"), pair(self.stride[0], self.stride[1]));
        }
        if self.pad != [0, 0] {
            layer.arg(Some("padding"), pair(self.pad[0], self.pad[1]));
        }
    }
}

/// `⌊(n + 2p − k) / s⌋ + 1` (the language's); with `ceil`, only when rounding up gives the same.
fn out_size(node: &NodeProto, n: usize, k: usize, s: usize, p: usize, ceil: bool) -> Result<usize, ImportError> {
    if n + 2 * p < k {
        return Err(unsupported(node, format!("a kernel of {k} is larger than the padded input ({n} + 2·{p})")));
    }
    let floor = (n + 2 * p - k) / s + 1;
    if ceil && !(n + 2 * p - k).is_multiple_of(s) {
        return Err(unsupported(node, "`ceil_mode = 1` where it adds a window: the language rounds down"));
    }
    Ok(floor)
}
