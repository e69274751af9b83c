//! mfa-login's `-v`/`--debug [FILE]` transcript: what the child wrote, what was typed, and
//! what mfa-login did. Anything typed while the child's terminal did not echo (a password)
//! and the password from `--password-file` appear only as a count of redacted bytes.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use crate::sys;

/// Where the transcript goes, if anywhere.
#[derive(Default)]
pub struct Transcript {
    sink: Option<Mutex<Box<dyn Write + Send>>>,
    to_stderr: bool,
}

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
        Transcript {
            sink: Some(Mutex::new(Box::new(std::io::stderr()))),
            to_stderr: true,
        }
    }

    /// Appends to `path`, created readable by the owner only.
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        let file = sys::open_private_append(path)?;
        Ok(Transcript {
            sink: Some(Mutex::new(Box::new(file))),
            to_stderr: false,
        })
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    fn line(&self, text: &str) {
        let Some(sink) = &self.sink else {
            return;
        };
        let end = if self.to_stderr { sys::newline() } else { "\n" };
        if let Ok(mut sink) = sink.lock() {
            let _ = write!(sink, "[mfa-login] {text}{end}");
            let _ = sink.flush();
        }
    }

    /// Output from the child.
    pub fn output(&self, bytes: &[u8]) {
        if self.enabled() {
            self.line(&format!("child: \"{}\"", bytes.escape_ascii()));
        }
    }

    /// Bytes the user typed; `echo` says whether the child's terminal echoed them.
    pub fn typed(&self, bytes: &[u8], echo: bool) {
        if !self.enabled() {
            return;
        }
        if echo {
            self.line(&format!("typed: \"{}\"", bytes.escape_ascii()));
        } else {
            self.line(&format!(
                "typed: <{} bytes at a prompt that does not echo, redacted>",
                bytes.len()
            ));
        }
    }

    /// Something mfa-login did or decided.
    pub fn event(&self, text: &str) {
        self.line(text);
    }
}
