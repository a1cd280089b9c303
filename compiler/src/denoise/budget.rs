//! The parameter budget of `analogc denoise` and how it is spent: blocks go
//! after the layers in placement order, each as wide as the budget left allows
//! (at most the layer's own width, or exactly `--hidden`).

use crate::diag::Code;
use crate::error::{Error, Result};
use serde::Serialize;

/// `--budget`: a share of the model's parameters (`2%`) or a count (`5000`).
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Budget {
    Percent(f64),
    Count(usize),
}

impl Budget {
    /// As written on the command line.
    pub fn text(self) -> String {
        match self {
            Budget::Percent(p) => format!("{p}%"),
            Budget::Count(n) => n.to_string(),
        }
    }

    /// Parses `2%`, `0.5 %` or `5000`; anything else, or a budget that is not
    /// above zero, is E1101.
    pub fn parse(text: &str) -> Result<Budget> {
        let bad = |why: &str| {
            Err(Error::user(
                Code::BadDenoiseOption,
                format!("`--budget {text}`: {why}; write a share of the model's parameters (`2%`) or a count (`5000`)"),
            ))
        };
        let text = text.trim();
        if let Some(number) = text.strip_suffix('%') {
            return match number.trim().parse::<f64>() {
                Ok(p) if p.is_finite() && p > 0.0 => Ok(Budget::Percent(p)),
                Ok(_) => bad("the share must be a number above 0"),
                Err(_) => bad("not a number before `%`"),
            };
        }
        match text.parse::<u64>() {
            Ok(0) => bad("the count must be above 0"),
            Ok(n) => Ok(Budget::Count(n.min(usize::MAX as u64) as usize)),
            Err(_) if text.parse::<f64>().is_ok() => bad("a count of parameters is a whole number above 0"),
            Err(_) => bad("not a number"),
        }
    }

    /// The parameters it allows for a model of `total` parameters (a share
    /// rounded down).
    pub fn parameters(self, total: usize) -> usize {
        match self {
            Budget::Percent(p) => (p / 100.0 * total as f64).floor() as usize,
            Budget::Count(n) => n,
        }
    }
}

/// Where a block can go: after a layer whose output is a vector of `width`
/// values (`kernel` 1) or `width` channels (a `kernel × kernel` conv block).
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub layer: String,
    pub width: usize,
    pub kernel: usize,
}

impl Site {
    /// A block's parameters at hidden width `h`: `down` (`h·width·k²` weights,
    /// `h` biases) and `up` (`width·h·k²`, `width`).
    pub fn parameters(&self, hidden: usize) -> usize {
        let k2 = self.kernel * self.kernel;
        2 * self.width * hidden * k2 + hidden + self.width
    }

    /// The widest block (at most `cap`) that `budget` pays for; 0 if none.
    fn widest(&self, budget: usize, cap: usize) -> usize {
        let k2 = self.kernel * self.kernel;
        let per_unit = 2 * self.width * k2 + 1;
        budget.saturating_sub(self.width).div_euclid(per_unit).min(cap)
    }
}

/// The blocks the budget pays for: `(index into sites, hidden width)`, going
/// through `order` (indices into `sites`). With `hidden`, every block has
/// that width and a site whose block does not fit what is left is passed
/// over; without, each block is the widest the rest of the budget pays for,
/// at most the site's own width.
pub fn spend(sites: &[Site], order: &[usize], budget: usize, hidden: Option<usize>) -> Vec<(usize, usize)> {
    let mut left = budget;
    let mut blocks = vec![];
    for &i in order {
        let site = &sites[i];
        let h = match hidden {
            Some(h) if site.parameters(h) <= left => h,
            Some(_) => continue,
            None => site.widest(left, site.width),
        };
        if h == 0 {
            continue;
        }
        left -= site.parameters(h);
        blocks.push((i, h));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(layer: &str, width: usize, kernel: usize) -> Site {
        Site { layer: layer.into(), width, kernel }
    }

    #[test]
    fn budgets_parse_as_shares_or_counts() {
        assert_eq!(Budget::parse("2%").unwrap(), Budget::Percent(2.0));
        assert_eq!(Budget::parse(" 0.5 %").unwrap(), Budget::Percent(0.5));
        assert_eq!(Budget::parse("5000").unwrap(), Budget::Count(5000));
        for bad in ["0", "0%", "-2%", "nan%", "1.5", "two", "%", ""] {
            assert!(Budget::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Budget::Percent(2.0).parameters(269_322), 5386);
        assert_eq!(Budget::Count(7).parameters(10), 7);
    }

    #[test]
    fn a_block_counts_both_halves_and_their_biases() {
        assert_eq!(site("fc1", 256, 1).parameters(10), 2 * 256 * 10 + 10 + 256);
        assert_eq!(site("conv1", 6, 3).parameters(4), 2 * 6 * 4 * 9 + 4 + 6);
    }

    #[test]
    fn the_budget_goes_to_the_first_sites_as_wide_as_it_pays() {
        let sites = [site("fc1", 256, 1), site("fc2", 256, 1), site("fc3", 10, 1)];
        // 5386 pays for a width of 10 after fc1 (5386 exactly), nothing after.
        assert_eq!(spend(&sites, &[0, 1, 2], 5386, None), vec![(0, 10)]);
        // fc3's block is capped at its width 10 (220), the rest goes to fc2.
        assert_eq!(spend(&sites, &[2, 1, 0], 5386, None), vec![(2, 10), (1, 9)]);
        // A fixed width passes over what does not fit.
        assert_eq!(spend(&sites, &[0, 1, 2], 3000, Some(4)), vec![(0, 4), (2, 4)]);
        assert_eq!(spend(&sites, &[0], 100, None), vec![]);
    }
}
