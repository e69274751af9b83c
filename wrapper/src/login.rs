//! mfa-login's configuration: the command to run, resolved in `PATH` the way a shell does (so
//! "not found" and "not executable" get the shell's exit statuses), and the checked options.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use client::exit::Status;

use crate::sys;
use crate::transcript::Transcript;

/// How long the agent may take to answer when `--timeout` does not say: as long as a
/// confirmation of a `mfa-add -c` key may wait for the person, and a margin.
pub const AGENT_TIMEOUT: Duration = client::AGENT_TIMEOUT;

/// Everything a session needs, checked.
#[derive(Debug)]
pub struct Config {
    /// COMMAND, resolved to a file.
    pub program: PathBuf,
    /// COMMAND's arguments.
    pub args: Vec<OsString>,
    /// `--key`: the key logins are signed with.
    pub key: Option<String>,
    /// `--new-key`: the key change-mfa registers for the user logged in.
    pub new_key: Option<String>,
    pub token_file: Option<PathBuf>,
    pub password: Option<Zeroizing<String>>,
    /// Bounds each agent reply and, when stdin is not a terminal, the whole run.
    pub timeout: Option<Duration>,
    pub transcript: Transcript,
    /// The config file's `(HSM user, key fingerprint)` pairs.
    pub keys_for_users: Vec<(String, String)>,
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

impl client::Hinted for LaunchError {
    fn hint(&self) -> Option<String> {
        match self {
            LaunchError::NotFound(name) if CLOUDHSM_PROGRAMS.contains(&name.as_str()) => {
                Some(format!(
                    "it is neither on your PATH nor in {CLOUDHSM_BIN}: install the AWS CloudHSM \
                     client, or name it with its path"
                ))
            }
            LaunchError::NotFound(_) => Some("check the name and your PATH".to_owned()),
            LaunchError::NotExecutable(_) | LaunchError::Folder(_) => None,
        }
    }
    fn exit_code(&self) -> Status {
        match self {
            LaunchError::NotFound(_) => Status::NOT_FOUND,
            LaunchError::NotExecutable(_) | LaunchError::Folder(_) => Status::NOT_EXECUTABLE,
        }
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| sys::is_executable(&m))
}

/// Where AWS's packages install the CloudHSM CLIs, which is not on a default `PATH`.
pub const CLOUDHSM_BIN: &str = "/opt/cloudhsm/bin";

/// The programs looked for in [`CLOUDHSM_BIN`] when `PATH` does not have them.
const CLOUDHSM_PROGRAMS: &[&str] = &["cloudhsm-cli", "cloudhsm_mgmt_util"];

/// Finds COMMAND: a name with a `/` is taken as a path, anything else is looked up in `PATH`,
/// and then, for `cloudhsm-cli` and `cloudhsm_mgmt_util`, in /opt/cloudhsm/bin.
pub fn resolve_command(name: &OsStr) -> Result<PathBuf, LaunchError> {
    resolve_in(name, Path::new(CLOUDHSM_BIN))
}

fn resolve_in(name: &OsStr, cloudhsm_bin: &Path) -> Result<PathBuf, LaunchError> {
    let shown = name.to_string_lossy().into_owned();
    if sys::names_a_path(name) {
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
    let installed = cloudhsm_bin.join(name);
    if CLOUDHSM_PROGRAMS.contains(&shown.as_str()) && is_executable(&installed) {
        return Ok(installed);
    }
    if found_unexecutable {
        Err(LaunchError::NotExecutable(shown))
    } else {
        Err(LaunchError::NotFound(shown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::Hinted;

    #[test]
    fn commands_resolve_like_a_shell() {
        assert!(resolve_command(OsStr::new("sh")).is_ok());
        assert_eq!(
            resolve_command(OsStr::new("no-such-command-xyz"))
                .expect_err("missing")
                .exit_code(),
            Status::NOT_FOUND
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("script");
        fs::write(&script, "#!/bin/sh\n").expect("write");
        let err = resolve_command(script.as_os_str()).expect_err("not executable");
        assert_eq!(err.exit_code(), Status::NOT_EXECUTABLE);
        // A folder is named as one (126, as a shell), not just "not executable".
        let err = resolve_command(dir.path().as_os_str()).expect_err("a folder");
        assert_eq!(err.exit_code(), Status::NOT_EXECUTABLE);
        assert!(
            err.to_string().ends_with("is a folder, not a command"),
            "{err}"
        );
    }

    #[test]
    fn the_cloudhsm_clis_are_found_where_aws_installs_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in CLOUDHSM_PROGRAMS {
            let missing = resolve_in(OsStr::new(name), dir.path()).expect_err("not installed");
            assert!(
                client::Hinted::hint(&missing).is_some_and(|h| h.contains(CLOUDHSM_BIN)),
                "{missing}"
            );
            let program = dir.path().join(name);
            fs::write(&program, "#!/bin/sh\n").expect("write");
            fs::set_permissions(
                &program,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .expect("chmod");
            assert_eq!(
                resolve_in(OsStr::new(name), dir.path()).expect("found"),
                program
            );
        }
        // Only those two: another name is not looked for there.
        let other = dir.path().join("other-tool");
        fs::write(&other, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        assert!(resolve_in(OsStr::new("other-tool"), dir.path()).is_err());
    }
}
