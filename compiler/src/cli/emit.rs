//! `analogc check`, `passes` and `emit`: the front end and the pipeline's stages.

use super::output::{fail, print_stdout, report};
use super::{Cli, KernelsArg, Outcome};
use crate::check;
use crate::model::Model;
use crate::passes;
use crate::source::FsLoader;
use crate::syntax;
use analog_runtime::ir::print_graph;
use clap::ValueEnum;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct EmitArgs {
    /// The stage to print.
    #[arg(long, value_enum)]
    stage: Stage,
    file: PathBuf,
    /// With `--stage clif`: which kernels.
    #[arg(long, value_enum, default_value_t = KernelsArg::Native)]
    kernels: KernelsArg,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Stage {
    /// The syntax tree, as parsed (with byte spans).
    Ast,
    /// The graph IR, as lowered from the checked model.
    Ir,
    /// The graph IR after the pass pipeline (see `analogc passes`).
    Opt,
    /// The Cranelift IR of every kernel (for x86-64 with AVX and FMA, whatever the host).
    Clif,
}

pub fn check(cli: &Cli, files: &[PathBuf], settings: &[String], weights: Option<&Path>) -> Outcome {
    let loader = FsLoader::default();
    let mut outcome = Outcome::Ok;
    for file in files {
        let fe = check::check_file_for(file, &loader, settings, cli.check_options(true, weights));
        if report(cli, &fe.map, &fe.diags.list) {
            outcome = Outcome::UserError;
        }
    }
    outcome
}

pub fn passes() -> Outcome {
    let lines: Vec<String> =
        passes::PIPELINE.iter().map(|p| format!("{:<16} {}\n", p.name(), p.description())).collect();
    print_stdout(&lines.concat())
}

pub fn emit(cli: &Cli, args: &EmitArgs) -> Outcome {
    let file = &args.file;
    if args.stage == Stage::Ast {
        let fe = check::parse_file(file, &FsLoader::default());
        if report(cli, &fe.map, &fe.diags.list) {
            return Outcome::UserError;
        }
        let Some(ast) = &fe.ast else { return Outcome::UserError };
        return print_stdout(&syntax::print_file(ast));
    }
    let loaded = match args.stage {
        Stage::Ir => Model::load_unoptimized(file, &[], cli.check_options(true, None)),
        _ => Model::load_checked(file, &[], cli.check_options(true, None)),
    };
    let model = match loaded {
        Ok(m) => m,
        Err(e) => return fail(cli, e),
    };
    report(cli, model.sources(), model.warnings());
    match args.stage {
        Stage::Clif => match crate::jit::clif(model.graph(), args.kernels.into()) {
            Ok(text) => print_stdout(&text),
            Err(msg) => {
                eprintln!("error: internal: {msg}");
                Outcome::Internal
            }
        },
        _ => {
            let ran: String =
                model.passes_run().iter().map(|(name, n)| format!("// pass {name}: {n} changed\n")).collect();
            print_stdout(&(ran + &print_graph(model.graph())))
        }
    }
}
