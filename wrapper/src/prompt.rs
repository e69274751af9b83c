//! Recognises cloudhsm-cli's prompts in the stream of terminal output it writes.
//!
//! Output arrives in arbitrary pieces: a prompt may be split across reads, coloured with ANSI
//! escape sequences, written with `\r\n` line ends, and end with or without a space. The
//! matcher keeps a bounded copy of the current line with escapes and `\r` removed (for
//! matching only; the user sees the bytes unchanged) and reports a prompt when a piece of
//! output ends with one: a prompt is complete when the CLI stops writing and waits.
//!
//! It also notes the `error_code` of each result JSON the CLI prints
//! (`{"error_code": N, ...}`, on one line or pretty-printed over several), so that mfa-login
//! learns whether the answer it gave was accepted.

/// A prompt mfa-login knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// `Enter password:`
    Password,
    /// `Confirm password:` (change-mfa)
    ConfirmPassword,
    /// `Enter signed token file path (press enter if same as the unsigned token file):`
    SignedTokenFile,
    /// `Enter public key PEM file path:` (change-mfa)
    PublicKeyFile,
    /// cloudhsm_mgmt_util's `Enter filename:` after it wrote a `-2fa` authdata file.
    AuthDataFile,
    /// The interactive mode's `aws-cloudhsm >` (or `aws-cloudhsm>`).
    Interactive,
}

/// The text of each prompt, as it ends a line. Matched after trailing spaces are trimmed.
const PROMPTS: &[(&str, Prompt)] = &[
    (
        "Enter signed token file path (press enter if same as the unsigned token file):",
        Prompt::SignedTokenFile,
    ),
    ("Enter public key PEM file path:", Prompt::PublicKeyFile),
    ("Enter filename:", Prompt::AuthDataFile),
    ("Confirm password:", Prompt::ConfirmPassword),
    ("Enter password:", Prompt::Password),
    ("aws-cloudhsm >", Prompt::Interactive),
    ("aws-cloudhsm>", Prompt::Interactive),
];

/// cloudhsm_mgmt_util commands whose result lines (`VERB success ...`, `VERB failed: ...`)
/// mfa-login reads.
const MGMT_VERBS: &[&str] = &["loginHSM", "createUser", "changePswd", "logoutHSM"];

/// The longest line the matcher keeps; longer lines keep their end. Twice the longest prompt.
const WINDOW: usize = 256;

impl Prompt {
    /// A short name for messages and the transcript.
    pub fn name(self) -> &'static str {
        match self {
            Prompt::Password => "password",
            Prompt::ConfirmPassword => "password confirmation",
            Prompt::SignedTokenFile => "signed token file path",
            Prompt::PublicKeyFile => "public key PEM file path",
            Prompt::AuthDataFile => "authentication data file name",
            Prompt::Interactive => "interactive prompt",
        }
    }
}

/// Where the escape-sequence filter is between two bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// After ESC and intermediate bytes (`ESC ( B`).
    Intermediate,
    /// Inside a CSI sequence (`ESC [ ... final`).
    Csi,
    /// Inside an OSC, DCS, PM or APC string, which ends with BEL or `ESC \`.
    String,
    /// After ESC inside such a string.
    StringEnd,
}

/// The streaming prompt matcher.
#[derive(Debug, Default)]
pub struct PromptMatcher {
    escape: Escape,
    /// The current line, printable text only.
    line: Vec<u8>,
    /// The text echoed after the last interactive prompt, until its newline.
    echo: Option<Vec<u8>>,
    /// The last complete line echoed after an interactive prompt.
    echoed_command: Option<String>,
    /// A `\r` was seen: unless `\n` follows, the line is being redrawn from its start.
    carriage_return: bool,
    /// The `error_code` of the last result JSON, until taken.
    result_code: Option<i64>,
    /// The path in cloudhsm_mgmt_util's `Authentication data written to: "PATH"`, until taken.
    authdata_path: Option<String>,
}

impl PromptMatcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a piece of output; returns the prompt it ends with, if any.
    ///
    /// The work per byte is a few comparisons on the escape filter's state and the line's
    /// last bytes; the line is looked at as a whole only at its end (`\n`) and, bounded by
    /// `WINDOW`, once at the end of each piece. Matching is on bytes: every prompt is ASCII,
    /// and ASCII bytes are never part of an invalid UTF-8 sequence, so the result is the same
    /// as on the text.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<Prompt> {
        let mut rest = bytes;
        while let Some((&b, tail)) = rest.split_first() {
            if self.escape == Escape::None
                && !self.carriage_return
                && !ends_in_result_start(&self.line)
            {
                let run = plain_run(rest);
                if run > 0 {
                    self.push_bulk(&rest[..run]);
                    rest = &rest[run..];
                    continue;
                }
            }
            if let Some(text_byte) = self.filter(b) {
                self.push(text_byte);
            }
            rest = tail;
        }
        let text = trim_end_spaces(&self.line);
        let prompt = PROMPTS
            .iter()
            .find(|(p, _)| text.ends_with(p.as_bytes()))
            .map(|&(_, prompt)| prompt)?;
        // Report each prompt once: what follows it starts a new match.
        self.line.clear();
        self.echo = (prompt == Prompt::Interactive).then(Vec::new);
        Some(prompt)
    }

    /// The command line echoed after the most recent interactive prompt, once its line ended.
    pub fn take_echoed_command(&mut self) -> Option<String> {
        self.echoed_command.take()
    }

    /// The `error_code` of the most recent result JSON printed since the last call.
    pub fn take_result_code(&mut self) -> Option<i64> {
        self.result_code.take()
    }

    /// The authdata file cloudhsm_mgmt_util said it wrote, since the last call.
    pub fn take_authdata_path(&mut self) -> Option<String> {
        self.authdata_path.take()
    }

    /// At the end of a line: notes cloudhsm_mgmt_util's results (`loginHSM success on server
    /// 0(10.0.0.1)`, `loginHSM failed: ...`) as result codes, and where it wrote authdata.
    fn note_line(&mut self) {
        let line = self.line.trim_ascii();
        if let Some(path) = line
            .strip_prefix(b"Authentication data written to:")
            .map(|rest| trim_quotes(rest.trim_ascii()))
            .filter(|path| !path.is_empty())
        {
            self.authdata_path = Some(String::from_utf8_lossy(path).into_owned());
            return;
        }
        let Some(verb) = MGMT_VERBS.iter().find(|verb| {
            line.strip_prefix(verb.as_bytes())
                .is_some_and(|rest| rest.first() == Some(&b' '))
        }) else {
            return;
        };
        let outcome = line[verb.len()..].trim_ascii_start();
        let word = outcome.split(|&b| b == b' ').next().unwrap_or_default();
        match word {
            b"success" => self.result_code = Some(0),
            b"failed:" | b"failed" => self.result_code = Some(1),
            _ => {}
        }
    }

    /// Drops escape sequences and `\r`; returns the bytes that are text.
    fn filter(&mut self, b: u8) -> Option<u8> {
        const ESC: u8 = 0x1b;
        const BEL: u8 = 0x07;
        let (next, out) = match (self.escape, b) {
            (Escape::None, ESC) => (Escape::Start, None),
            (Escape::None, _) => (Escape::None, Some(b)),
            (Escape::Start, b'[') => (Escape::Csi, None),
            (Escape::Start, b']' | b'P' | b'X' | b'^' | b'_') => (Escape::String, None),
            (Escape::Start | Escape::Intermediate, 0x20..=0x2f) => (Escape::Intermediate, None),
            (Escape::Start | Escape::Intermediate, _) => (Escape::None, None),
            (Escape::Csi, 0x40..=0x7e) => (Escape::None, None),
            (Escape::Csi, _) => (Escape::Csi, None),
            (Escape::String, BEL) => (Escape::None, None),
            (Escape::String, ESC) => (Escape::StringEnd, None),
            (Escape::String, _) => (Escape::String, None),
            (Escape::StringEnd, b'\\') => (Escape::None, None),
            (Escape::StringEnd, _) => (Escape::String, None),
        };
        self.escape = next;
        out
    }

    fn push(&mut self, b: u8) {
        // A line editor redraws the line as `\r`, the prompt, the text: start the echo over.
        // (The matching window ignores `\r`, so `\r\n` and bare `\r` prompts match alike.)
        if std::mem::take(&mut self.carriage_return) && b != b'\n' && b != b'\r' {
            if let Some(echo) = &mut self.echo {
                echo.clear();
            }
        }
        match b {
            b'\r' => self.carriage_return = true,
            b'\n' => {
                self.note_result_code(b);
                self.note_line();
                self.line.clear();
                if let Some(echo) = self.echo.take() {
                    self.echoed_command = Some(after_prompt(&String::from_utf8_lossy(&echo)));
                }
            }
            // Backspace as a terminal echoes it (`\b \b`): moves back over one character.
            0x08 | 0x7f => {
                crate::text::pop_char(&mut self.line);
                if let Some(echo) = &mut self.echo {
                    crate::text::pop_char(echo);
                }
            }
            b'\t' => self.push_text(b' '),
            0x00..=0x1f => {}
            _ => self.push_text(b),
        }
    }

    fn push_text(&mut self, b: u8) {
        self.note_result_code(b);
        if self.line.len() >= WINDOW {
            self.line.drain(..WINDOW / 2);
        }
        self.line.push(b);
        if let Some(echo) = &mut self.echo {
            if echo.len() < crate::text::MAX_LINE {
                echo.push(b);
            }
        }
    }

    /// Adds a [`plain_run`], in which no result can end, as [`Self::push_text`] byte by byte
    /// would: the line ends the same (its window drops its first half each time it is full)
    /// and the echo starts the same.
    fn push_bulk(&mut self, text: &[u8]) {
        let total = self.line.len() + text.len();
        let keep = match total.checked_sub(WINDOW) {
            None | Some(0) => total,
            Some(past) => WINDOW / 2 + 1 + (past - 1) % (WINDOW / 2),
        };
        if keep <= text.len() {
            self.line.clear();
            self.line.extend_from_slice(&text[text.len() - keep..]);
        } else {
            self.line.drain(..total - keep);
            self.line.extend_from_slice(text);
        }
        if let Some(echo) = &mut self.echo {
            let room = crate::text::MAX_LINE.saturating_sub(echo.len());
            echo.extend_from_slice(&text[..text.len().min(room)]);
        }
    }

    /// Before `next` is added to the line: when it ends a number, notes `"error_code": N`
    /// ending the line.
    fn note_result_code(&mut self, next: u8) {
        let number_ends =
            !next.is_ascii_digit() && self.line.last().is_some_and(u8::is_ascii_digit);
        if !number_ends {
            return;
        }
        if let Some(code) = result_code(&self.line) {
            self.result_code = Some(code);
        }
    }
}

/// N when `text` ends with `"error_code": N` (spaces allowed around the colon). A number too
/// large for an i64 is still not zero. Looks back only over the number and what must precede
/// it, so a line of many numbers costs each byte once.
fn result_code(text: &[u8]) -> Option<i64> {
    let digits_at = text
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |at| at + 1);
    let (before_digits, digits) = text.split_at(digits_at);
    if digits.is_empty() {
        return None;
    }
    let (before_number, negative) = match before_digits.strip_suffix(b"-") {
        Some(rest) => (rest, true),
        None => (before_digits, false),
    };
    trim_end_spaces(trim_end_spaces(before_number).strip_suffix(b":")?)
        .strip_suffix(b"\"error_code\"")?;
    let code = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    Some(if negative { -code } else { code })
}

/// How many bytes at the start of `bytes` the matcher may take in bulk while the line does
/// not end in a result's start ([`ends_in_result_start`]): plain text, which the escape
/// filter passes on unchanged and the line takes as it is (no control character, no DEL),
/// up to and including the first `:`, after which a result's number may follow.
fn plain_run(bytes: &[u8]) -> usize {
    let special = |b: u8| b < 0x20 || b == 0x7f || b == b':';
    // Eight bytes at a time, without a branch per byte: CLI output comes in short lines.
    let mut at = 0;
    for word in bytes.chunks_exact(8) {
        let mask = special_bytes(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        if mask != 0 {
            at += mask.trailing_zeros() as usize / 8;
            break;
        }
        at += 8;
    }
    match bytes[at..].iter().position(|&b| special(b)) {
        Some(i) if bytes[at + i] == b':' => at + i + 1,
        Some(i) => at + i,
        None => bytes.len(),
    }
}

/// The high bit of each byte of `word` that is a control character, DEL or `:`, and maybe
/// of bytes after the first such one (a borrow can carry upwards); exact for the lowest.
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    below(word, 0x20) | below(word ^ (ONES * 0x7f), 1) | below(word ^ (ONES * u64::from(b':')), 1)
}

/// The line ends in what may begin a result's number: `"error_code"`, spaces, `:`, spaces, a
/// `-`, digits (the spaces, sign and digits optional). Without it, no `"error_code": N` can
/// end before the next `:` (the window only loses text from its start, so what precedes a
/// colon never turns into `"error_code"` later); with it, the matcher goes byte by byte.
/// Looks back only over digits, spaces and the name.
fn ends_in_result_start(line: &[u8]) -> bool {
    let digits_at = line
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |at| at + 1);
    let before = &line[..digits_at];
    let before = before.strip_suffix(b"-").unwrap_or(before);
    trim_end_spaces(before)
        .strip_suffix(b":")
        .is_some_and(|name| trim_end_spaces(name).ends_with(b"\"error_code\""))
}

/// The line's text without the spaces that end it. (The line holds no other whitespace: tabs
/// become spaces and control characters are dropped on the way in.)
fn trim_end_spaces(text: &[u8]) -> &[u8] {
    let end = text.iter().rposition(|&b| b != b' ').map_or(0, |at| at + 1);
    &text[..end]
}

/// `text` without the double quotes around it.
fn trim_quotes(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&b| b != b'"').unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|&b| b != b'"')
        .map_or(start, |at| at + 1);
    &text[start..end.max(start)]
}

/// The text after the last interactive prompt in a redrawn line (all of it when none).
fn after_prompt(line: &str) -> String {
    let start = PROMPTS
        .iter()
        .filter(|(_, prompt)| *prompt == Prompt::Interactive)
        .filter_map(|(text, _)| line.rfind(text).map(|at| at + text.len()))
        .max()
        .unwrap_or(0);
    line[start..].trim_start().to_owned()
}

#[cfg(test)]
#[path = "prompt_tests.rs"]
mod tests;
