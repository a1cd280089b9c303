//! The ops whose rule needs no sum over the batch: the activations, softmax
//! (per row), add, concat, flatten/reshape. Each works on any batch, since an element's
//! gradient depends only on its own sample.

/// ReLU, `y = max(x, 0)`, from its output: `dx = dy` where `y > 0`, else 0
/// (the gradient at 0 is 0, as PyTorch's).
pub fn relu(y: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0; dy.len()];
    relu_into(y, dy, &mut dx);
    dx
}

/// [`relu`] into `dx`.
pub fn relu_into(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let n = dx.len();
    let (y, dy) = (&y[..n], &dy[..n]);
    for i in 0..n {
        // A mask, not a branch (which the compiler kept, and which the
        // signs of a layer's outputs mispredict half the time): it vectorizes.
        let keep = if y[i] > 0.0 { u32::MAX } else { 0 };
        dx[i] = f32::from_bits(dy[i].to_bits() & keep);
    }
}

/// Leaky ReLU, `y = x` where `x > 0`, else `slope·x`, from its input:
/// `dx = dy` where `x > 0`, else `slope·dy` (at 0 the gradient is `slope`, as
/// PyTorch's).
pub fn leaky_relu(x: &[f32], slope: f32, dy: &[f32]) -> Vec<f32> {
    x.iter().zip(dy).map(|(x, d)| if *x > 0.0 { *d } else { slope * d }).collect()
}

/// Clip (`relu6` is `min = 0, max = 6`), from its input: `dx = dy` strictly
/// inside `(min, max)`, else 0; at a bound the gradient is 0, as PyTorch's
/// `hardtanh` and `relu6`.
pub fn clip(x: &[f32], min: f32, max: f32, dy: &[f32]) -> Vec<f32> {
    x.iter().zip(dy).map(|(x, d)| if *x > min && *x < max { *d } else { 0.0 }).collect()
}

/// Hard sigmoid, `y = clip(alpha·x + beta, 0, 1)`, from its input: `dx =
/// alpha·dy` where the forward's `alpha·x + beta` (in f32, as computed) is
/// strictly inside `(0, 1)`, else 0; at either kink the gradient is 0, as
/// PyTorch's `hardsigmoid`.
pub fn hard_sigmoid(x: &[f32], alpha: f32, beta: f32, dy: &[f32]) -> Vec<f32> {
    x.iter()
        .zip(dy)
        .map(|(x, d)| {
            let t = alpha * x + beta;
            if t > 0.0 && t < 1.0 {
                d * alpha
            } else {
                0.0
            }
        })
        .collect()
}

/// Hard swish, `y = x·hard_sigmoid(x, 1/6, 1/2)`, from its input, PyTorch's
/// rule: `dx = 0` where `x < −3`, `dy·(x/3 + 1/2)` where `−3 ≤ x ≤ 3` (so
/// `−dy/2` at −3 and `3·dy/2` at 3), `dy` where `x > 3`.
pub fn hard_swish(x: &[f32], dy: &[f32]) -> Vec<f32> {
    x.iter()
        .zip(dy)
        .map(|(x, d)| {
            if *x < -3.0 {
                0.0
            } else if *x <= 3.0 {
                d * (x / 3.0 + 0.5)
            } else {
                *d
            }
        })
        .collect()
}

/// Sigmoid, from its output: `dx = dy·y·(1 − y)`.
pub fn sigmoid(y: &[f32], dy: &[f32]) -> Vec<f32> {
    y.iter().zip(dy).map(|(y, d)| d * (y * (1.0 - y))).collect()
}

/// Tanh, from its output: `dx = dy·(1 − y²)`.
pub fn tanh(y: &[f32], dy: &[f32]) -> Vec<f32> {
    y.iter().zip(dy).map(|(y, d)| d * (1.0 - y * y)).collect()
}

/// Softmax over rows of `n` (the last axis), from its output:
/// `dx_i = y_i·(dy_i − Σ_j dy_j·y_j)`, the row's sum in `j` order. At the end
/// of a network with a cross-entropy loss use the fused
/// [`softmax_cross_entropy`](crate::train::loss::softmax_cross_entropy) instead.
pub fn softmax(y: &[f32], dy: &[f32], n: usize) -> Vec<f32> {
    let mut dx = Vec::with_capacity(y.len());
    for (y, dy) in y.chunks(n).zip(dy.chunks(n)) {
        let dot = y.iter().zip(dy).fold(0.0f32, |s, (y, d)| s + d * y);
        dx.extend(y.iter().zip(dy).map(|(y, d)| y * (d - dot)));
    }
    dx
}

/// Add, `y = x + other`: both operands get `dy`. (When one tensor feeds both,
/// the engine adds the two.)
pub fn add(dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    (dy.to_vec(), dy.to_vec())
}

/// Concat along the first axis of a sample, `y = [x₀; x₁; …]`: each operand
/// gets its part of each sample's `dy`. `sizes` are the operands' sample
/// sizes; `dy` is `[batch][Σ sizes]`.
pub fn concat(sizes: &[usize], dy: &[f32]) -> Vec<Vec<f32>> {
    let total: usize = sizes.iter().sum();
    let mut dx: Vec<Vec<f32>> = sizes.iter().map(|n| Vec::with_capacity(dy.len() / total * n)).collect();
    for row in dy.chunks(total) {
        let mut at = 0;
        for (d, n) in dx.iter_mut().zip(sizes) {
            d.extend_from_slice(&row[at..at + n]);
            at += n;
        }
    }
    dx
}

/// Flatten and reshape keep the row-major buffer: `dx = dy`.
pub fn flatten(dy: &[f32]) -> Vec<f32> {
    dy.to_vec()
}
