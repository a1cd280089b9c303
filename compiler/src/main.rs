use analogc::cli::{run, Cli, Outcome};
use clap::Parser;
use std::process::ExitCode;

// Training allocates and frees batch-sized buffers every step; glibc's
// allocator hands large ones back to the kernel each time (page faults took a
// fifth of a training step), mimalloc keeps them for reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; a bad command line is the user's.
            return ExitCode::from(if e.use_stderr() { Outcome::UserError as u8 } else { 0 });
        }
    };
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal compiler error: {info}");
        eprintln!("note: this is a bug in analogc; please report it with the input that caused it");
    }));
    match std::panic::catch_unwind(|| run(&cli)) {
        Ok(outcome) => ExitCode::from(outcome as u8),
        Err(_) => ExitCode::from(Outcome::Internal as u8),
    }
}
