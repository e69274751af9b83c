//! mfa-login's `-v`/`--debug [FILE]` transcript: what the child wrote, what was typed, and
//! what mfa-login did. Anything typed while the child's terminal did not echo (a password)
//! and the password from `--password-file` appear only as a count of redacted bytes.
//!
//! A password can also be typed in clear on a command line (`login --password P`,
//! `--change-password P`, cloudhsm_mgmt_util's `loginHSM CO user P`), and the CLI echoes it.
//! So what was typed and what the child wrote are written a line at a time, each line with
//! such values replaced by `[redacted]` ([`redact`]); a keystroke-at-a-time echo never
//! reaches the transcript before its line is complete.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use crate::sys;

/// Where the transcript goes, if anywhere.
#[derive(Default)]
pub struct Transcript {
    sink: Option<Mutex<Sink>>,
    to_stderr: bool,
}

/// The writer, and the lines of child output and of typing not yet complete.
struct Sink {
    out: Box<dyn Write + Send>,
    child: Vec<u8>,
    typed: Vec<u8>,
}

/// A pending line longer than this is written (redacted) as it is.
const MAX_PENDING: usize = 16 * 1024;

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript")
            .field("enabled", &self.sink.is_some())
            .finish()
    }
}

impl Transcript {
    /// No transcript.
    pub fn off() -> Self {
        Self::default()
    }

    pub fn to_stderr() -> Self {
        Self::with(Box::new(std::io::stderr()), true)
    }

    /// Appends to `path`: a new file created 0600, or an existing one of the user's that only
    /// they can read (never through a link: see [`client::files::open_private_append`]).
    pub fn to_file(path: &Path) -> Result<Self, client::files::Unsafe> {
        Ok(Self::with(
            Box::new(client::files::open_private_append(path)?),
            false,
        ))
    }

    fn with(out: Box<dyn Write + Send>, to_stderr: bool) -> Self {
        Transcript {
            sink: Some(Mutex::new(Sink {
                out,
                child: Vec::new(),
                typed: Vec::new(),
            })),
            to_stderr,
        }
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    fn with_sink(&self, f: impl FnOnce(&mut Sink, &str)) {
        let Some(sink) = &self.sink else {
            return;
        };
        let end = if self.to_stderr { sys::newline() } else { "\n" };
        if let Ok(mut sink) = sink.lock() {
            f(&mut sink, end);
            let _ = sink.out.flush();
        }
    }

    /// Output from the child.
    pub fn output(&self, bytes: &[u8]) {
        self.with_sink(|sink, end| {
            sink.child.extend_from_slice(bytes);
            sink.write_lines(Source::Child, end, false);
        });
    }

    /// Bytes the user typed; `echo` says whether the child's terminal echoed them.
    pub fn typed(&self, bytes: &[u8], echo: bool) {
        self.with_sink(|sink, end| {
            if echo {
                sink.typed.extend_from_slice(bytes);
                sink.write_lines(Source::Typed, end, false);
            } else {
                sink.flush_all(end);
                sink.line(
                    &format!(
                        "typed: <{} bytes at a prompt that does not echo, redacted>",
                        bytes.len()
                    ),
                    end,
                );
            }
        });
    }

    /// Something mfa-login did or decided; what is pending is written first.
    pub fn event(&self, text: &str) {
        self.with_sink(|sink, end| {
            sink.flush_all(end);
            sink.line(text, end);
        });
    }
}

impl Drop for Transcript {
    fn drop(&mut self) {
        self.with_sink(|sink, end| sink.flush_all(end));
    }
}

#[derive(Clone, Copy)]
enum Source {
    Child,
    Typed,
}

impl Sink {
    fn line(&mut self, text: &str, end: &str) {
        let _ = write!(self.out, "[mfa-login] {text}{end}");
    }

    fn flush_all(&mut self, end: &str) {
        self.write_lines(Source::Child, end, true);
        self.write_lines(Source::Typed, end, true);
    }

    /// Writes the complete lines of one source (all of it with `all`), redacted.
    fn write_lines(&mut self, source: Source, end: &str, all: bool) {
        let (label, pending) = match source {
            Source::Child => ("child", &mut self.child),
            Source::Typed => ("typed", &mut self.typed),
        };
        let mut lines = Vec::new();
        loop {
            let cut = match pending.iter().position(|&b| b == b'\n' || b == b'\r') {
                // A typed line ends at Enter; the child's at its newline (a bare \r is a
                // line editor's redraw, kept with its line).
                Some(at) if pending[at] == b'\n' || matches!(source, Source::Typed) => at + 1,
                _ if all || pending.len() > MAX_PENDING => pending.len(),
                _ => match pending.iter().position(|&b| b == b'\n') {
                    Some(at) => at + 1,
                    None => break,
                },
            };
            if cut == 0 {
                break;
            }
            let rest = pending.split_off(cut);
            lines.push(std::mem::replace(pending, rest));
        }
        for line in lines {
            let text = format!("{label}: \"{}\"", redact(&line).escape_ascii());
            self.line(&text, end);
        }
    }
}

/// Options whose value is a password, and the cloudhsm_mgmt_util commands whose fourth word is.
const PASSWORD_OPTIONS: &[&[u8]] = &[b"--password", b"--change-password"];
const MGMT_PASSWORD_VERBS: &[&[u8]] = &[b"loginHSM", b"createUser", b"changePswd"];

/// A line with the values of password options (and cloudhsm_mgmt_util's positional password)
/// replaced by `[redacted]`. Each `\r`-separated piece (a line editor's redraw) on its own.
pub fn redact(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    for (i, piece) in line.split(|&b| b == b'\r').enumerate() {
        if i > 0 {
            out.push(b'\r');
        }
        redact_piece(piece, &mut out);
    }
    out
}

fn redact_piece(piece: &[u8], out: &mut Vec<u8>) {
    let mut secret_next = false;
    let mut mgmt_countdown: Option<usize> = None;
    let mut i = 0;
    while i < piece.len() {
        if piece[i].is_ascii_whitespace() {
            out.push(piece[i]);
            i += 1;
            continue;
        }
        let end = piece[i..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(piece.len(), |n| i + n);
        let word = &piece[i..end];
        let mgmt_secret = mgmt_countdown == Some(0) && word != b"-hpswd";
        if std::mem::take(&mut secret_next) || mgmt_secret {
            out.extend_from_slice(b"[redacted]");
        } else if let Some(name) = PASSWORD_OPTIONS
            .iter()
            .find(|name| word.starts_with(name) && word.get(name.len()) == Some(&b'='))
        {
            out.extend_from_slice(name);
            out.extend_from_slice(b"=[redacted]");
        } else {
            out.extend_from_slice(word);
            secret_next = PASSWORD_OPTIONS.iter().any(|name| word.ends_with(name));
        }
        mgmt_countdown = match mgmt_countdown {
            _ if MGMT_PASSWORD_VERBS.iter().any(|v| word.ends_with(v)) => Some(2),
            Some(n) if n > 0 => Some(n - 1),
            _ => None,
        };
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(line: &str) -> String {
        String::from_utf8(redact(line.as_bytes())).expect("UTF-8")
    }

    #[test]
    fn password_values_on_a_command_line_are_redacted() {
        assert_eq!(
            redacted("login --password s3cret --username u mfa-token-sign"),
            "login --password [redacted] --username u mfa-token-sign"
        );
        assert_eq!(
            redacted("user change-mfa token-sign --change-password=n3w --token t"),
            "user change-mfa token-sign --change-password=[redacted] --token t"
        );
        assert_eq!(
            redacted("loginHSM CO officer1 pw -2fa f"),
            "loginHSM CO officer1 [redacted] -2fa f"
        );
        assert_eq!(
            redacted("loginHSM CO officer1 -hpswd"),
            "loginHSM CO officer1 -hpswd"
        );
        assert_eq!(
            redacted("\raws-cloudhsm > login --password se\x1b[K\raws-cloudhsm > login --password sec"),
            "\raws-cloudhsm > login --password [redacted]\raws-cloudhsm > login --password [redacted]"
        );
        assert_eq!(redacted("key list --filter x"), "key list --filter x");
    }

    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_password_typed_and_echoed_a_key_at_a_time_never_reaches_the_transcript() {
        let written = Shared::default();
        let transcript = Transcript::with(Box::new(written.clone()), false);
        transcript.output(b"aws-cloudhsm > ");
        for key in "login --password hunter2 --username u\r".bytes() {
            transcript.typed(&[key], true);
            if key != b'\r' {
                transcript.output(&[key]);
            }
        }
        transcript.output(b"\r\n");
        transcript.event("prompt: password");
        drop(transcript);
        let text = String::from_utf8(written.0.lock().expect("lock").clone()).expect("UTF-8");
        assert!(
            !text.contains("hunter2") && !text.contains("hunter"),
            "{text}"
        );
        assert!(text.contains("--password [redacted]"), "{text}");
        assert!(text.contains("[mfa-login] prompt: password"), "{text}");
    }
}
