//! Per-layer timing of a compiled model (`analogc bench`).

use super::dynamic::dynamic_layer;
use super::exec::{Chip, Compiled, Workspace};
use super::layout::MAX_BATCH;
use analog_runtime::interp::weights_redrawn;
use analog_runtime::ir::{NodeId, NodeKind};

impl Compiled {
    /// The median seconds each layer takes on samples `0..n` (`n ≤ MAX_BATCH`)
    /// over `reps` calls, after one run of the network fills every buffer.
    /// Input nodes (which preprocess in place) are not timed.
    ///
    /// # Panics
    /// As [`run`](Self::run).
    pub fn time_layers(
        &self,
        chip: &Chip,
        ws: &mut Workspace,
        inputs: &[&[f32]],
        n: usize,
        reps: usize,
    ) -> Vec<(NodeId, f64)> {
        let n = n.min(MAX_BATCH);
        self.run(chip, ws, 0, inputs, n);
        let ctx = self.context(chip, ws, 0, n);
        let mut out = vec![];
        for (id, f) in &self.layers {
            if matches!(self.graph().node(*id).kind, NodeKind::Input { .. }) {
                continue;
            }
            let redrawn = weights_redrawn(self.graph().node(*id));
            let mut times: Vec<f64> = (0..reps.max(1))
                .map(|_| {
                    let t = std::time::Instant::now();
                    // SAFETY: as in `run`; the buffers hold a whole batch.
                    match redrawn {
                        true => unsafe { dynamic_layer(&ctx, 0, id.index() as u32, *f) },
                        false => unsafe { f(&ctx, 0) },
                    }
                    t.elapsed().as_secs_f64()
                })
                .collect();
            times.sort_by(f64::total_cmp);
            out.push((*id, times[times.len() / 2]));
        }
        out
    }
}
