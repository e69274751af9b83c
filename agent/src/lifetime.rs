//! Key lifetimes in the time format of ssh-agent and ssh-add (`sshd_config(5)` TIME FORMATS):
//! a number of seconds, or numbers with units, e.g. `30`, `90s`, `10m`, `1h30m`, `2d`, `1w`.

use crate::{Error, Result};

/// Parses a lifetime into seconds; zero, overflow and unknown units are errors.
pub fn parse_lifetime(text: &str) -> Result<u32> {
    let bad = || Error::BadLifetime(text.to_owned());
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    if text.is_empty() {
        return Err(bad());
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            if chars.peek().is_some() {
                continue;
            }
        }
        let unit: u64 = match c {
            '0'..='9' => 1,
            's' | 'S' => 1,
            'm' | 'M' => 60,
            'h' | 'H' => 3600,
            'd' | 'D' => 86_400,
            'w' | 'W' => 604_800,
            _ => return Err(bad()),
        };
        if digits.is_empty() {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if total == 0 || total > u64::from(u32::MAX) {
        return Err(bad());
    }
    Ok(total as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ssh_time_formats() {
        assert_eq!(parse_lifetime("30").expect("30"), 30);
        assert_eq!(parse_lifetime("90s").expect("90s"), 90);
        assert_eq!(parse_lifetime("10m").expect("10m"), 600);
        assert_eq!(parse_lifetime("1h").expect("1h"), 3600);
        assert_eq!(parse_lifetime("1h30m").expect("1h30m"), 5400);
        assert_eq!(parse_lifetime("2d").expect("2d"), 172_800);
        assert_eq!(parse_lifetime("1W").expect("1W"), 604_800);
    }

    #[test]
    fn refuses_nonsense() {
        for bad in ["", "0", "m", "10x", "-5", "1.5h", "h1", "99999999999"] {
            assert!(parse_lifetime(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
