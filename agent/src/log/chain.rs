//! The audit log's hash chain: every line the agent writes ends with ` #H`, where H is the
//! first 16 hex digits of SHA-256 over the previous line's H, a newline, and this line's text
//! (time and message). An agent's first line follows [`START`]. A line deleted, reordered or
//! edited breaks the chain at the line after it, and the agent remembers its last H
//! (`log-head@cloudhsm-mfa`), so a log cut short or rolled back to an earlier copy is told
//! apart from the one it writes: `mfa-add --verify-log FILE` checks both.
//!
//! What it does not prove: who wrote a whole new chain (anyone who can write the file can
//! compute one; the agent's head is what it knows), nor the lines of an agent that is gone.

use std::sync::Mutex;

/// What an agent's first line follows.
pub const START: &str = "start";

/// The last H the agent wrote.
static HEAD: Mutex<Option<String>> = Mutex::new(None);

/// H for `line` after `previous`.
pub fn link(previous: &str, line: &str) -> String {
    let mut input = Vec::with_capacity(previous.len() + 1 + line.len());
    input.extend_from_slice(previous.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(line.as_bytes());
    openssl::sha::sha256(&input)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The lines as written, each with its H, following the last one written. Called by the
/// log's one writer, which calls [`written`] once they are out: the head the agent tells is
/// never ahead of its log.
pub(crate) fn chained(lines: impl Iterator<Item = String>) -> (Vec<String>, Option<String>) {
    let mut previous = head().unwrap_or_else(|| START.to_owned());
    let mut out = Vec::new();
    for line in lines {
        let h = link(&previous, &line);
        out.push(format!("{line} #{h}"));
        previous = h;
    }
    let last = (!out.is_empty()).then_some(previous);
    (out, last)
}

/// The lines up to `h` are written.
pub(crate) fn written(h: Option<String>) {
    if let Some(h) = h {
        *HEAD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(h);
    }
}

/// The last H written; `None` before the first line.
pub(crate) fn head() -> Option<String> {
    HEAD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// What a log file's chain says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every line follows the one before (or starts an agent's run, or starts the file).
    Holds {
        lines: usize,
        /// The last line's H.
        last: Option<String>,
        /// The first line continues a chain begun in an earlier file (after a rotation).
        continued: bool,
    },
    /// Line `line` (from 1) does not follow: a line before it was deleted, moved or edited,
    /// or this one was.
    Broken { line: usize, why: String },
}

/// Checks the chain of a log file's text.
pub fn verify(text: &str) -> Verdict {
    let mut previous: Option<String> = None;
    let mut continued = false;
    let mut lines = 0;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        lines = number;
        let Some((body, h)) = line.rsplit_once(" #") else {
            return Verdict::Broken {
                line: number,
                why: "the line has no chain mark (#H)".to_owned(),
            };
        };
        let follows = |after: &str| link(after, body) == h;
        match &previous {
            Some(before) if follows(before) => {}
            // An agent's run begins the chain again.
            _ if follows(START) => {}
            // The file's first line may continue an earlier file's chain (a rotation).
            None => continued = true,
            Some(_) => {
                return Verdict::Broken {
                    line: number,
                    why: "it does not follow the line before: a line before it was deleted, \
                          moved or edited, or this one was"
                        .to_owned(),
                }
            }
        }
        previous = Some(h.to_owned());
    }
    Verdict::Holds {
        lines,
        last: previous,
        continued,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(lines: &[&str]) -> Vec<String> {
        let mut previous = START.to_owned();
        lines
            .iter()
            .map(|line| {
                let h = link(&previous, line);
                previous = h.clone();
                format!("{line} #{h}")
            })
            .collect()
    }

    #[test]
    fn any_deleted_moved_or_edited_line_breaks_the_chain() {
        let written = log(&["T1 one", "T2 two", "T3 three", "T4 four"]);
        let text = written.join("\n");
        assert!(matches!(
            verify(&text),
            Verdict::Holds {
                lines: 4,
                continued: false,
                ..
            }
        ));
        let broken = |lines: Vec<String>| match verify(&lines.join("\n")) {
            Verdict::Broken { line, .. } => line,
            other => panic!("{other:?}"),
        };
        let mut deleted = written.clone();
        deleted.remove(1);
        assert_eq!(broken(deleted), 2);
        let mut moved = written.clone();
        moved.swap(1, 2);
        assert_eq!(broken(moved), 2);
        let mut edited = written.clone();
        edited[2] = edited[2].replace("three", "3");
        assert_eq!(broken(edited), 3);
        // The file's first line may continue an earlier chain; the rest must follow it.
        assert!(matches!(
            verify(&written[1..].join("\n")),
            Verdict::Holds {
                continued: true,
                ..
            }
        ));
    }
}
