//! The child's output: shown to the user by the thread that reads it, one `write` per piece as
//! `script` shows it, and matched there; the loop hears of a piece only when it says
//! something (a prompt, a result, an echoed command line, an authdata path), when the
//! transcript wants it, or, while output keeps flowing, every [`HEARTBEAT`].
//!
//! Where the time went before (perf, 64 MiB through `mfa-login -- cat`): the prompt matcher
//! checked the whole line for a result at every number's end and compared the whole line to
//! the prompts as text, and every 4 KiB piece crossed to the loop's thread before it was
//! shown. Now the matcher takes plain text in bulk, and nothing waits for the loop.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::prompt::{Prompt, PromptMatcher};
use crate::sys;

/// How often the loop hears that output still flows when none of it matters: well within
/// the drain grace it renews after the child exited.
const HEARTBEAT: Duration = Duration::from_millis(250);

/// The largest piece read at once (a PTY hands over at most 4 KiB at a time on Linux).
const PIECE: usize = 8192;

/// What the matcher saw in one piece of output, already shown to the user.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// The piece itself, when the transcript records output.
    pub bytes: Option<Vec<u8>>,
    /// The command line the CLI echoed after its prompt, once its line ended.
    pub echoed_command: Option<String>,
    /// cloudhsm_mgmt_util's `Authentication data written to: "PATH"`.
    pub authdata_path: Option<String>,
    /// A result's `error_code` (it comes before a prompt in the same piece).
    pub result_code: Option<i64>,
    /// The prompt the piece ends with.
    pub prompt: Option<Prompt>,
}

impl Seen {
    /// Feeds a piece to the matcher and takes what it found.
    fn of(matcher: &mut PromptMatcher, piece: &[u8], keep_bytes: bool) -> Seen {
        let prompt = matcher.feed(piece);
        Seen {
            bytes: keep_bytes.then(|| piece.to_vec()),
            echoed_command: matcher.take_echoed_command(),
            authdata_path: matcher.take_authdata_path(),
            result_code: matcher.take_result_code(),
            prompt,
        }
    }

    fn says_something(&self) -> bool {
        self.bytes.is_some()
            || self.echoed_command.is_some()
            || self.authdata_path.is_some()
            || self.result_code.is_some()
            || self.prompt.is_some()
    }
}

/// Starts the thread that shows and matches the child's output and gives `report` each piece
/// that says something, then `None` once the child side is gone. `report` returns false when
/// nobody listens any more.
pub(super) fn start(
    mut output: Box<dyn Read + Send>,
    transcript: bool,
    report: impl Fn(Option<Seen>) -> bool + Send + 'static,
) {
    let _ = std::thread::Builder::new()
        .name("child-output".into())
        .spawn(move || {
            let mut terminal = sys::OutputWriter::new();
            let mut matcher = PromptMatcher::new();
            let mut reported: Option<Instant> = None;
            let mut buf = vec![0u8; PIECE];
            loop {
                let piece = match output.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => &buf[..n],
                };
                terminal.write(piece);
                let seen = Seen::of(&mut matcher, piece, transcript);
                let now = Instant::now();
                if seen.says_something() || reported.is_none_or(|at| now - at >= HEARTBEAT) {
                    reported = Some(now);
                    if !report(Some(seen)) {
                        return;
                    }
                }
            }
            report(None);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_reports_what_the_matcher_found_in_it_in_order() {
        let mut m = PromptMatcher::new();
        let plain = Seen::of(&mut m, b"key list follows\r\n", false);
        assert!(!plain.says_something());
        let seen = Seen::of(
            &mut m,
            b"{\"error_code\": 0, \"data\": {}}\r\naws-cloudhsm > ",
            false,
        );
        assert_eq!(seen.result_code, Some(0));
        assert_eq!(seen.prompt, Some(Prompt::Interactive));
        assert!(seen.bytes.is_none());
        let typed = Seen::of(&mut m, b"login --token t.json\r\n", true);
        assert_eq!(
            typed.echoed_command.as_deref(),
            Some("login --token t.json")
        );
        assert_eq!(
            typed.bytes.as_deref(),
            Some(&b"login --token t.json\r\n"[..])
        );
        // With the transcript on, even a plain piece reaches the loop.
        assert!(Seen::of(&mut m, b"x", true).says_something());
    }
}
