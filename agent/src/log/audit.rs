//! The agent's log: one line per signature (time, key fingerprint, token count, peer pid, uid
//! and executable), refused peers, and with `-d` debug lines. Never key material or passphrases.
//!
//! Lines go to stderr (the terminal in the foreground; a forked agent's stderr is its log
//! file, see `daemon`), to a file (`--log file` in the foreground), or to the system log
//! (`--log syslog`, as OpenSSH's agent logs: facility auth, where journald and rsyslog look),
//! through a bounded queue and one writer thread (`log_queue`).

use std::fs::File;
use std::io::Write;
use std::time::Duration;

use super::chain;
use super::clock::utc_now;
use super::queue::{Class, Line, LogQueue};
use crate::sys::{Peer, Severity, Syslog};

/// How long the last lines may take to be written when the agent stops.
const FLUSH_AT_EXIT: Duration = Duration::from_secs(2);

/// Where log lines go and how much to say. Lines are queued and written by one thread (see
/// `log_queue`), so a log that cannot keep up never blocks the caller for long.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    debug: bool,
    to: &'static Destination,
    queue: &'static LogQueue,
}

/// The size at which the log file is rotated: the file becomes FILE.1 (replacing the one
/// before) and a new FILE is begun, so the log takes at most about twice this on disk.
pub const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;

/// Where the lines of one agent process go, for as long as the process lives.
#[derive(Debug)]
pub(crate) enum Destination {
    Stderr,
    File(LogFile),
    Syslog(Syslog),
}

/// The log file, rotated at `max` bytes. Only the writer thread writes it.
#[derive(Debug)]
pub(crate) struct LogFile {
    file: std::sync::Mutex<File>,
    path: std::path::PathBuf,
    max: u64,
}

impl Destination {
    /// The log file `file`, opened at `path`, rotated when it grows past `max` bytes.
    pub(crate) fn file(file: File, path: std::path::PathBuf, max: u64) -> Destination {
        Destination::File(LogFile {
            file: std::sync::Mutex::new(file),
            path,
            max,
        })
    }
}

impl LogFile {
    fn write(&self, batch: &[Line]) {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stamped(&mut *file, batch);
        if file.metadata().is_ok_and(|m| m.len() > self.max) {
            let mut old = self.path.clone().into_os_string();
            old.push(".1");
            // The folder was checked when the file was opened (ours, nobody else writes it);
            // a new file is opened the same safe way.
            let rotated = std::fs::rename(&self.path, &old)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    client::files::open_private_append(&self.path).map_err(|e| e.to_string())
                });
            let note = match rotated {
                Ok(new) => {
                    *file = new;
                    format!(
                        "log rotated: the lines before are in {}",
                        old.to_string_lossy()
                    )
                }
                Err(e) => format!("cannot rotate the log file: {e}"),
            };
            stamped(
                &mut *file,
                &[Line {
                    time: utc_now(),
                    severity: Severity::Info,
                    text: note,
                }],
            );
        }
    }
}

impl Log {
    /// A log on stderr.
    pub fn new(debug: bool) -> Self {
        Log::to(debug, Destination::Stderr)
    }

    /// A log to `to`, with its writer thread. Set up once per agent process, which logs until
    /// it exits, so the destination and queue are kept for the process's lifetime (and `Log`
    /// stays a plain `Copy` handle).
    pub(crate) fn to(debug: bool, to: Destination) -> Self {
        let to: &'static Destination = Box::leak(Box::new(to));
        let queue: &'static LogQueue = Box::leak(Box::default());
        // Without a writer the queue fills and lines are counted as lost: still no blocking.
        let _ = std::thread::Builder::new()
            .name("log".to_owned())
            .spawn(move || queue.run_writer(&mut |batch| write_lines(to, batch)));
        Log { debug, to, queue }
    }

    /// A line that is always written, unless the log is stalled (then it is counted).
    pub fn info(&self, message: &str) {
        self.push(Severity::Info, message.to_owned(), Class::Ordinary);
    }

    /// An audit line (a key added or removed, lock, unlock): waits a bounded time for room in
    /// a stalled log, and is counted and reported if it still cannot be queued.
    pub fn audit(&self, message: &str) {
        self.push(Severity::Info, message.to_owned(), Class::Audit);
    }

    /// A malformed or refused request from `peer`: the first of an interval is logged in
    /// full, the rest are summed up in one line per peer and interval.
    pub fn bad_request(&self, peer: &Peer, message: impl FnOnce() -> String) {
        if self.queue.tally(&peer.describe()) {
            self.info(&message());
        }
    }

    /// A line written only with `-d`.
    pub fn debug(&self, message: impl FnOnce() -> String) {
        if self.debug {
            self.push(
                Severity::Debug,
                format!("debug: {}", message()),
                Class::Ordinary,
            );
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
        // A flood of signatures (a forwarded agent used as an oracle) would fill the disk:
        // past a peer's share of the interval, its signatures are summed up in one line.
        if !self.queue.tally_signature(&peer.describe(), tokens) {
            return;
        }
        self.audit(&format!(
            "sign {kind} key={fingerprint} tokens={tokens} {} {route} key-in={origin}",
            peer.describe()
        ));
    }

    /// Writes what is queued and the pending summaries, waiting at most two seconds for a
    /// stalled log: called before the process exits.
    pub fn flush(&self) {
        let to = self.to;
        self.queue
            .flush(FLUSH_AT_EXIT, &mut |batch| write_lines(to, batch));
    }

    fn push(&self, severity: Severity, text: String, class: Class) {
        let line = Line {
            time: utc_now(),
            severity,
            text,
        };
        self.queue.push(line, class);
    }
}

/// The writer thread's work. A log that cannot be written must not take the agent down; a
/// line the system log refused still goes to stderr (the journal, under systemd).
fn write_lines(to: &Destination, batch: &[Line]) {
    if batch.is_empty() {
        return;
    }
    match to {
        Destination::Stderr => stamped(&mut std::io::stderr().lock(), batch),
        Destination::File(file) => file.write(batch),
        Destination::Syslog(syslog) => {
            // The chain covers the time too, though syslog stamps its own.
            let (chained, last) =
                chain::chained(batch.iter().map(|l| format!("{} {}", l.time, l.text)));
            for (line, text) in batch.iter().zip(&chained) {
                let message = text.split_once(' ').map_or(text.as_str(), |(_, t)| t);
                if syslog.send(line.severity, message).is_err() {
                    let _ = writeln!(std::io::stderr().lock(), "{text}");
                }
            }
            chain::written(last);
        }
    }
}

/// Writes `TIME MESSAGE #H` lines (`chain`) in one write where it can (syslog stamps the
/// time itself).
fn stamped(out: &mut impl Write, batch: &[Line]) {
    let (chained, last) = chain::chained(batch.iter().map(|l| format!("{} {}", l.time, l.text)));
    let mut text = String::new();
    for line in chained {
        text.push_str(&line);
        text.push('\n');
    }
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    chain::written(last);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_file_is_rotated_past_its_size_keeping_one_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.log");
        let file = client::files::open_private_append(&path).expect("open");
        let to = Destination::file(file, path.clone(), 1000);
        let line = |n: usize| Line {
            time: "T".into(),
            severity: Severity::Info,
            text: format!("line {n} {}", "x".repeat(80)),
        };
        for n in 0..40 {
            write_lines(&to, &[line(n)]);
        }
        let now = std::fs::read_to_string(&path).expect("log");
        let old = std::fs::read_to_string(dir.path().join("agent.log.1")).expect("old log");
        assert!(now.len() < 1100, "{} bytes", now.len());
        assert!(now.contains("line 39"), "{now}");
        assert!(old.contains("T line "), "{old}");
        assert!(
            now.contains(&format!(
                "log rotated: the lines before are in {}.1",
                path.display()
            )),
            "{now}"
        );
        let names = std::fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(names, 2, "one file and one old one");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("stat").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
