//! Secret files (`--password-file`, `--passphrase-file`, `--pin-file`): one reader, one rule.
//! The secret is the file's first line; the file must be a plain file of at most 64 KiB of the
//! caller's that only they can read, in folders others cannot change (see [`crate::files`]; a
//! shell's `<(command)` pipe is read too), and the line must not be empty:
//! an empty password is a certain failed login, and CloudHSM locks an account after five.

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::SecretProblem;
use crate::{files, sys, Error, Result};

/// The largest secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Reads the first line of a secret file. `what` names it in errors ("the password file").
pub fn read_secret_file(what: &'static str, path: &Path) -> Result<Zeroizing<String>> {
    let fail = |problem| Error::SecretFile {
        what,
        path: path.to_path_buf(),
        problem,
    };
    let file = files::open_own_or_pipe(path).map_err(|e| match e {
        files::Unsafe::Io { source, .. } => fail(SecretProblem::Unreadable(source)),
        files::Unsafe::NotRegular { .. } => fail(SecretProblem::NotASmallFile),
        other => fail(SecretProblem::Untrusted(other)),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| fail(SecretProblem::Unreadable(e)))?;
    if meta.is_file() && meta.len() > MAX_SECRET_FILE {
        return Err(fail(SecretProblem::NotASmallFile));
    }
    if let Some(mode) = sys::others_may_read(&meta) {
        return Err(fail(SecretProblem::OthersMayRead(mode)));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_SECRET_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(SecretProblem::Unreadable(e)))?;
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    if first.is_empty() {
        return Err(fail(SecretProblem::Empty));
    }
    let text = std::str::from_utf8(first).map_err(|_| {
        fail(SecretProblem::Unreadable(std::io::Error::other(
            "its first line is not UTF-8",
        )))
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, text: &str, mode: u32) -> std::path::PathBuf {
        let path = dir.join("secret");
        fs::write(&path, text).expect("write");
        sys::set_mode(&path, mode).expect("chmod");
        path
    }

    #[test]
    fn the_first_line_of_an_owner_only_file_is_the_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "s3cret\r\nsecond\n", 0o600);
        assert_eq!(
            read_secret_file("the password file", &path)
                .expect("read")
                .as_str(),
            "s3cret"
        );
        let path = write(dir.path(), "s3cret", 0o400);
        assert_eq!(
            read_secret_file("the password file", &path)
                .expect("read")
                .as_str(),
            "s3cret"
        );
    }

    #[test]
    fn a_file_others_can_read_is_refused_with_chmod_as_the_hint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "s3cret\n", 0o644);
        let err = read_secret_file("the password file", &path).expect_err("0644");
        assert!(matches!(
            err,
            Error::SecretFile {
                problem: SecretProblem::OthersMayRead(0o644),
                ..
            }
        ));
        assert!(err.to_string().starts_with("the password file "), "{err}");
        assert!(err.hint().starts_with("chmod 600 "), "{}", err.hint());
    }

    #[test]
    fn an_empty_first_line_is_refused_not_typed() {
        // Bug: an empty first line was typed as the password: a certain failed login.
        let dir = tempfile::tempdir().expect("tempdir");
        for text in ["", "\n", "\r\nsecret\n"] {
            let path = write(dir.path(), text, 0o600);
            let err = read_secret_file("the password file", &path).expect_err("empty");
            assert!(
                matches!(
                    err,
                    Error::SecretFile {
                        problem: SecretProblem::Empty,
                        ..
                    }
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_folder_or_a_missing_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read_secret_file("the PIN file", dir.path()).is_err());
        assert!(read_secret_file("the PIN file", &dir.path().join("none")).is_err());
    }
}
