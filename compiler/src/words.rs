//! Words in the reports' text.

/// `n` and the noun, plural unless `n` is 1: "1 trial", "5 trials".
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(super::count(1u32, "trial"), "1 trial");
        assert_eq!(super::count(0u32, "trial"), "0 trials");
        assert_eq!(super::count(64u64, "thread"), "64 threads");
    }
}
