//! How mfa-agent runs, whatever the mode: the [`Settings`] its command line validates into,
//! the eval lines' [`Shell`], where the log goes ([`LogTo`]), and paths made absolute before
//! a fork changes folder.

use std::path::{Path, PathBuf};

use crate::server::Limits;
use crate::{Error, Result};

/// Which syntax the eval lines use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Sh,
    Csh,
}

/// Where the audit log goes (`--log`); without it, stderr in the foreground and the log file
/// for a forked agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogTo {
    /// The system log (`/dev/log`: syslogd, rsyslog, journald), facility auth.
    Syslog,
    /// The log file (`--log-file`, else under `$XDG_STATE_HOME`).
    File,
    /// Standard error (the foreground only).
    Stderr,
}

/// How the agent runs, whatever the mode.
#[derive(Debug, Clone)]
pub struct Settings {
    pub socket: Option<PathBuf>,
    /// The socket's folder was made for this agent: remove it at exit.
    pub owns_dir: bool,
    /// Stop when the process that started the agent is gone (`-- CMD`).
    pub exit_with_parent: bool,
    pub default_lifetime: Option<u32>,
    /// The syntax of the eval lines (`-D` and `-d` print them too, as ssh-agent does).
    pub shell: Shell,
    pub debug: bool,
    /// `--log`, when given.
    pub log_to: Option<LogTo>,
    pub log_file: Option<PathBuf>,
    /// The system log's socket (`/dev/log`; another path in tests).
    pub syslog_socket: PathBuf,
    pub limits: Limits,
    /// `-P`: the PKCS#11 providers `ssh-add -s` and `mfa-add -s` may load.
    pub provider_allowlist: String,
}

/// `path`, relative to the current folder if it is not absolute.
pub(super) fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .map_err(Error::io("find the current folder"))?
        .join(path))
}
