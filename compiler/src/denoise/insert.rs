//! Denoise blocks written into a model file's text: each block's statement
//! right after the layer it follows, and every later reference to that layer
//! (a layer's tensor argument, an output) re-pointed at the block. The edits
//! are made at the syntax tree's spans; the rest of the text, comments
//! included, stays as written.

use crate::check::args::{bind, Val};
use crate::check::ops::OPS;
use crate::diag::Diagnostics;
use crate::source::FileId;
use crate::syntax::ast::{self, Item, Stmt};
use crate::train::output::model_copy::apply_edits;
use std::collections::HashMap;
use std::ops::Range;

/// A block to insert: `name = denoise(after, hidden)`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewBlock {
    pub name: String,
    pub after: String,
    pub hidden: usize,
}

/// Every name the model's tensor namespace holds (inputs, layers) and its outputs'.
pub fn names(source: &str) -> Vec<String> {
    let mut names = vec![];
    for stmt in model_stmts(&parse(source)) {
        match stmt {
            Stmt::Input(i) => names.push(i.name.name.clone()),
            Stmt::Layer(l) => names.push(l.name.name.clone()),
            Stmt::Output(o) => names.push(o.name.name.clone()),
            Stmt::Weights(_) | Stmt::Data(_) => {}
        }
    }
    names
}

/// `source` with `blocks` inserted. The source must parse and check clean,
/// and each block's `after` name one of its layers.
pub fn insert(source: &str, blocks: &[NewBlock]) -> String {
    let file = parse(source);
    let block_of: HashMap<&str, &str> = blocks.iter().map(|b| (b.after.as_str(), b.name.as_str())).collect();
    let mut edits: Vec<(Range<usize>, String)> = vec![];
    for stmt in model_stmts(&file) {
        match stmt {
            Stmt::Layer(l) => {
                for (span, tensor) in tensor_args(&l.op) {
                    if let Some(block) = block_of.get(tensor.as_str()) {
                        edits.push((span, block.to_string()));
                    }
                }
                if let Some(b) = blocks.iter().find(|b| b.after == l.name.name) {
                    edits.push(statement_after(source, l, b));
                }
            }
            Stmt::Output(o) => {
                let Some(block) = block_of.get(o.source.name.as_str()) else { continue };
                // `output fc3` names its source by its own name: it becomes `output fc3 = block`.
                if o.source.span == o.name.span {
                    edits.push((o.name.span.range(), format!("{} = {block}", o.name.name)));
                } else {
                    edits.push((o.source.span.range(), block.to_string()));
                }
            }
            Stmt::Input(_) | Stmt::Weights(_) | Stmt::Data(_) => {}
        }
    }
    apply_edits(source, edits)
}

fn parse(source: &str) -> ast::File {
    crate::syntax::parse(FileId(0), source, &mut Diagnostics::default())
}

fn model_stmts(file: &ast::File) -> impl Iterator<Item = &Stmt> {
    file.items.iter().filter_map(|i| if let Item::Model(m) = i { Some(m) } else { None }).flat_map(|m| &m.stmts)
}

/// The spans and names of a call's tensor arguments, bound as the checker binds them.
fn tensor_args(call: &ast::Call) -> Vec<(Range<usize>, String)> {
    let Some((_, params)) = OPS.iter().find(|(name, _)| *name == call.name.name) else { return vec![] };
    let args = bind(call, params, "", &mut Diagnostics::default());
    args.values
        .into_iter()
        .filter_map(|(_, v, span)| if let Val::Tensor(t) = v { Some((span.range(), t)) } else { None })
        .collect()
}

/// The block's statement after layer `l`: on a line of its own, indented as
/// `l`'s line, when `l` ends its line (a comment may follow: it stays with
/// `l`); else after a `;` on the same line.
fn statement_after(source: &str, l: &ast::Layer, b: &NewBlock) -> (Range<usize>, String) {
    let statement = format!("{} = denoise({}, {})", b.name, b.after, b.hidden);
    let end = l.span.end as usize;
    let line_end = source[end..].find(['\n', '\r']).map_or(source.len(), |i| end + i);
    let rest = source[end..line_end].trim_start_matches([' ', '\t']);
    if rest.is_empty() || rest.starts_with("//") {
        let line_start = source[..l.span.start as usize].rfind('\n').map_or(0, |i| i + 1);
        let indent: String = source[line_start..].chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        (line_end..line_end, format!("\n{indent}{statement}"))
    } else {
        (end..end, format!("; {statement}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(name: &str, after: &str, hidden: usize) -> NewBlock {
        NewBlock { name: name.into(), after: after.into(), hidden }
    }

    #[test]
    fn blocks_follow_their_layers_and_take_over_their_readers() {
        let source = "model m {\n  input x: f32[4]\n  fc1 = dense(x, 8) on p // first\n  h = relu(fc1)\n  \
                      s = add(h, other = fc1)\n  fc2 = dense(s, 2) {\n    noise additive(sigma = 1)\n  }\n  \
                      output y = fc2\n}\n";
        let blocks = [block("fc1_denoise", "fc1", 3), block("fc2_denoise", "fc2", 1)];
        let expected =
            "model m {\n  input x: f32[4]\n  fc1 = dense(x, 8) on p // first\n  fc1_denoise = denoise(fc1, 3)\n  \
                        h = relu(fc1_denoise)\n  s = add(h, other = fc1_denoise)\n  fc2 = dense(s, 2) {\n    \
                        noise additive(sigma = 1)\n  }\n  fc2_denoise = denoise(fc2, 1)\n  output y = fc2_denoise\n}\n";
        assert_eq!(insert(source, &blocks), expected);
    }

    #[test]
    fn one_line_models_and_outputs_named_by_their_source() {
        let source = "model m { input x: f32[4]; fc = dense(x, 2); output fc }";
        let expected = "model m { input x: f32[4]; fc = dense(x, 2); fc_dn = denoise(fc, 2); output fc = fc_dn }";
        assert_eq!(insert(source, &[block("fc_dn", "fc", 2)]), expected);
    }

    #[test]
    fn names_lists_inputs_layers_and_outputs() {
        let source = "model m {\n  input x: f32[4]\n  fc = dense(x, 2)\n  output y = fc\n}\n";
        assert_eq!(names(source), ["x", "fc", "y"]);
    }
}
