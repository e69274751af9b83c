//! The agent's log: one line per signature (time, key fingerprint, token count, peer pid, uid
//! and executable), refused peers, and with `-d` debug lines. Never key material or passphrases.
//!
//! Lines go to stderr (the terminal in the foreground; a forked agent's stderr is its log
//! file, see `daemon`), to a file (`--log file` in the foreground), or to the system log
//! (`--log syslog`, as OpenSSH's agent logs: facility auth, where journald and rsyslog look).

use std::fs::File;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sys::{Peer, Severity, Syslog};

/// Where log lines go and how much to say.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    debug: bool,
    to: &'static Destination,
}

/// Where the lines of one agent process go, for as long as the process lives.
#[derive(Debug)]
pub(crate) enum Destination {
    Stderr,
    File(File),
    Syslog(Syslog),
}

static STDERR: Destination = Destination::Stderr;

impl Log {
    /// A log on stderr.
    pub fn new(debug: bool) -> Self {
        Log { debug, to: &STDERR }
    }

    /// A log to `to`. Set up once per agent process, which logs until it exits, so the
    /// destination is kept for the process's lifetime (and `Log` stays a plain `Copy` handle).
    pub(crate) fn to(debug: bool, to: Destination) -> Self {
        Log {
            debug,
            to: Box::leak(Box::new(to)),
        }
    }

    /// A line that is always written.
    pub fn info(&self, message: &str) {
        self.write_line(Severity::Info, message);
    }

    /// A line written only with `-d`.
    pub fn debug(&self, message: impl FnOnce() -> String) {
        if self.debug {
            self.write_line(Severity::Debug, &format!("debug: {}", message()));
        }
    }

    /// The audit line for one signature.
    /// `origin` says where the key lives: `software`, or a token's label and key id; `route`
    /// where the signature was made for: `local`, or `via=SHA256:... forwarded` (see
    /// `Route::describe`).
    pub fn signature(
        &self,
        kind: &str,
        fingerprint: &str,
        origin: &str,
        tokens: usize,
        peer: &Peer,
        route: &str,
    ) {
        self.write_line(
            Severity::Info,
            &format!(
                "sign {kind} key={fingerprint} tokens={tokens} {} {route} key-in={origin}",
                peer.describe()
            ),
        );
    }

    fn write_line(&self, severity: Severity, message: &str) {
        // A log that cannot be written must not take the agent down; a line the system log
        // refused still goes to stderr (the journal, under systemd).
        match self.to {
            Destination::Stderr => stamped(&mut std::io::stderr().lock(), message),
            Destination::File(file) => stamped(&mut &*file, message),
            Destination::Syslog(syslog) => {
                if syslog.send(severity, message).is_err() {
                    stamped(&mut std::io::stderr().lock(), message);
                }
            }
        }
    }
}

/// Writes `TIME MESSAGE` (syslog stamps the time itself).
fn stamped(out: &mut impl Write, message: &str) {
    let _ = writeln!(out, "{} {message}", utc_now());
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
