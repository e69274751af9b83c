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
    pub fn feed(&mut self, bytes: &[u8]) -> Option<Prompt> {
        for &b in bytes {
            if let Some(text_byte) = self.filter(b) {
                self.push(text_byte);
            }
        }
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end_matches(' ');
        let prompt = PROMPTS
            .iter()
            .find(|(p, _)| text.ends_with(p))
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
        let line = String::from_utf8_lossy(&self.line);
        let line = line.trim();
        if let Some(path) = line
            .strip_prefix("Authentication data written to:")
            .map(|rest| rest.trim().trim_matches('"'))
            .filter(|path| !path.is_empty())
        {
            self.authdata_path = Some(path.to_owned());
            return;
        }
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap_or_default();
        if MGMT_VERBS.contains(&verb) {
            match words.next() {
                Some("success") => self.result_code = Some(0),
                Some("failed:" | "failed") => self.result_code = Some(1),
                _ => {}
            }
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

    /// Before `next` is added to the line: when it ends a number, notes `"error_code": N`
    /// ending the line.
    fn note_result_code(&mut self, next: u8) {
        let number_ends =
            !next.is_ascii_digit() && self.line.last().is_some_and(u8::is_ascii_digit);
        if !number_ends {
            return;
        }
        if let Some(code) = result_code(&String::from_utf8_lossy(&self.line)) {
            self.result_code = Some(code);
        }
    }
}

/// N when `text` ends with `"error_code": N` (spaces allowed around the colon). A number too
/// large for an i64 is still not zero.
fn result_code(text: &str) -> Option<i64> {
    let before_digits = text.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &text[before_digits.len()..];
    if digits.is_empty() {
        return None;
    }
    let (before_number, negative) = match before_digits.strip_suffix('-') {
        Some(rest) => (rest, true),
        None => (before_digits, false),
    };
    before_number
        .trim_end()
        .strip_suffix(':')?
        .trim_end()
        .strip_suffix("\"error_code\"")?;
    let code = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if negative { -code } else { code })
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
mod tests {
    use super::*;

    const TOKEN_PROMPT: &str =
        "Enter signed token file path (press enter if same as the unsigned token file):";

    #[test]
    fn a_prompt_split_at_every_byte_is_found_once() {
        let out = format!("Enter password:\r\n{TOKEN_PROMPT} ");
        let mut m = PromptMatcher::new();
        let found: Vec<Prompt> = out.bytes().filter_map(|b| m.feed(&[b])).collect();
        assert_eq!(found, [Prompt::Password, Prompt::SignedTokenFile]);
    }

    #[test]
    fn colour_and_carriage_returns_are_ignored() {
        let mut m = PromptMatcher::new();
        let coloured = "\x1b[1;32mEnter \x1b[0mpass\rword:\x1b[0m";
        assert_eq!(m.feed(coloured.as_bytes()), Some(Prompt::Password));
        assert_eq!(
            m.feed(b"\x1b]0;title\x07aws-cloudhsm>"),
            Some(Prompt::Interactive)
        );
        assert_eq!(m.feed(b"\x1b(Baws-cloudhsm > "), Some(Prompt::Interactive));
    }

    #[test]
    fn text_after_a_prompt_is_not_a_prompt() {
        let mut m = PromptMatcher::new();
        assert_eq!(m.feed(b"usage: Enter password: is asked next\n"), None);
        assert_eq!(m.feed(b"Enter password:x"), None);
    }

    #[test]
    fn the_echoed_command_follows_line_editing() {
        let mut m = PromptMatcher::new();
        assert_eq!(m.feed(b"aws-cloudhsm > "), Some(Prompt::Interactive));
        m.feed(b"login --token a.jsox\x08 \x08n\r\n");
        assert_eq!(
            m.take_echoed_command().as_deref(),
            Some("login --token a.json")
        );
        assert_eq!(m.take_echoed_command(), None);
    }

    #[test]
    fn a_line_editor_redrawing_the_line_gives_the_final_text() {
        // What a readline-style editor writes for `lgo`, two backspaces, `ogin x`, Enter.
        let mut m = PromptMatcher::new();
        assert_eq!(m.feed(b"aws-cloudhsm > "), Some(Prompt::Interactive));
        for redraw in ["l", "lg", "lgo", "lg", "l"] {
            m.feed(format!("\r\x1b[1;36maws-cloudhsm >\x1b[0m {redraw}\x1b[K").as_bytes());
        }
        m.feed(b"\raws-cloudhsm > login --token x\x1b[K\r\n");
        assert_eq!(m.take_echoed_command().as_deref(), Some("login --token x"));
    }

    #[test]
    fn result_codes_are_read_from_pretty_coloured_and_split_json() {
        let mut m = PromptMatcher::new();
        let pretty =
            "{\r\n  \"error_code\": 1,\r\n  \"data\": \"MFA failed\"\r\n}\r\naws-cloudhsm > ";
        let found: Vec<Option<Prompt>> = pretty.bytes().map(|b| m.feed(&[b])).collect();
        assert!(found.contains(&Some(Prompt::Interactive)));
        assert_eq!(m.take_result_code(), Some(1));
        assert_eq!(m.take_result_code(), None);
        m.feed(b"\x1b[32m{\"error_code\"\x1b[0m: 0, \"data\": {}}\n");
        assert_eq!(m.take_result_code(), Some(0));
        m.feed(b"{\"error_code\": 12\n}\n");
        assert_eq!(m.take_result_code(), Some(12));
        m.feed(b"said \"error_code\" and 3 things\n\"error_code\": x\n");
        assert_eq!(m.take_result_code(), None);
    }

    #[test]
    fn mgmt_util_results_and_authdata_paths_are_noted() {
        let mut m = PromptMatcher::new();
        m.feed(b"Authentication data written to: \"/tmp/a b.json\"\r\n");
        assert_eq!(m.take_authdata_path().as_deref(), Some("/tmp/a b.json"));
        m.feed(b"loginHSM success on server 0(10.0.0.1)\r\n");
        assert_eq!(m.take_result_code(), Some(0));
        m.feed(b"loginHSM failed: HSM Error: RET_USER_LOGIN_FAILURE\n");
        assert_eq!(m.take_result_code(), Some(1));
        m.feed(b"listUsers success\n");
        assert_eq!(m.take_result_code(), None);
        assert_eq!(
            m.feed(b"Leave this field blank to use the path initially provided.\nEnter filename:"),
            Some(Prompt::AuthDataFile)
        );
    }

    #[test]
    fn long_lines_stay_bounded() {
        let mut m = PromptMatcher::new();
        for _ in 0..10_000 {
            m.feed(b"xxxxxxxxxxxxxxxx");
        }
        assert!(m.line.len() <= WINDOW);
        assert_eq!(m.feed(b"Enter password: "), Some(Prompt::Password));
    }
}
