//! Configuration bounds: one way to say a value is outside its allowed range, so every section's
//! `validate` message names the key, the value and the range alike.

use std::ops::RangeInclusive;

/// A problem line when `value` of `key` is outside `range`, naming the allowed range.
pub fn out_of_range<T>(key: &str, value: T, range: &RangeInclusive<T>) -> Option<String>
where
    T: PartialOrd + std::fmt::Display,
{
    (!range.contains(&value)).then(|| {
        format!(
            "{key}: {value} is out of range; allowed {}..={}",
            range.start(),
            range.end()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_key_the_value_and_the_range() {
        assert_eq!(out_of_range("a.b", 5u64, &(1..=10)), None);
        assert_eq!(
            out_of_range("a.b", 0u64, &(1..=10)).as_deref(),
            Some("a.b: 0 is out of range; allowed 1..=10")
        );
        assert!(out_of_range("x", 11usize, &(1..=10)).is_some());
    }
}
