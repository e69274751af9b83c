//! The agent's log: one line per signature (time, key fingerprint, token count, peer pid, uid
//! and executable), refused peers, and with `-d` debug lines. Never key material or passphrases.
//!
//! Lines go to stderr. In the foreground that is the terminal; a forked agent's stderr is its
//! log file (see `daemon`), so the same code serves both.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sys::Peer;

/// Where log lines go and how much to say.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    debug: bool,
}

impl Log {
    pub fn new(debug: bool) -> Self {
        Log { debug }
    }

    /// A line that is always written.
    pub fn info(&self, message: &str) {
        write_line(message);
    }

    /// A line written only with `-d`.
    pub fn debug(&self, message: impl FnOnce() -> String) {
        if self.debug {
            write_line(&format!("debug: {}", message()));
        }
    }

    /// The audit line for one signature.
    /// `origin` says where the key lives: `software`, or a token's label and key id.
    pub fn signature(
        &self,
        kind: &str,
        fingerprint: &str,
        origin: &str,
        tokens: usize,
        peer: &Peer,
    ) {
        write_line(&format!(
            "sign {kind} key={fingerprint} tokens={tokens} {} key-in={origin}",
            peer.describe()
        ));
    }
}

fn write_line(message: &str) {
    // A log that cannot be written must not take the agent down.
    let _ = writeln!(std::io::stderr().lock(), "{} {message}", utc_now());
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_like_date() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_326_311), "2026-11-22T05:45:11Z");
    }
}
