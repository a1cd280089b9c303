//! Runtime support for analogc: tensors and trained weights.
//!
//! The compiler's checks read weights through [`weights::WeightsFile`]; later
//! stages (the reference interpreter, host kernels) build on [`tensor::Tensor`].

pub mod dataset;
pub mod derived;
pub mod interp;
pub mod ir;
pub mod multiplier;
pub mod npy;
pub mod product_table;
pub mod quant;
pub mod rng;
pub mod tensor;
pub mod weights;
