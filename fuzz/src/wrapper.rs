//! What the wrapper's fuzz targets feed their input to, and the properties they check beyond
//! "no panic": the prompt matcher over output split at arbitrary points, and the command-line
//! parser behind mfa-login's `--token` detection.
//!
//! The targets (`fuzz_targets/prompt_feed.rs`, `fuzz_targets/command_line.rs`) include this
//! file by path, and so does `wrapper/tests/corpus.rs`, which replays the committed corpus
//! under stable `cargo test`. So this file depends on the wrapper crate and std only.

use std::ffi::OsString;

use cloudhsm_mfa_wrapper::command::{option_value, split_words, Command};
use cloudhsm_mfa_wrapper::prompt::{Prompt, PromptMatcher};

/// The most a matcher may hold, however much output it saw (its line window, the echoed
/// line, the last echoed command and an authdata path), as its `Debug` text.
const MATCHER_STATE_MAX: usize = 64 * 1024;

/// What one piece of output made the matcher report, as mfa-login takes it after each piece.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Found {
    prompt: Option<Prompt>,
    echoed_command: Option<String>,
    authdata_path: Option<String>,
    result_code: Option<i64>,
}

impl Found {
    fn feed(matcher: &mut PromptMatcher, piece: &[u8]) -> Found {
        let prompt = matcher.feed(piece);
        Found {
            prompt,
            echoed_command: matcher.take_echoed_command(),
            authdata_path: matcher.take_authdata_path(),
            result_code: matcher.take_result_code(),
        }
    }

    /// `later` taken after this, as one take would have seen both: the last of each.
    fn then(self, later: Found) -> Found {
        Found {
            prompt: later.prompt,
            echoed_command: later.echoed_command.or(self.echoed_command),
            authdata_path: later.authdata_path.or(self.authdata_path),
            result_code: later.result_code.or(self.result_code),
        }
    }
}

/// CLI output split at arbitrary points: the first four bytes seed the piece sizes, the rest
/// is the output. A prompt is reported when a piece ends with it, so where the pieces end
/// matters only there: feeding the output again with the pieces between two reports joined
/// into one must report the same prompts at the same places, take the same results, echoed
/// commands and authdata paths, and leave the matcher in the same state. Its state stays
/// bounded whatever the output.
pub fn prompt_feed(data: &[u8]) {
    let (seed, output) = data.split_at(data.len().min(4));
    let mut sizes = PieceSizes::new(seed);

    let mut pieces = PromptMatcher::new();
    // Each report: where it was, and what the pieces since the last one found.
    let mut reports: Vec<(usize, Found)> = Vec::new();
    let mut since = Found::default();
    let mut at = 0;
    while at < output.len() {
        let end = (at + sizes.next()).min(output.len());
        let found = Found::feed(&mut pieces, &output[at..end]);
        since = since.then(found);
        if since.prompt.is_some() {
            reports.push((end, std::mem::take(&mut since)));
        }
        at = end;
    }

    let mut joined = PromptMatcher::new();
    let mut start = 0;
    for (end, found) in &reports {
        let again = Found::feed(&mut joined, &output[start..*end]);
        assert_eq!(&again, found, "bytes {start}..{end} fed in one piece");
        start = *end;
    }
    let rest = Found::feed(&mut joined, &output[start..]);
    assert_eq!(rest, since, "bytes {start}.. fed in one piece");

    let (a, b) = (format!("{pieces:?}"), format!("{joined:?}"));
    assert_eq!(a, b, "the matcher's state depends on where pieces ended");
    assert!(
        a.len() <= MATCHER_STATE_MAX,
        "matcher state grew to {}",
        a.len()
    );
}

/// Piece sizes from a seed: mostly small (a read of a few bytes), sometimes large.
struct PieceSizes(u32);

impl PieceSizes {
    fn new(seed: &[u8]) -> Self {
        let mut bytes = [0u8; 4];
        bytes[..seed.len()].copy_from_slice(seed);
        PieceSizes(u32::from_le_bytes(bytes) | 1)
    }

    fn next(&mut self) -> usize {
        // xorshift32
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        match x % 8 {
            0 => 1 + (x >> 8) as usize % 4096,
            _ => 1 + (x >> 8) as usize % 16,
        }
    }
}

/// A command line as mfa-login reads one: the input split at NUL bytes is a list of words,
/// the last of them also a token path. Checks that the words, quoted as a shell would, split
/// back into themselves and parse to the same command as the words do (and as COMMAND's
/// arguments do); that an option's value is one of the words; and that a `--token` added at
/// the end of a login or change-mfa line is the token file mfa-login finds.
pub fn command_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // The raw text as a typed line, whatever it holds.
    let _ = Command::from_line(&text);

    let mut words: Vec<String> = text.split('\0').map(str::to_owned).collect();
    let path = words.pop().unwrap_or_default();
    let line = quote_line(&words);
    assert_eq!(split_words(&line), words, "{line:?} did not split back");

    let command = Command::from_words(&words);
    assert_eq!(Command::from_line(&line), command, "{line:?}");
    if command != Command::Other {
        let args: Vec<OsString> = words.iter().map(OsString::from).collect();
        assert_eq!(
            Command::from_args(&args),
            command,
            "as arguments: {words:?}"
        );
    }

    for name in ["--token", "--username", "--password"] {
        if let Some(value) = option_value(&words, name) {
            let with_name = format!("{name}=");
            assert!(
                words
                    .iter()
                    .any(|w| value == w.as_str() || w.strip_prefix(&with_name) == value.to_str()),
                "{name} gave {value:?}, which is not among {words:?}"
            );
        }
    }

    // A trailing `--token` would take the added one as its value, as the CLI's parser would
    // refuse it: not a line mfa-login has to get right.
    let has_login_token = matches!(command, Command::Login(_) | Command::ChangeMfa(_));
    if has_login_token && words.last().map(String::as_str) != Some("--token") {
        for added in [
            vec!["--token".to_owned(), path.clone()],
            vec![format!("--token={path}")],
        ] {
            let mut longer = words.clone();
            longer.extend(added);
            let token = match Command::from_line(&quote_line(&longer)) {
                Command::Login(login) => login.token,
                Command::ChangeMfa(change) => change.token,
                other => panic!("adding a --token turned {command:?} into {other:?}"),
            };
            assert_eq!(
                token.as_deref(),
                Some(std::path::Path::new(&path)),
                "{longer:?}"
            );
        }
    }
}

/// The words as one line, each in single quotes (a `'` inside written `'\''`).
fn quote_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}
