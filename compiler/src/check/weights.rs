//! Trained weights: the file is readable, and every tensor a layer needs is
//! there, with the right shape and dtype, and finite.

use super::ops::TensorUse;
use crate::diag::{closest, Code, Diagnostic, Diagnostics};
use crate::source::{Loader, Span};
use analog_runtime::ir::dims;
use analog_runtime::weights::{LoadError, WeightsFile};
use std::path::Path;
use std::sync::Arc;

/// Loads the weights file named at `span`, or reports why not; `whence` says
/// what the path is relative to.
pub fn load(
    path: &Path,
    span: Span,
    whence: &str,
    loader: &dyn Loader,
    diags: &mut Diagnostics,
) -> Option<Arc<WeightsFile>> {
    match loader.read_weights(path) {
        Ok(w) => Some(w),
        Err(e) => {
            let (code, what) = match &*e {
                LoadError::Io(_) => (Code::WeightsUnreadable, "cannot read weights file"),
                LoadError::Format(_) => (Code::WeightsCorrupt, "weights file is not valid safetensors"),
            };
            diags.push(
                Diagnostic::error(code, format!("{what} `{}`", path.display()))
                    .primary(span, e.to_string())
                    .note(format!("the path is relative to {whence}")),
            );
            None
        }
    }
}

/// Checks one layer's tensors against the file.
pub fn check_layer(file: &WeightsFile, layer: &str, span: Span, uses: &[TensorUse], diags: &mut Diagnostics) {
    for u in uses {
        let Some(t) = file.tensors.get(&u.name) else {
            diags.push(missing(file, layer, span, u, uses));
            continue;
        };
        let Some(values) = &t.values else {
            diags.push(
                Diagnostic::error(Code::TensorDtype, format!("tensor `{}` is {}, not a float type", u.name, t.dtype))
                    .primary(span, format!("`{layer}` reads `{}` as its {}", u.name, u.role))
                    .note("weights must be F32 (or F64, F16, BF16, converted to f32)"),
            );
            continue;
        };
        if t.shape != u.shape {
            diags.push(
                Diagnostic::error(
                    Code::TensorShape,
                    format!("tensor `{}` has shape {}, but `{layer}` needs {}", u.name, dims(&t.shape), dims(&u.shape)),
                )
                .primary(span, format!("expects {} {}", u.role, dims(&u.shape)))
                .note(format!("in the file: `{}` {}", u.name, dims(&t.shape))),
            );
            continue;
        }
        let bad = values.non_finite();
        if bad > 0 {
            diags.push(
                Diagnostic::error(
                    Code::TensorNotFinite,
                    format!("tensor `{}` holds {bad} NaN or infinite values", u.name),
                )
                .primary(span, format!("`{layer}` reads `{}`", u.name)),
            );
        }
    }
}

/// The tensor `u` is not in the file: suggests a tensor of a near name, and
/// the tensors of exactly the shape it needs (an exported `features.0.weight`
/// is rarely near its layer's name, but often the only tensor of its shape).
fn missing(file: &WeightsFile, layer: &str, span: Span, u: &TensorUse, uses: &[TensorUse]) -> Diagnostic {
    let mut d = Diagnostic::error(Code::TensorMissing, format!("tensor `{}` is not in the weights file", u.name))
        .primary(span, format!("`{layer}` needs its {} {}", u.role, dims(&u.shape)));
    let near = closest(&u.name, file.tensors.keys().map(String::as_str));
    // A near name of the right shape is the likely fix; others would be noise.
    let near_fits = near.is_some_and(|n| file.tensors[n].shape == u.shape);
    let mut same_shape: Vec<&str> = file
        .tensors
        .iter()
        .filter(|(name, t)| t.shape == u.shape && !near_fits && Some(name.as_str()) != near)
        .map(|(name, _)| name.as_str())
        .collect();
    // Those named for the same role first (`features.0.bias` for a bias).
    same_shape.sort_by_key(|name| !name.ends_with(&format!(".{}", u.role)));
    if let Some(near) = near {
        d = d.help(match binding(file, u, uses, near) {
            Some(binding) => format!("the file has `{near}`; name it with {binding}"),
            None => format!("the file has `{near}`; a denoise block's tensors are named after the layer"),
        });
    }
    let shape = dims(&u.shape);
    match same_shape.as_slice() {
        [] if near.is_none() => d.note(format!("the file has {} tensors", file.tensors.len())),
        [] => d,
        [only] => d.help(match binding(file, u, uses, only) {
            Some(binding) => format!("the file has one tensor of shape {shape}: `{only}`; name it with {binding}"),
            None => format!("the file has one tensor of shape {shape}: `{only}`"),
        }),
        all => d.help(format!("the file has {} tensors of shape {shape}: {}", all.len(), listed(all))),
    }
}

/// The argument that makes `u` read the file's tensor `found`: the layer's
/// state_dict prefix when `found` is `PREFIX.ROLE`, no argument of its own
/// names `u`, and the file has `PREFIX.ROLE` for every other tensor the prefix
/// would rename (`uses`, the layer's); else that argument; none for a
/// denoise block's tensors.
fn binding(file: &WeightsFile, u: &TensorUse, uses: &[TensorUse], found: &str) -> Option<String> {
    let param = param_for(u.role)?;
    let prefix = found.strip_suffix(&format!(".{param}")).filter(|prefix| {
        !u.named && uses.iter().filter(|v| !v.named).all(|v| file.tensors.contains_key(&format!("{prefix}.{}", v.role)))
    });
    Some(match prefix {
        Some(prefix) => format!("`weights = \"{prefix}\"`"),
        None => format!("`{param} = \"{found}\"`"),
    })
}

/// The names quoted, the first few of them when there are many.
fn listed(names: &[&str]) -> String {
    const SHOWN: usize = 5;
    let quoted: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    if names.len() > SHOWN {
        format!("{}, and {} more", quoted.join(", "), names.len() - SHOWN)
    } else {
        quoted.join(", ")
    }
}

/// The layer parameter that renames a tensor of this role, if there is one
/// (a denoise block's four tensors are named after the layer only).
fn param_for(role: &str) -> Option<&str> {
    matches!(role, "weight" | "bias" | "running_mean" | "running_var").then_some(role)
}

#[cfg(test)]
mod tests {
    use super::listed;

    #[test]
    fn a_long_list_is_cut_after_five_names() {
        assert_eq!(listed(&["a", "b"]), "`a`, `b`");
        let seven = ["a", "b", "c", "d", "e", "f", "g"];
        assert_eq!(listed(&seven[..5]), "`a`, `b`, `c`, `d`, `e`");
        assert_eq!(listed(&seven), "`a`, `b`, `c`, `d`, `e`, and 2 more");
    }
}
