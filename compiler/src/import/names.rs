//! Names of the generated model: ONNX names made valid identifiers
//! (`[A-Za-z_][A-Za-z0-9_]*`, not a keyword) and unique.

use std::collections::HashSet;

const KEYWORDS: &[&str] = &["import", "profile", "extends", "model", "weights", "data", "input", "output", "on"];

/// `name` as an identifier: lower case, every other character `_`, runs of
/// `_` joined; `prefix` goes before a name that would start with a digit or be
/// empty; a keyword gets a trailing `_`.
pub fn identifier(name: &str, prefix: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.push(c);
        }
    }
    let out = out.trim_end_matches('_').to_string();
    let out =
        if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) { format!("{prefix}_{out}") } else { out };
    let out = out.trim_end_matches('_').to_string();
    if KEYWORDS.contains(&out.as_str()) {
        format!("{out}_")
    } else {
        out
    }
}

/// A layer's name from its ONNX node: PyTorch names nodes by module path and
/// op (`/layer1/conv1/Conv`), so the op's part is dropped (`layer1_conv1`),
/// and so is a scope the next one repeats (an `nn.Sequential`'s children are
/// scoped `/features/features.0/Conv`: `features_0`); a weight named
/// `PATH.weight` (older exporters) gives `PATH` instead.
pub fn layer_name(node_name: &str, op: &str, weight: Option<&str>) -> String {
    if let Some(path) = weight.and_then(|w| w.strip_suffix(".weight")) {
        return identifier(path, op);
    }
    let parts: Vec<&str> = node_name.split('/').filter(|p| !p.is_empty()).collect();
    let parts = match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() && last.starts_with(op) => rest,
        _ => &parts[..],
    };
    let kept: Vec<&str> = parts
        .iter()
        .enumerate()
        .filter(|(i, part)| parts.get(i + 1).is_none_or(|next| !next.starts_with(&format!("{part}."))))
        .map(|(_, part)| *part)
        .collect();
    identifier(&kept.join("_"), &op.to_ascii_lowercase())
}

/// The names given so far.
#[derive(Default)]
pub struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// `base`, or `base_2`, `base_3`… the first not yet given.
    pub fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_valid() {
        assert_eq!(identifier("features.0", "conv"), "features_0");
        assert_eq!(identifier("0", "input"), "input_0");
        assert_eq!(identifier("input", "input"), "input_");
        assert_eq!(identifier("/fc1/Gemm_output_0", "x"), "fc1_gemm_output_0");
        assert_eq!(identifier("", "relu"), "relu");
        assert_eq!(layer_name("/layer1/conv1/Conv", "Conv", None), "layer1_conv1");
        assert_eq!(layer_name("/features/features.3/features.3.0/Conv", "Conv", None), "features_3_0");
        assert_eq!(layer_name("/layer2/shortcut/shortcut.0/Conv", "Conv", None), "layer2_shortcut_0");
        assert_eq!(layer_name("Conv_0", "Conv", None), "conv_0");
        assert_eq!(layer_name("/Flatten", "Flatten", None), "flatten");
        assert_eq!(layer_name("Gemm_3", "Gemm", Some("fc1.weight")), "fc1");
        let mut names = Names::default();
        assert_eq!((names.unique("a"), names.unique("a"), names.unique("a")), ("a".into(), "a_2".into(), "a_3".into()));
    }
}
