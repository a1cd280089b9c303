//! The optimizers, schedules and gradient clipping against a few steps
//! computed by hand from PyTorch's documented update rules (the formula beside
//! each number). Every case starts from `θ = [1, −2]` and takes the gradients
//! of [`GRADS`] in turn, with `lr = 0.1`. Expected values are exact decimals
//! (or their f64 evaluation); the f32 results agree to 1e−6 relative (observed
//! at most 1.1e−7).

use analog_runtime::train::optim::{clip_grad_norm, Optimizer, State, Update};
use analog_runtime::train::schedule::Schedule;

const GRADS: [[f32; 2]; 3] = [[0.5, -0.25], [-0.2, 0.75], [0.3, 0.1]];
const LR: f64 = 0.1;

/// `θ` after each of the three steps.
fn run(opt: Optimizer) -> Vec<[f32; 2]> {
    let mut theta = [1.0f32, -2.0];
    let mut state = State::new(2);
    GRADS
        .iter()
        .map(|g| {
            opt.step(LR, &mut state, &mut theta, g);
            theta
        })
        .collect()
}

fn assert_close(got: &[[f32; 2]], expected: &[[f64; 2]]) {
    for (t, (g, e)) in got.iter().zip(expected).enumerate() {
        for i in 0..2 {
            let err = (g[i] as f64 - e[i]).abs() / e[i].abs();
            assert!(
                err <= 1e-6,
                "step {} element {i}: got {} expected {} (relative error {err:.1e})",
                t + 1,
                g[i],
                e[i]
            );
        }
    }
}

#[test]
fn sgd_plain() {
    // θ ← θ − lr·g
    assert_close(
        &run(Optimizer::SGD),
        &[
            [0.95, -1.975], // 1 − 0.1·0.5, −2 + 0.1·0.25
            [0.97, -2.05],  // 0.95 + 0.1·0.2, −1.975 − 0.1·0.75
            [0.94, -2.06],  // 0.97 − 0.1·0.3, −2.05 − 0.1·0.1
        ],
    );
}

#[test]
fn sgd_momentum() {
    // b ← g at step 1, b ← 0.9·b + g after; θ ← θ − lr·b
    let opt = Optimizer::Sgd { momentum: 0.9, nesterov: false, weight_decay: 0.0 };
    assert_close(
        &run(opt),
        &[
            [0.95, -1.975],     // b = (0.5, −0.25)
            [0.925, -2.0275],   // b = (0.45 − 0.2, −0.225 + 0.75) = (0.25, 0.525)
            [0.8725, -2.08475], // b = (0.225 + 0.3, 0.4725 + 0.1) = (0.525, 0.5725)
        ],
    );
}

#[test]
fn sgd_nesterov() {
    // b as with momentum; θ ← θ − lr·(g + 0.9·b)
    let opt = Optimizer::Sgd { momentum: 0.9, nesterov: true, weight_decay: 0.0 };
    assert_close(
        &run(opt),
        &[
            [0.905, -1.9525],     // g + 0.9·b = (0.5 + 0.45, −0.25 − 0.225) = (0.95, −0.475)
            [0.9025, -2.07475],   // b = (0.25, 0.525): (−0.2 + 0.225, 0.75 + 0.4725) = (0.025, 1.2225)
            [0.82525, -2.136275], // b = (0.525, 0.5725): (0.3 + 0.4725, 0.1 + 0.51525) = (0.7725, 0.61525)
        ],
    );
}

#[test]
fn sgd_momentum_and_weight_decay() {
    // g ← g + 0.01·θ, then momentum as above
    let opt = Optimizer::Sgd { momentum: 0.9, nesterov: false, weight_decay: 0.01 };
    assert_close(
        &run(opt),
        &[
            // g = (0.5 + 0.01, −0.25 − 0.02) = (0.51, −0.27) = b
            [0.949, -1.973],
            // g = (−0.2 + 0.00949, 0.75 − 0.01973) = (−0.19051, 0.73027);
            // b = (0.459 − 0.19051, −0.243 + 0.73027) = (0.26849, 0.48727)
            [0.922151, -2.021727],
            // g = (0.3 + 0.00922151, 0.1 − 0.02021727) = (0.30922151, 0.07978273);
            // b = (0.241641 + 0.30922151, 0.438543 + 0.07978273) = (0.55086251, 0.51832573)
            [0.867064749, -2.073559573],
        ],
    );
}

#[test]
fn adam() {
    // m ← 0.9·m + 0.1·g, v ← 0.999·v + 0.001·g², m̂ = m/(1 − 0.9^t), v̂ = v/(1 − 0.999^t),
    // θ ← θ − lr·m̂/(√v̂ + 1e−8)
    assert_close(
        &run(Optimizer::ADAM),
        &[
            // m̂ = g, √v̂ = |g|: θ moves by lr·|g|/(|g| + 1e−8) = 0.1·(1 − 2e−8) for 0.5, 0.1·(1 − 4e−8) for 0.25
            [0.900000002, -1.900000004],
            // element 0: m = 0.045 − 0.02 = 0.025, v = 0.00024975 + 0.00004 = 0.00028975,
            // m̂ = 0.025/0.19 = 0.1315789…, v̂ = 0.00028975/0.001999 = 0.1449474…, √v̂ = 0.3807196…
            // θ = 0.900000002 − 0.1·0.1315789/0.3807196 = 0.8654394181
            [0.8654394181165108, -1.9494189864458513],
            [0.8109953836811554, -1.9953385739674545],
        ],
    );
}

#[test]
fn adam_weight_decay_is_l2_in_the_gradient() {
    // As Adam with g ← g + 0.1·θ (the decay goes through the moments)
    let opt = Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1 };
    assert_close(
        &run(opt),
        &[
            // g = (0.5 + 0.1, −0.25 − 0.2) = (0.6, −0.45): moves by 0.1·(1 − 1e−8/0.6), 0.1·(1 − 1e−8/0.45)
            [0.9000000016666666, -1.900000002222222],
            [0.8475190629593703, -1.9160584207825666],
            [0.7791121607663538, -1.9202859345704393],
        ],
    );
}

#[test]
fn adamw_decays_the_weights_apart_from_the_moments() {
    // θ ← θ·(1 − lr·0.1), then Adam's step with the undecayed g
    let opt = Optimizer::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1 };
    assert_close(
        &run(opt),
        &[
            // 1·0.99 − 0.099999998, −2·0.99 + 0.099999996
            [0.890000002, -1.880000004],
            // element 0: 0.890000002·0.99 − 0.0345605999 (Adam's step 2 above, unchanged)
            [0.8465394180965108, -1.9106189864058514],
            [0.7836299894801902, -1.937432384063396],
        ],
    );
}

#[test]
fn adam_adds_eps_to_the_bias_corrected_root() {
    // eps = 0.5 makes its place visible: θ ← θ − lr·m̂/(√v̂ + eps), not √(v̂ + eps) nor (√v + eps)/√(1 − β2^t).
    let opt = Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 0.5, weight_decay: 0.0 };
    let mut theta = [1.0f32];
    let mut state = State::new(1);
    opt.step(LR, &mut state, &mut theta, &[0.5]);
    // m̂ = 0.5, √v̂ = 0.5: 1 − 0.1·0.5/(0.5 + 0.5)
    assert!((theta[0] - 0.95).abs() < 1e-7, "{theta:?}");
    opt.step(LR, &mut state, &mut theta, &[-0.2]);
    // m̂ = 0.025/0.19 = 0.1315789, √v̂ = √(0.00028975/0.001999) = 0.3807197: 0.95 + 0.1·0.1315789/0.8807197
    assert!((theta[0] as f64 - 0.935060065018065).abs() < 1e-7, "{theta:?}");
}

#[test]
fn adam_leaves_a_parameter_without_gradient_alone() {
    // m = v = 0: the update is 0/(0 + eps) = 0.
    let mut theta = [3.0f32];
    let mut state = State::new(1);
    for _ in 0..3 {
        Optimizer::ADAM.step(LR, &mut state, &mut theta, &[0.0]);
    }
    assert_eq!((theta, state.step), ([3.0], 3));
}

#[test]
fn schedules() {
    let lr = |s: Schedule, t| s.lr(0.2, t, 4);
    assert_eq!((0..5).map(|t| lr(Schedule::Constant, t)).collect::<Vec<_>>(), [0.2; 5]);
    // 0.2·(1 + cos(π·t/4))/2: 0.2, 0.2·0.8535534, 0.1, 0.2·0.1464466, 0
    let cosine: Vec<f64> = (0..5).map(|t| lr(Schedule::Cosine, t)).collect();
    let expected = [0.2, 0.17071067811865476, 0.1, 0.029289321881345254, 0.0];
    for (c, e) in cosine.iter().zip(expected) {
        assert!((c - e).abs() < 1e-15, "cosine {cosine:?}");
    }
    // 0.2·0.5^⌊t/2⌋
    let step = Schedule::Step { factor: 0.5, period: 2 };
    assert_eq!((0..6).map(|t| lr(step, t)).collect::<Vec<_>>(), [0.2, 0.2, 0.1, 0.1, 0.05, 0.05]);
}

#[test]
fn clipping_scales_by_the_global_norm() {
    // ‖g‖ = √(3² + 0² + 4²) = 5 over both tensors; scaled by 1/(5 + 1e−6).
    let (mut a, mut b) = ([3.0f32, 0.0], [4.0f32]);
    let norm = clip_grad_norm(&mut [&mut a, &mut b], 1.0);
    assert_eq!(norm, 5.0);
    let coef = 1.0 / (5.0 + 1e-6);
    assert_eq!((a, b), ([3.0 * coef as f32, 0.0], [4.0 * coef as f32]));
    // Under the bound nothing changes, bit for bit.
    let (mut a, mut b) = ([0.3f32, 0.0], [0.4f32]);
    assert!((clip_grad_norm(&mut [&mut a, &mut b], 1.0) - 0.5).abs() < 1e-7);
    assert_eq!((a, b), ([0.3, 0.0], [0.4]));
}

/// Updating tensors together in parallel pieces gives the same bits as one
/// after another, for every optimizer; the first non-finite value is found.
#[test]
fn an_update_split_over_threads_is_the_same_bits() {
    let n = 40_000;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let theta: Vec<f32> = (0..n).map(|i| (i as f32 * 0.001).sin()).collect();
    let grad: Vec<f32> = (0..n).map(|i| (i as f32 * 0.0007).cos()).collect();
    for opt in [Optimizer::Sgd { momentum: 0.9, nesterov: true, weight_decay: 1e-4 }, Optimizer::ADAM, Optimizer::ADAMW]
    {
        let (mut a, mut b) = (theta.clone(), theta.clone());
        let (mut a2, mut b2) = (theta[..77].to_vec(), theta[..77].to_vec());
        let (mut sa, mut sb) = (State::new(n), State::new(n));
        let (mut sa2, mut sb2) = (State::new(77), State::new(77));
        for _ in 0..3 {
            opt.step(0.01, &mut sa, &mut a, &grad);
            opt.step(0.01, &mut sa2, &mut a2, &grad[..77]);
            let updates = vec![
                Update { state: &mut sb, theta: &mut b, grad: &grad },
                Update { state: &mut sb2, theta: &mut b2, grad: &grad[..77] },
            ];
            assert_eq!(pool.install(|| opt.step_all(0.01, updates)), None);
        }
        assert_eq!((&a, &a2), (&b, &b2), "{opt:?}");
        assert_eq!((&sa, &sa2), (&sb, &sb2), "{opt:?}");
    }
    // An update that overflows: the first bad value in tensor, then element order.
    let mut big = vec![1.0f32; n];
    big[30_000] = f32::MAX;
    big[35_000] = f32::MAX;
    let mut small = vec![f32::MAX; 5];
    let (mut s1, mut s2) = (State::new(n), State::new(5));
    let g = vec![-f32::MAX; n];
    let updates = vec![
        Update { state: &mut s1, theta: &mut big, grad: &g },
        Update { state: &mut s2, theta: &mut small, grad: &g[..5] },
    ];
    assert_eq!(pool.install(|| Optimizer::SGD.step_all(1.0, updates)), Some((0, 30_000)));
}

/// A tensor updated whole (vector lanes) and element by element (the loop's
/// scalar tail) gives the same bits, for every optimizer: the update is
/// compiled for the widest vectors the CPU has (`kernels::wide`).
#[test]
fn vector_and_scalar_updates_are_the_same_bits() {
    let n = 1_003;
    let theta: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
    let grads: Vec<Vec<f32>> = (0..3).map(|s| (0..n).map(|i| ((i * (s + 2)) as f32 * 0.11).cos()).collect()).collect();
    for opt in [
        Optimizer::Sgd { momentum: 0.9, nesterov: true, weight_decay: 1e-4 },
        Optimizer::Sgd { momentum: 0.9, nesterov: false, weight_decay: 0.0 },
        Optimizer::ADAM,
        Optimizer::Adam { beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0.01 },
        Optimizer::ADAMW,
    ] {
        let (mut whole, mut state) = (theta.clone(), State::new(n));
        let mut single = theta.clone();
        let mut states: Vec<State> = (0..n).map(|_| State::new(1)).collect();
        for g in &grads {
            opt.step(0.01, &mut state, &mut whole, g);
            for (i, s) in states.iter_mut().enumerate() {
                opt.step(0.01, s, &mut single[i..i + 1], &g[i..i + 1]);
            }
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&whole), bits(&single), "{opt:?}");
        let firsts: Vec<f32> = states.iter().map(|s| s.first[0]).collect();
        let seconds: Vec<f32> = states.iter().map(|s| s.second[0]).collect();
        assert_eq!((bits(&state.first), bits(&state.second)), (bits(&firsts), bits(&seconds)), "{opt:?}");
    }
}
