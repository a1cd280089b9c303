//! The checked, typed form of every hardware effect, with units normalized.
//! `docs/language.md` gives each one's formula.

use crate::source::Span;
pub use analog_runtime::ir::hardware::*;

/// An effect together with where it was written, and — when it reached a
/// layer through `on PROFILE` — where that profile was applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Sourced<T> {
    pub value: T,
    pub span: Span,
    pub via: Option<Span>,
}

/// The effective hardware of one op. An empty slot means the ideal digital
/// behaviour: no noise, exact accumulation, fp32, exact products.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hardware {
    pub noise: Option<Sourced<Noise>>,
    pub weight_noise: Option<Sourced<Noise>>,
    pub accumulate: Option<Sourced<Accumulate>>,
    pub format: Option<Sourced<Format>>,
    pub multiplier: Option<Sourced<Multiplier>>,
}

impl Hardware {
    /// `self` with every slot that `top` sets replaced by `top`'s.
    pub fn overlay(&self, top: &Hardware) -> Hardware {
        fn pick<T: Clone>(base: &Option<T>, top: &Option<T>) -> Option<T> {
            top.clone().or_else(|| base.clone())
        }
        Hardware {
            noise: pick(&self.noise, &top.noise),
            weight_noise: pick(&self.weight_noise, &top.weight_noise),
            accumulate: pick(&self.accumulate, &top.accumulate),
            format: pick(&self.format, &top.format),
            multiplier: pick(&self.multiplier, &top.multiplier),
        }
    }

    /// The same effects, marked as applied through a profile at `via`.
    pub fn applied_at(&self, via: Span) -> Hardware {
        fn mark<T: Clone>(slot: &Option<Sourced<T>>, via: Span) -> Option<Sourced<T>> {
            slot.as_ref().map(|s| Sourced { via: Some(s.via.unwrap_or(via)), ..s.clone() })
        }
        Hardware {
            noise: mark(&self.noise, via),
            weight_noise: mark(&self.weight_noise, via),
            accumulate: mark(&self.accumulate, via),
            format: mark(&self.format, via),
            multiplier: mark(&self.multiplier, via),
        }
    }

    pub fn format(&self) -> &Format {
        self.format.as_ref().map_or(&Format::Fp32, |f| &f.value)
    }
}
