//! What compiled code and the host share: the context every kernel receives,
//! and the per-thread scratch memory laid out at compile time.

use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{AbiParam, Signature};
use cranelift_module::Module;

/// Samples per call of the compiled network; `run_batch` splits larger batches.
pub const MAX_BATCH: usize = 64;

/// The argument of every compiled function (`extern "C" fn(*const Ctx, rep: u32)`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Ctx {
    /// Per node: its activations, `[batch][size]` f32.
    pub bufs: *const *mut f32,
    /// Per node: this chip's data (packed weights, accumulation orders), or null.
    pub chip: *const *const u8,
    /// Per-thread scratch memory of [`Scratch::size`] bytes.
    pub scratch: *mut u8,
    /// Samples in this call, `1..=MAX_BATCH`.
    pub batch: u64,
    /// The dataset index of the first sample (dynamic draws are keyed by it).
    pub first_sample: u32,
    pub trial: u32,
    /// The Philox key of the seed.
    pub key: [u32; 2],
    /// The seed itself and the compiled model, for host functions that
    /// redo interpreter work (per-inference weight noise).
    pub seed: u64,
    pub model: *const std::ffi::c_void,
}

/// The signature of every layer function and the driver:
/// `extern "C" fn(ctx: *const Ctx, rep: u32)`.
pub fn layer_signature(module: &dyn Module) -> Signature {
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(I64));
    sig.params.push(AbiParam::new(I32));
    sig
}

pub const BUFS: usize = std::mem::offset_of!(Ctx, bufs);
pub const CHIP: usize = std::mem::offset_of!(Ctx, chip);
pub const SCRATCH: usize = std::mem::offset_of!(Ctx, scratch);
pub const BATCH: usize = std::mem::offset_of!(Ctx, batch);
pub const FIRST_SAMPLE: usize = std::mem::offset_of!(Ctx, first_sample);
pub const TRIAL: usize = std::mem::offset_of!(Ctx, trial);
pub const KEY: usize = std::mem::offset_of!(Ctx, key);

/// Scratch regions: each layer's are live only while it runs, so they all
/// start at 0 and the size is the largest layer's; regions that outlive a
/// layer (repeat sums) come after all of those.
#[derive(Default)]
pub struct Scratch {
    /// Bytes of the layer being compiled.
    layer: usize,
    /// The largest layer's bytes.
    pub max_layer: usize,
    /// Long-lived regions, placed after `max_layer` once it is known.
    persistent: usize,
}

impl Scratch {
    /// Starts a layer's regions.
    pub fn begin_layer(&mut self) {
        self.layer = 0;
    }

    /// A region of `bytes` for the current layer, 64-byte aligned.
    pub fn take(&mut self, bytes: usize) -> usize {
        let at = self.layer;
        self.layer += bytes.div_ceil(64) * 64;
        self.max_layer = self.max_layer.max(self.layer);
        at
    }

    /// A region that lives across layers: its offset from the end of the layer regions.
    pub fn take_persistent(&mut self, bytes: usize) -> usize {
        let at = self.persistent;
        self.persistent += bytes.div_ceil(64) * 64;
        at
    }

    pub fn size(&self) -> usize {
        self.max_layer + self.persistent
    }
}
