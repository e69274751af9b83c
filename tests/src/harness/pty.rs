//! Any command spawned in a PTY (through expectrl): send input, expect output with a timeout,
//! keep the whole transcript, and get the exit status.
//!
//! Expecting polls the PTY every few milliseconds instead of expectrl's busy loop, so a suite
//! of PTY tests does not eat the machine's cores. A failed expectation panics with what was
//! expected and the transcript so far, which is what a reader of a failed test needs.

use std::io::ErrorKind;
use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::{Session, WaitStatus};

/// How long an expectation waits by default: generous, only to keep a broken test from hanging.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How a process in the PTY ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

/// A command running in a PTY, with everything it printed so far.
pub struct Pty {
    session: Session,
    label: String,
    output: Vec<u8>,
    /// Where the next expectation starts looking in `output`.
    pos: usize,
    eof: bool,
    timeout: Duration,
}

impl Pty {
    /// Spawns `command` (with its args, env and current dir) on a new PTY set up like a
    /// user's terminal: canonical mode with echo on.
    pub fn spawn(command: Command) -> Pty {
        let label = format!("{command:?}");
        let session = Session::spawn(with_echo_on(&command))
            .unwrap_or_else(|e| panic!("spawn {label} in a PTY: {e}"));
        Pty {
            session,
            label,
            output: Vec::new(),
            pos: 0,
            eof: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets how long expectations wait before failing the test.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.session.get_process().pid().as_raw()
    }

    /// Everything the command printed so far (lossy UTF-8, including what was expected).
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// Sends bytes as typed, without a newline.
    pub fn send(&mut self, text: impl AsRef<[u8]>) {
        use std::io::Write;
        self.session
            .write_all(text.as_ref())
            .and_then(|()| self.session.flush())
            .unwrap_or_else(|e| panic!("write to {}: {e}", self.label));
    }

    /// Sends a line as typed, ending with Enter (`\r`, as a terminal sends it).
    pub fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\r"));
    }

    /// Waits for `needle` and returns what came before it (since the last match).
    pub fn expect(&mut self, needle: &str) -> String {
        self.expect_any(&[needle]).1
    }

    /// Waits for the first of `needles` to appear; returns its index and what came before it.
    pub fn expect_any(&mut self, needles: &[&str]) -> (usize, String) {
        let deadline = Instant::now() + self.timeout;
        loop {
            let pending = &self.output[self.pos..];
            let found = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| find(pending, n.as_bytes()).map(|at| (at, i, n.len())))
                .min();
            if let Some((at, index, len)) = found {
                let before = String::from_utf8_lossy(&pending[..at]).into_owned();
                self.pos += at + len;
                return (index, before);
            }
            if self.eof {
                self.fail(&format!("end of output while expecting {needles:?}"));
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out expecting {needles:?}"));
            }
            self.read_some();
        }
    }

    /// Checks that `needle` does not appear anywhere in the transcript so far.
    pub fn assert_absent(&self, needle: &str) {
        if find(&self.output, needle.as_bytes()).is_some() {
            self.fail(&format!("{needle:?} must not appear"));
        }
    }

    /// Reads until the command closes the PTY and returns the output not yet expected.
    pub fn read_to_eof(&mut self) -> String {
        let deadline = Instant::now() + self.timeout;
        while !self.eof {
            if Instant::now() > deadline {
                self.fail("timed out waiting for the end of output");
            }
            self.read_some();
        }
        let rest = String::from_utf8_lossy(&self.output[self.pos..]).into_owned();
        self.pos = self.output.len();
        rest
    }

    /// Reads to the end of output, then waits for the command to exit.
    pub fn wait(&mut self) -> Exit {
        self.read_to_eof();
        match self.session.get_process().wait() {
            Ok(WaitStatus::Exited(_, code)) => Exit::Code(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => Exit::Signal(signal as i32),
            Ok(other) => self.fail(&format!("unexpected wait status {other:?}")),
            Err(e) => self.fail(&format!("wait failed: {e}")),
        }
    }

    /// True when the PTY currently echoes input (false at a password prompt).
    pub fn echo_enabled(&self) -> bool {
        self.session
            .get_process()
            .get_echo()
            .unwrap_or_else(|e| panic!("read the PTY's echo flag: {e}"))
    }

    /// Waits (up to 10 s) until the PTY's echo flag is `on`, and says whether it got there.
    ///
    /// A program may print its prompt a moment before it turns echo off (rpassword does).
    pub fn wait_for_echo(&self, on: bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.echo_enabled() != on {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        true
    }

    /// Sends a signal to the child.
    pub fn signal(&mut self, signal: expectrl::Signal) {
        self.session
            .get_process_mut()
            .signal(signal)
            .unwrap_or_else(|e| panic!("signal {}: {e}", self.label));
    }

    /// Changes the PTY's window size (the child gets SIGWINCH).
    pub fn set_window_size(&mut self, cols: u16, rows: u16) {
        self.session
            .get_process_mut()
            .set_window_size(cols, rows)
            .unwrap_or_else(|e| panic!("resize the PTY: {e}"));
    }

    /// Reads what is available, or sleeps a moment when nothing is.
    fn read_some(&mut self) {
        let mut buf = [0u8; 4096];
        match self.session.try_read(&mut buf) {
            Ok(0) => self.eof = true,
            Ok(n) => self.output.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL_INTERVAL),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Linux reports EIO on the master once the child side is closed.
            Err(e) if e.raw_os_error() == Some(5) => self.eof = true,
            Err(e) => self.fail(&format!("read failed: {e}")),
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: {what}\n----- transcript -----\n{}\n----- end of transcript -----",
            self.label,
            self.transcript()
        );
    }
}

/// `command` run through `sh -c 'stty echo; exec "$@"'`.
///
/// ptyprocess turns echo off in the child before exec, which would make every prompt look
/// like a password prompt. Turning it back on from the parent after spawning races with the
/// child's own terminal changes, so the child does it itself, then execs the real program
/// (same pid, same args, env and current dir). A program that cannot be run therefore shows
/// up as the shell's exit status 127 or 126 rather than as a spawn error.
fn with_echo_on(command: &Command) -> Command {
    let mut wrapped = Command::new("/bin/sh");
    wrapped
        .arg("-c")
        .arg("stty echo 2>/dev/null; exec \"$@\"")
        .arg("sh")
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
