//! The training loss: softmax cross-entropy on logits, fused with its
//! gradient, as PyTorch's `nn.CrossEntropyLoss()` (mean over the batch).

/// The batch's loss and its gradient with respect to the logits.
#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    /// The mean over the batch of each sample's `−ln softmax(z)[label]`.
    pub loss: f64,
    /// `[batch][classes]`
    pub dlogits: Vec<f32>,
}

/// Softmax cross-entropy of `logits` (`[batch][classes]`) against `labels`,
/// stable for any logits: with `m = max_j z_j`, `e_j = exp(z_j − m)` and
/// `s = Σ_j e_j` (j ascending), a sample's loss is `ln s − (z_label − m)` and
/// `dz_j = (e_j / s − [j = label]) / batch`. The mean is summed in f64 in batch
/// order. A model whose output is a softmax trains on the softmax's input with
/// this loss.
///
/// Panics if a label is not below `classes` (datasets are checked when read).
pub fn softmax_cross_entropy(logits: &[f32], labels: &[u32]) -> Loss {
    let batch = labels.len();
    let classes = logits.len() / batch;
    assert_eq!(logits.len(), batch * classes, "softmax_cross_entropy: shapes");
    let mut total = 0.0f64;
    let mut dlogits = Vec::with_capacity(logits.len());
    for (z, label) in logits.chunks(classes).zip(labels) {
        let label = *label as usize;
        assert!(label < classes, "label {label} of {classes} classes");
        let m = z.iter().fold(f32::NEG_INFINITY, |a, b| a.max(*b));
        let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
        let s = e.iter().fold(0.0f32, |a, b| a + b);
        total += (s.ln() - (z[label] - m)) as f64;
        dlogits.extend(e.iter().enumerate().map(|(j, e)| (e / s - if j == label { 1.0 } else { 0.0 }) / batch as f32));
    }
    Loss { loss: total / batch as f64, dlogits }
}
