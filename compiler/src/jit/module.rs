//! The Cranelift module that owns a compiled model's machine code, and the
//! instruction sets it is compiled for.

use cranelift_codegen::isa::{self, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Module};
use std::mem::ManuallyDrop;

/// Which machine the code is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// This CPU, its features detected (what `run` and `eval` execute).
    Host,
    /// x86-64 with AVX and FMA, whatever the host: what CLIF snapshots use.
    PinnedX86_64,
}

fn flags() -> settings::Flags {
    let mut b = settings::builder();
    // `none`: the guide's measurements found `speed` hoisting loads and
    // spilling the GEMM accumulators; the kernels are scheduled by hand.
    b.set("opt_level", "none").expect("known flag");
    b.set("is_pic", "false").expect("known flag");
    b.set("use_colocated_libcalls", "false").expect("known flag");
    b.set("enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" }).expect("known flag");
    settings::Flags::new(b)
}

fn isa(target: Target) -> Result<OwnedTargetIsa, String> {
    let builder = match target {
        Target::Host => cranelift_native::builder().map_err(|e| format!("unsupported host: {e}"))?,
        Target::PinnedX86_64 => {
            let mut b = isa::lookup_by_name("x86_64").map_err(|e| e.to_string())?;
            for f in ["has_sse3", "has_ssse3", "has_sse41", "has_sse42", "has_avx", "has_fma", "has_popcnt"] {
                b.enable(f).map_err(|e| e.to_string())?;
            }
            b
        }
    };
    builder.finish(flags()).map_err(|e| e.to_string())
}

/// A JIT module whose code is freed when this is dropped (Cranelift leaks it
/// otherwise). Whoever holds function pointers into it must not outlive it.
pub struct CodeModule {
    pub module: ManuallyDrop<JITModule>,
}

impl CodeModule {
    /// A module for `target` that resolves the given host symbols.
    pub fn new(target: Target, symbols: &[(&str, *const u8)]) -> Result<Self, String> {
        let mut builder = JITBuilder::with_isa(isa(target)?, cranelift_module::default_libcall_names());
        for (name, ptr) in symbols {
            builder.symbol(*name, *ptr);
        }
        Ok(CodeModule { module: ManuallyDrop::new(JITModule::new(builder)) })
    }

    pub fn finalize(&mut self) -> Result<(), String> {
        self.module.finalize_definitions().map_err(|e| e.to_string())
    }
}

impl Drop for CodeModule {
    fn drop(&mut self) {
        // SAFETY: the module is taken once, here; every function pointer into
        // it belongs to the owner of this module and is dropped with it.
        let module = unsafe { ManuallyDrop::take(&mut self.module) };
        // SAFETY: as above, no code of the module runs after this.
        unsafe { module.free_memory() };
    }
}

/// Defines function `id` of `module` from `ctx`; with `text`, first appends
/// its CLIF under the heading `; label`.
pub fn define(
    module: &mut dyn Module,
    id: FuncId,
    label: &str,
    ctx: &mut Context,
    text: Option<&mut String>,
) -> Result<(), String> {
    if let Some(t) = text {
        t.push_str(&format!("; {label}\n"));
        t.push_str(&ctx.func.display().to_string());
        t.push('\n');
    }
    module.define_function(id, ctx).map_err(|e| format!("cranelift: {e:?}"))
}
