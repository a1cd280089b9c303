//! Source text → syntax tree: the grammar's parser, the tree, its printer.

pub mod ast;
mod parser;
pub(crate) mod print;

pub use parser::{parse, parse_setting};
pub use print::print_file;
