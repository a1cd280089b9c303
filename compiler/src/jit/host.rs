//! The names of the functions compiled code calls that every module has
//! (the generator, libm), and the libm shims. `link` registers them; the
//! MAC kernels' own host functions are named in their files.

pub extern "C" fn expf(x: f32) -> f32 {
    x.exp()
}

pub extern "C" fn tanhf(x: f32) -> f32 {
    x.tanh()
}

/// Cranelift's libcall for `fma` on an ISA without FMA instructions (its
/// default name, `fmaf`): the same single rounding, in software.
pub extern "C" fn fmaf(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}

/// Cranelift's libcall name for `fma` on `f32`.
pub const FMAF: &str = "fmaf";

/// `fill(ctx, sample, site, first, out, n)`: `n` Gaussians of the generator.
pub const FILL: &str = "analogc_fill";
/// `gaussian(ctx, sample, site, element) -> f32`
pub const GAUSSIAN: &str = "analogc_gaussian";
/// `uniform(ctx, sample, site, element) -> f32`
pub const UNIFORM: &str = "analogc_uniform";
pub const EXPF: &str = "analogc_expf";
pub const TANHF: &str = "analogc_tanhf";
