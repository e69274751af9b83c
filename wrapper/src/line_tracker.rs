//! Rebuilds the command line a user types at the interactive prompt, to find the `--token`
//! of the login they asked for.
//!
//! It follows what a cooked terminal or a simple line editor does with the keys: printable
//! text, Backspace/DEL, ^U (kill line), ^W (kill word), ^C (abandon), Enter (submit).
//!
//! Not handled, so the line is marked uncertain and mfa-login prefers the line as the CLI
//! last showed it ([`crate::prompt::PromptMatcher::take_echoed_command`]: the terminal's echo
//! or a line editor's full redraw): cursor movement and history recall (arrow keys and other
//! escape sequences), Tab completion, ^R search, ^Y yank, ^V literal next, and pasted text
//! containing control characters. Editors that redraw only part of the line or move the
//! cursor inside it defeat both; `--token-file` is the way out.

use crate::text::{pop_char, MAX_LINE};

/// A line the user submitted with Enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedLine {
    pub text: String,
    /// False when keys were used that the tracker does not follow.
    pub certain: bool,
}

#[derive(Debug, Default)]
pub struct LineTracker {
    line: Vec<u8>,
    certain: bool,
    in_escape: bool,
    started: bool,
}

impl LineTracker {
    /// Starts a fresh line (at a new prompt).
    pub fn reset(&mut self) {
        self.line.clear();
        self.certain = true;
        self.in_escape = false;
        self.started = true;
    }

    /// Feeds typed bytes; returns each line submitted with Enter.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<TypedLine> {
        if !self.started {
            self.reset();
        }
        let mut submitted = Vec::new();
        for &b in bytes {
            if self.in_escape {
                // ESC [ ... final byte, or ESC O x; ESC followed by one byte otherwise.
                if (0x40..=0x7e).contains(&b) && b != b'[' && b != b'O' {
                    self.in_escape = false;
                }
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    submitted.push(TypedLine {
                        text: String::from_utf8_lossy(&self.line).into_owned(),
                        certain: self.certain,
                    });
                    self.reset();
                }
                0x08 | 0x7f => pop_char(&mut self.line),
                0x15 => self.line.clear(),
                0x17 => {
                    while self.line.last() == Some(&b' ') {
                        self.line.pop();
                    }
                    while self.line.last().is_some_and(|&c| c != b' ') {
                        self.line.pop();
                    }
                }
                0x03 => self.reset(),
                0x1b => {
                    self.in_escape = true;
                    self.certain = false;
                }
                b'\t' | 0x12 | 0x19 | 0x16 => self.certain = false,
                0x00..=0x1f => {}
                _ if self.line.len() < MAX_LINE => self.line.push(b),
                _ => self.certain = false,
            }
        }
        submitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(keys: &[u8]) -> Vec<TypedLine> {
        LineTracker::default().feed(keys)
    }

    #[test]
    fn line_editing_keys_are_followed() {
        let lines = typed(b"lgo\x7f\x7fogin --token x.jsom\x08n\r");
        assert_eq!(lines[0].text, "login --token x.json");
        assert!(lines[0].certain);
        assert_eq!(typed(b"garbage\x15login\r")[0].text, "login");
        assert_eq!(
            typed(b"login --token wrong  \x17right\r")[0].text,
            "login --token right"
        );
        assert_eq!(typed(b"abc\x03def\n")[0].text, "def");
    }

    #[test]
    fn history_recall_makes_the_line_uncertain() {
        let lines = typed(b"\x1b[Alogin\r");
        assert_eq!(lines[0].text, "login");
        assert!(!lines[0].certain);
        let next = LineTracker::default().feed(b"a\rb\r");
        assert_eq!(next.len(), 2);
        assert!(next[1].certain);
    }
}
