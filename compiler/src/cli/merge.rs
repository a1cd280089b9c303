//! `analogc merge`: joins the output folders of `analogc sweep --shard i/n`
//! runs into the files and table of one unsharded run.

use super::output::fail;
use super::sweep::finish;
use super::{Cli, Outcome};
use crate::diag::Code;
use crate::error::Error;
use crate::files::Lock;
use crate::sweep::{merge::join, output};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The output folders of the shards (each holds a sweep.json).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write sweep.csv, sweep.json, sweep.svg and sweep.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn merge(cli: &Cli, args: &MergeArgs) -> Outcome {
    let mut results = vec![];
    for dir in &args.dirs {
        match output::read(dir) {
            Ok(r) => results.push((dir.clone(), r)),
            Err(e) => return fail(cli, Error::user(Code::BadShards, e)),
        }
    }
    let merged = match join(results) {
        Ok(r) => r,
        Err(e) => return fail(cli, Error::user(Code::BadShards, e)),
    };
    match Lock::take(&args.out) {
        Ok(out) => finish(cli, &merged, Some(&out), args.json, None),
        Err(e) => fail(cli, e),
    }
}
