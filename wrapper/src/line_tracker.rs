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

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::prompt::pop_char;

/// The longest line kept; a longer one keeps its beginning and is marked uncertain.
pub const MAX_LINE: usize = 4096;

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
    pub fn new() -> Self {
        Self::default()
    }

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

/// Splits a command line into words as a shell would for simple quoting: spaces separate,
/// `'...'` and `"..."` quote, backslash escapes the next character.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The value of the last `--token F` or `--token=F` among the words.
pub fn token_argument<S: AsRef<OsStr>>(words: &[S]) -> Option<PathBuf> {
    option_value(words, "--token").map(PathBuf::from)
}

/// The value of the last `NAME V` or `NAME=V` among the words (`NAME` with its dashes).
pub fn option_value<S: AsRef<OsStr>>(words: &[S], name: &str) -> Option<OsString> {
    let mut found = None;
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_ref();
        if word == name {
            if let Some(value) = words.get(i + 1) {
                found = Some(value.as_ref().to_os_string());
            }
            i += 2;
            continue;
        }
        if let Some(value) = word
            .as_bytes()
            .strip_prefix(name.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"="))
        {
            found = Some(OsStr::from_bytes(value).to_os_string());
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(keys: &[u8]) -> Vec<TypedLine> {
        LineTracker::new().feed(keys)
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
        let next = LineTracker::new().feed(b"a\rb\r");
        assert_eq!(next.len(), 2);
        assert!(next[1].certain);
    }

    #[test]
    fn token_arguments_are_found_in_quoted_words() {
        let words = split_words(r#"login --username u mfa-token-sign --token "my dir/t.json""#);
        assert_eq!(token_argument(&words), Some(PathBuf::from("my dir/t.json")));
        assert_eq!(
            token_argument(&split_words("x --token=a\\ b")),
            Some(PathBuf::from("a b"))
        );
        assert_eq!(token_argument(&split_words("login --token")), None);
        assert_eq!(token_argument(&split_words("quit")), None);
        let words = split_words("login --username=officer1 --role admin");
        assert_eq!(option_value(&words, "--username"), Some("officer1".into()));
        assert_eq!(option_value(&words, "--role"), Some("admin".into()));
        assert_eq!(option_value(&words, "--user"), None);
    }
}
