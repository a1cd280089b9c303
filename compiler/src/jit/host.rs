//! The names of the functions compiled code calls that every module has
//! (the generator, libm), and the libm shims. `link` registers them; the
//! MAC kernels' own host functions are named in their files.

pub extern "C" fn expf(x: f32) -> f32 {
    x.exp()
}

pub extern "C" fn tanhf(x: f32) -> f32 {
    x.tanh()
}

/// `fill(ctx, sample, site, first, out, n)`: `n` Gaussians of the generator.
pub const FILL: &str = "analogc_fill";
/// `gaussian(ctx, sample, site, element) -> f32`
pub const GAUSSIAN: &str = "analogc_gaussian";
/// `uniform(ctx, sample, site, element) -> f32`
pub const UNIFORM: &str = "analogc_uniform";
pub const EXPF: &str = "analogc_expf";
pub const TANHF: &str = "analogc_tanhf";
