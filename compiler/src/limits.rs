//! How large a count the commands take: one rule for every command, so a typo
//! (`--trials 1000000000`, `--threads 100000`, `--batch 0`) is an error that
//! says the range, not a run that never ends or does nothing.

use crate::diag::Code;
use crate::error::{Error, Result};

/// Simulated chips per evaluation or grid point.
pub const MAX_TRIALS: u64 = 100_000;
/// Worker threads (results never depend on the count; more than the machine
/// has only costs start-up time).
pub const MAX_THREADS: u64 = 1024;
/// Samples per unit of work.
pub const MAX_BATCH: u64 = 1 << 16;

/// Checks that `--FLAG value` is in `1..=max`.
pub fn count(flag: &str, value: u64, max: u64) -> Result<()> {
    if (1..=max).contains(&value) {
        return Ok(());
    }
    Err(Error::user(Code::BadCount, format!("`--{flag} {value}`: {flag} must be 1 to {max}")))
}

pub fn trials(trials: u32) -> Result<()> {
    count("trials", trials.into(), MAX_TRIALS)
}

pub fn threads(threads: usize) -> Result<()> {
    count("threads", threads as u64, MAX_THREADS)
}

pub fn batch(batch: usize) -> Result<()> {
    count("batch", batch as u64, MAX_BATCH)
}
