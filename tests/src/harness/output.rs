//! Reading what a finished command printed, and asserting how it ended.

use std::process::Output;

/// Bytes a command printed, as text (invalid UTF-8 replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails the test, quoting everything the command printed, unless it exited 0.
pub fn assert_ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Fails the test, quoting everything the command printed, if it exited 0.
pub fn assert_refused(output: &Output, what: &str) {
    assert!(
        !output.status.success(),
        "{what} succeeded: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}
