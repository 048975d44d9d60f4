//! Durations in the policy file: a whole number and one unit, `s`, `m`, `h`, `d` or `w`
//! (`"7d"`, `"6w"`). Nothing else is accepted, so `"7 days"` or `"1.5d"` is an error, not a guess.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A time as whole seconds since 1970, as the caches and git write times (0 before 1970).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A time written as whole seconds since 1970; `None` when it is not one.
pub fn from_unix_seconds(text: &str) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(text.parse().ok()?))
}

/// Parse a policy duration such as `"7d"`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let hint = || format!("invalid duration {text:?}: write a number and a unit s, m, h, d or w, e.g. \"7d\"");
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(hint)?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number.parse().map_err(|_| hint())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(hint()),
    };
    number.checked_mul(seconds).map(Duration::from_secs).ok_or_else(hint)
}

/// Format a duration in the largest whole unit that fits, for messages (`"7d"`, `"6w"`,
/// `"90m"`); a single week reads as `"7d"`, as people write it.
pub fn format(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= size && s.is_multiple_of(size) && !(unit == "w" && s == size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse("6w"), Ok(Duration::from_secs(42 * 86_400)));
        assert_eq!(parse("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(format(Duration::from_secs(42 * 86_400)), "6w");
        assert_eq!(format(Duration::from_secs(7 * 86_400)), "7d");
    }

    #[test]
    fn rejects_anything_else() {
        for bad in ["", "d", "7", "7 d", "7days", "1.5d", "-1d", "99999999999999999999w"] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
