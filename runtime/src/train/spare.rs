//! Buffers kept from one training step to the next: the same layers need
//! the same sizes every step, and a fresh zeroed buffer of a weight
//! gradient's size costs a memory-wide `memset` on one thread before the
//! threads can start.

use std::sync::Mutex;

/// At most this many buffers are kept: more than a step of the networks
/// trained here hands back (its tape, patches, products and gradients); the
/// same sizes come back every step, so what is kept is about one step's
/// allocations.
const KEPT: usize = 256;

/// Buffers given back after a step, for the next one to take.
#[derive(Debug, Default)]
pub struct Spare(Mutex<Vec<Vec<f32>>>);

impl Spare {
    /// A buffer of `len` values, every one of which the caller overwrites:
    /// one given back earlier with its values left over, or a new one.
    pub fn take(&self, len: usize) -> Vec<f32> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match kept.iter().position(|v| v.len() == len) {
            Some(at) => kept.remove(at),
            None => vec![0.0; len],
        }
    }

    /// Keeps `buffers` for later [`take`](Self::take)s. When [`KEPT`] are
    /// kept, the one kept longest goes: a size that is given back but never
    /// taken again (a step hands back more than it takes of some sizes) must
    /// not fill the store and turn away the sizes that are taken.
    pub fn give(&self, buffers: impl IntoIterator<Item = Vec<f32>>) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for b in buffers.into_iter().filter(|b| !b.is_empty()) {
            if kept.len() == KEPT {
                kept.remove(0);
            }
            kept.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_a_buffer_of_the_size_asked() {
        let spare = Spare::default();
        assert_eq!(spare.take(3), [0.0; 3]);
        spare.give([vec![1.0; 3], vec![2.0; 5]]);
        assert_eq!(spare.take(5), [2.0; 5]);
        assert_eq!(spare.take(3), [1.0; 3]);
        assert_eq!(spare.take(3), [0.0; 3]);
    }

    #[test]
    fn sizes_never_taken_again_do_not_turn_away_new_ones() {
        let spare = Spare::default();
        spare.give((0..KEPT).map(|i| vec![0.0; i + 10]));
        spare.give([vec![1.0; 3]]);
        assert_eq!(spare.take(3), [1.0; 3]);
        assert_eq!(spare.take(10), [0.0; 10], "the oldest went");
        assert_eq!(spare.0.lock().unwrap().len(), KEPT - 1);
    }
}
