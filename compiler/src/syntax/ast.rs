//! The syntax tree of a model file, exactly as written, with spans.
//! Nothing here is checked: names may be unknown, numbers out of range.

use crate::source::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Import(Import),
    Profile(Profile),
    Model(Model),
}

/// `import "chips.anl"`: brings the profiles of another file into scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub path: StrLit,
    pub span: Span,
}

/// `profile NAME [extends BASE] { effect... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: Ident,
    pub extends: Option<Ident>,
    pub effects: Vec<Effect>,
    pub span: Span,
}

/// `KEY DESIGN(args)`, e.g. `noise additive(sigma = 0.1)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    pub key: Ident,
    pub design: Call,
    pub span: Span,
}

/// `NAME` or `NAME(arg, key = value, ...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// A number (a `a/b` ratio is already divided), with its unit if written.
    Number {
        value: f64,
        unit: Option<Ident>,
    },
    Str(String),
    /// A bare word: a tensor name, a choice (`per_channel`), `true`/`false`.
    Word(String),
    List(Vec<Value>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: Ident,
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `weights "file.safetensors"`
    Weights(StrLit),
    /// `data "folder"`: the labelled dataset `analogc eval` uses by default.
    Data(StrLit),
    Input(Input),
    Layer(Layer),
    Output(Output),
}

/// `input NAME: DTYPE[dims] { steps and effects }`
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub name: Ident,
    pub dtype: Ident,
    pub shape: Vec<Value>,
    pub shape_span: Span,
    pub steps: Vec<Call>,
    pub effects: Vec<Effect>,
    pub span: Span,
}

/// `NAME = OP(args) [on PROFILE] [{ effects }]`
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub name: Ident,
    pub op: Call,
    pub profile: Option<Ident>,
    pub effects: Vec<Effect>,
    pub span: Span,
}

/// `output NAME [= SOURCE]`; without a source the output is the tensor `NAME`.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub name: Ident,
    pub source: Ident,
    pub span: Span,
}

/// A `--set PATH=VALUE` override from the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub path: Vec<Ident>,
    pub value: SetValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    /// A whole effect design, `additive(sigma = 0.1)`.
    Call(Call),
    Value(Value),
}
