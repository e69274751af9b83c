//! mfa-login's configuration: the command to run, resolved in `PATH` the way a shell does (so
//! "not found" and "not executable" get the shell's exit statuses), and the checked options.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use zeroize::Zeroizing;

use crate::transcript::Transcript;

/// mfa-login itself failed (bad arguments, no agent or key in a non-interactive run, ...).
pub const EXIT_OWN_FAILURE: i32 = 125;
/// COMMAND was found but cannot be run.
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
/// COMMAND was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// Everything a session needs, checked.
#[derive(Debug)]
pub struct Config {
    /// COMMAND, resolved to a file.
    pub program: PathBuf,
    /// COMMAND's arguments.
    pub args: Vec<OsString>,
    pub key: Option<String>,
    pub token_file: Option<PathBuf>,
    pub password: Option<Zeroizing<String>>,
    /// Bounds each agent reply and, when stdin is not a terminal, the whole run.
    pub timeout: Option<Duration>,
    pub transcript: Transcript,
}

/// Why COMMAND cannot be started, with the exit status a shell would give.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{0}: not executable")]
    NotExecutable(String),
    #[error("{0}: is a folder, not a command")]
    Folder(String),
}

impl LaunchError {
    pub fn exit_code(&self) -> i32 {
        match self {
            LaunchError::NotFound(_) => EXIT_NOT_FOUND,
            LaunchError::NotExecutable(_) | LaunchError::Folder(_) => EXIT_NOT_EXECUTABLE,
        }
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds COMMAND: a name with a `/` is taken as a path, anything else is looked up in `PATH`.
pub fn resolve_command(name: &OsStr) -> Result<PathBuf, LaunchError> {
    let shown = name.to_string_lossy().into_owned();
    if name.as_bytes().contains(&b'/') {
        let path = PathBuf::from(name);
        return match fs::metadata(&path) {
            Err(_) => Err(LaunchError::NotFound(shown)),
            Ok(_) if is_executable(&path) => Ok(path),
            Ok(meta) if meta.is_dir() => Err(LaunchError::Folder(shown)),
            Ok(_) => Err(LaunchError::NotExecutable(shown)),
        };
    }
    if name.is_empty() {
        return Err(LaunchError::NotFound(shown));
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    let mut found_unexecutable = false;
    for dir in std::env::split_paths(&search) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        found_unexecutable |= candidate.is_file();
    }
    if found_unexecutable {
        Err(LaunchError::NotExecutable(shown))
    } else {
        Err(LaunchError::NotFound(shown))
    }
}

/// Reads the password for `--password-file`: the first line, refused unless only the owner
/// can read the file.
pub fn read_password_file(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let unreadable = || format!("cannot read the password file {}", path.display());
    let meta = fs::metadata(path).with_context(unreadable)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {mode:03o}); the password file must be mode 0600 \
             or stricter (chmod 600 {})",
            path.display(),
            path.display()
        );
    }
    let text = Zeroizing::new(fs::read_to_string(path).with_context(unreadable)?);
    let first = text.lines().next().unwrap_or_default();
    // An empty password is certain to fail, and each failure counts toward the lockout.
    if first.is_empty() {
        bail!(
            "the first line of the password file {} is empty; it must hold the password",
            path.display()
        );
    }
    Ok(Zeroizing::new(first.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_resolve_like_a_shell() {
        assert!(resolve_command(OsStr::new("sh")).is_ok());
        assert_eq!(
            resolve_command(OsStr::new("no-such-command-xyz"))
                .expect_err("missing")
                .exit_code(),
            EXIT_NOT_FOUND
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("script");
        fs::write(&script, "#!/bin/sh\n").expect("write");
        let err = resolve_command(script.as_os_str()).expect_err("not executable");
        assert_eq!(err.exit_code(), EXIT_NOT_EXECUTABLE);
        // A folder is named as one (126, as a shell), not just "not executable".
        let err = resolve_command(dir.path().as_os_str()).expect_err("a folder");
        assert_eq!(err.exit_code(), EXIT_NOT_EXECUTABLE);
        assert!(
            err.to_string().ends_with("is a folder, not a command"),
            "{err}"
        );
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        fs::write(&path, "secret\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(read_password_file(&path).is_err());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read_password_file(&path).expect("read").as_str(), "secret");
    }

    #[test]
    fn an_empty_password_file_is_refused_not_typed() {
        // Bug: an empty first line was typed as the password: a certain failed login.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        for text in ["", "\n", "\r\nsecret\n"] {
            fs::write(&path, text).expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
            let err = read_password_file(&path).expect_err("empty first line");
            assert!(err.to_string().contains("is empty"), "{err}");
        }
    }
}
