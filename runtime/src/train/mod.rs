//! The building blocks of training, each self-contained and tested on its
//! own: the reverse-mode rule of every op ([`backward`]), the loss
//! ([`loss`]), the optimizers and gradient clipping ([`optim`]) and the
//! learning-rate schedules ([`schedule`]). The training data (splits, the
//! per-epoch order, the validation hold-out) is in [`crate::dataset`].
//! `docs/training.md` gives every formula.

pub mod backward;
pub mod compiled;
pub mod conv_grad;
pub mod forward;
pub mod gradient;
pub mod kernels;
pub mod loss;
pub mod mac_grad;
pub mod maxpool;
pub mod network;
pub mod optim;
pub mod ordered;
pub mod parallel;
pub mod schedule;
pub mod spare;
pub mod trainer;
