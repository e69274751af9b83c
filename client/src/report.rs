//! The one error layout of every program:
//!
//! ```text
//! mfa-sign: error: no key in mfa-agent matches --key SHA256:abc
//! hint: list the loaded keys with `mfa-add -l`
//! ```
//!
//! The first line says what went wrong, the second (when there is advice) what to do.

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

/// An error that knows what the user can do about it and which exit status it means.
pub trait Hinted: Display {
    /// What to do about it, when there is advice.
    fn hint(&self) -> Option<String> {
        None
    }
    /// The exit status it ends a program with: 1 unless the error says otherwise.
    fn exit_code(&self) -> u8 {
        1
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
    ExitCode::from(err.exit_code())
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
    fn the_layout_is_an_error_line_then_a_hint_line() {
        assert_eq!(
            layout("mfa-sign", &"boom", Some("do this")),
            "mfa-sign: error: boom\nhint: do this"
        );
        assert_eq!(layout("mfa-add", &"boom", None), "mfa-add: error: boom");
    }
}
