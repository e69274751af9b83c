//! The edge every program shares: its arguments parsed and its errors reported, clap's
//! included, in the one layout:
//!
//! ```text
//! mfa-sign: error: no key in mfa-agent matches --key SHA256:abc
//! hint: list the loaded keys with `mfa-add -l`
//! ```
//!
//! The first line says what went wrong, the second (when there is advice) what to do; the
//! exit status is the error's ([`Status`]).

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

use crate::exit::Status;

/// An error that knows what the user can do about it and which exit status it means.
pub trait Hinted: Display {
    /// What to do about it, when there is advice.
    fn hint(&self) -> Option<String> {
        None
    }
    /// The exit status it ends a program with: [`Status::FAILURE`] unless the error says
    /// otherwise.
    fn exit_code(&self) -> Status {
        Status::FAILURE
    }
}

/// Parses the program's arguments. `--help` and `--version` print and end with success; a
/// usage error is printed in the one layout (the usage line as its hint) and ends with
/// `usage`, the status the program gives bad arguments.
pub fn parse_args<A: clap::Parser>(program: &str, usage: Status) -> Result<A, ExitCode> {
    A::try_parse().map_err(|err| {
        if !err.use_stderr() {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        let (message, hint) = clap_message(&err.render().to_string(), program);
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            layout(program, &message, Some(&hint))
        );
        usage.into()
    })
}

/// clap's rendered error as a message and a hint: its tip, then the usage line.
fn clap_message(rendered: &str, program: &str) -> (String, String) {
    let one_line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut message = String::new();
    let mut hints = Vec::new();
    for paragraph in rendered.split("\n\n") {
        let paragraph = paragraph.trim();
        if let Some(error) = paragraph.strip_prefix("error:") {
            message = one_line(error);
        } else if let Some(tip) = paragraph.strip_prefix("tip:") {
            hints.push(one_line(tip));
        } else if let Some(usage) = paragraph.strip_prefix("Usage:") {
            hints.push(format!("usage: {}", one_line(usage)));
        }
    }
    if message.is_empty() {
        message = one_line(rendered);
    }
    hints.push(format!("see {program} --help"));
    (message, hints.join("; "))
}

/// An error's text without Rust's ` (os error N)` after the system's words: `No such file or
/// directory`, as the other tools on the machine say it.
pub fn plain(err: &dyn Display) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// `1 token`, `3 tokens`: a count and its noun, as every message says one.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The lines [`report`] prints, without the newline after the last.
pub fn layout(program: &str, message: &dyn Display, hint: Option<&str>) -> String {
    match hint {
        Some(hint) => format!("{program}: error: {message}\nhint: {hint}"),
        None => format!("{program}: error: {message}"),
    }
}

/// Prints `err` on stderr in the one layout and returns its exit status.
pub fn report(program: &str, err: &dyn Hinted) -> ExitCode {
    let text = layout(program, err, err.hint().as_deref());
    let _ = writeln!(std::io::stderr().lock(), "{text}");
    err.exit_code().into()
}

impl Hinted for crate::Error {
    fn hint(&self) -> Option<String> {
        Some(crate::Error::hint(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_without_their_number() {
        let gone = std::io::Error::from_raw_os_error(2);
        assert_eq!(plain(&gone), "No such file or directory");
        assert_eq!(plain(&"a (parenthesis)"), "a (parenthesis)");
    }

    #[test]
    fn the_layout_is_an_error_line_then_a_hint_line() {
        assert_eq!(
            layout("mfa-sign", &"boom", Some("do this")),
            "mfa-sign: error: boom\nhint: do this"
        );
        assert_eq!(layout("mfa-add", &"boom", None), "mfa-add: error: boom");
    }

    #[derive(clap::Parser, Debug)]
    #[command(name = "mfa-sign")]
    struct Args {
        #[arg(long)]
        key: Option<String>,
        file: String,
    }

    /// clap's own error for `args`, in the house layout.
    fn clap_error(args: &[&str]) -> (String, String) {
        use clap::Parser;
        let err = Args::try_parse_from(args).expect_err("a usage error");
        clap_message(&err.render().to_string(), "mfa-sign")
    }

    #[test]
    fn clap_errors_take_the_one_layout_with_the_usage_as_hint() {
        let (message, hint) = clap_error(&["mfa-sign", "--bogus", "f"]);
        assert_eq!(message, "unexpected argument '--bogus' found");
        assert!(hint.contains("-- --bogus"), "clap's tip is kept: {hint}");
        assert!(
            hint.ends_with("usage: mfa-sign [OPTIONS] <FILE>; see mfa-sign --help"),
            "{hint}"
        );
        let (message, _) = clap_error(&["mfa-sign"]);
        assert_eq!(
            message,
            "the following required arguments were not provided: <FILE>"
        );
        assert!(!message.contains('\n'));
    }
}
