//! The agent crate's one error type, each variant with its hint beside it; the agent logs an
//! error and sends only FAILURE on the socket, mfa-agent and mfa-add print it in the one
//! layout of every program (`client::report`).

use std::path::PathBuf;

use client::exit::Status;

/// Everything that can go wrong in the agent and in mfa-add.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Proto(#[from] proto::Error),
    /// Finding the agent, talking to it, reading a secret file (mfa-add).
    #[error(transparent)]
    Client(#[from] client::Error),
    /// A command line that cannot work (exit status 2, as for clap's own errors).
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error("{context}: {}", client::report::plain(source))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid lifetime {0:?}: use seconds or a time like 30, 90s, 10m, 1h30m, 2d, 1w")]
    BadLifetime(String),

    // Starting and stopping the agent.
    #[error("cannot {what}: {}", client::report::plain(source))]
    Hardening {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("an agent is already listening on {0}")]
    SocketInUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("{} belongs to uid {owner}, not to us; put the socket in a folder you own", dir.display())]
    ForeignSocketDir { dir: PathBuf, owner: u32 },
    #[error("systemd passed {0} sockets (LISTEN_FDS); mfa-agent serves one")]
    ActivationSockets(usize),
    #[error("the socket systemd passed (fd 3) {0}")]
    ActivationSocketUnfit(String),
    #[error("{0}")]
    AgentNotReady(String),
    #[error("{path} line {line}: {why}")]
    LogBroken {
        path: String,
        line: usize,
        why: String,
    },
    #[error("{path} does not hold the running mfa-agent's last log line (#{head}): lines were cut from its end, or an earlier copy was put back")]
    LogBehind { path: String, head: String },
    #[error("neither XDG_RUNTIME_DIR nor HOME is set: there is no per-user socket")]
    NoPerUserSocket,
    #[error("cannot tell the pid of the agent at {}", .0.display())]
    NoAgentPidAt(PathBuf),
    #[error("{} is served by an agent that is not mfa-agent", .0.display())]
    NotMfaAgentAt(PathBuf),
    /// A log file (or its folder) someone else could have put there or could read.
    #[error("cannot use {what}: {source}")]
    UnsafeFile {
        what: &'static str,
        #[source]
        source: client::files::Unsafe,
    },
    #[error("neither XDG_STATE_HOME nor HOME is set; use --log-file")]
    NoStateDir,
    #[error("MFA_AGENT_PID is not set; no agent to kill")]
    NoAgentPid,
    #[error("MFA_AGENT_PID={0:?} is not a process id")]
    BadAgentPid(String),
    #[error("no mfa-agent runs as pid {pid}: {why}")]
    StaleAgentPid { pid: u32, why: String },
    #[error("cannot stop agent pid {pid}: {}", client::report::plain(source))]
    KillFailed {
        pid: u32,
        #[source]
        source: std::io::Error,
    },

    // mfa-add.
    #[error("{}; not adding keys to it", client::Error::PlainAgent)]
    AddToPlainAgent,
    #[error("the agent holds no key {0}")]
    NoSuchKey(String),
    #[error("{0}")]
    KeyFile(String),
    /// A PKCS#11 provider or token problem, found by mfa-add or told by the agent, with the
    /// hint for its cause (`client::pkcs11_hint`).
    #[error("{text}")]
    Pkcs11 { text: String, hint: String },
    #[error("the agent holds no keys of PKCS#11 provider {0}")]
    NoProviderKeys(String),
    #[error("wrong passphrase for {0}")]
    WrongPassphrase(String),
    #[error("a passphrase is needed but there is no terminal to ask ({})", client::report::plain(.0))]
    NoTerminal(std::io::Error),
    #[error("a token PIN is needed but there is no terminal to ask ({})", client::report::plain(.0))]
    NoTerminalForPin(std::io::Error),
    #[error("the passphrase prompt was cancelled")]
    PromptCancelled,
    #[error("the askpass program printed something that is not UTF-8")]
    AskpassNotUtf8,
    #[error("the passwords do not match")]
    PassphraseMismatch,
}

impl Error {
    /// What the user can do about it, when we know. Every variant is listed, so a new one
    /// must say whether it has a hint.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Error::Usage { hint, .. } => return hint.clone(),
            Error::WrongPassphrase(_) => "check the passphrase, or pass it with --passphrase-file",
            Error::ActivationSockets(_) => "give the .socket unit a single ListenStream= line",
            Error::ActivationSocketUnfit(_) => {
                "use a .socket unit with ListenStream=PATH and Accept=no, as in contrib/"
            }
            Error::StaleAgentPid { .. } => {
                "MFA_AGENT_PID is left from an agent that is gone; clear it with: \
                 unset MFA_AUTH_SOCK MFA_AGENT_PID"
            }
            Error::Client(e) => return Some(e.hint()),
            Error::NoPerUserSocket => "name the socket with -a PATH",
            Error::LogBroken { .. } => {
                "the log was changed after the agent wrote it: keep this copy as evidence and \
                 compare it with the system log or a backup"
            }
            Error::LogBehind { .. } => {
                "if FILE is the log this agent writes, it was changed; a rotated agent.log.1 or \
                 another agent's log does not end with it: check that file alone with no agent \
                 (MFA_AUTH_SOCK unset)"
            }
            Error::NoAgentPidAt(_) => "start a new agent instead: mfa-agent (without --reuse)",
            Error::NotMfaAgentAt(_) => {
                "stop that agent, or give mfa-agent its own socket with -a PATH"
            }
            Error::UnsafeFile { source, .. } => return Some(source.hint()),
            Error::AgentNotReady(_) => {
                return Some(
                    "run it in the foreground to see every step: mfa-agent -d (the same options)"
                        .to_owned(),
                )
            }
            Error::AddToPlainAgent => {
                return Some(format!(
                    "{}; or add it there anyway with --force",
                    client::Error::PlainAgent.hint()
                ))
            }
            Error::Pkcs11 { hint, .. } => return Some(hint.clone()),
            Error::NoTerminal(_) => {
                "use --passphrase-file FILE, or set MFA_ASKPASS to a program that prints it"
            }
            Error::NoTerminalForPin(_) => {
                "use --pin-file FILE, or set MFA_ASKPASS (or SSH_ASKPASS) to a program that \
                 prints the PIN"
            }
            Error::Proto(_)
            | Error::Io { .. }
            | Error::BadLifetime(_)
            | Error::Hardening { .. }
            | Error::SocketInUse(_)
            | Error::NotASocket(_)
            | Error::ForeignSocketDir { .. }
            | Error::NoStateDir
            | Error::NoAgentPid
            | Error::BadAgentPid(_)
            | Error::KillFailed { .. }
            | Error::NoSuchKey(_)
            | Error::KeyFile(_)
            | Error::NoProviderKeys(_)
            | Error::PromptCancelled
            | Error::AskpassNotUtf8
            | Error::PassphraseMismatch => return None,
        };
        Some(hint.to_owned())
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
            hint: None,
        }
    }

    /// The exit status for this error: [`Status::USAGE`] for usage errors, else
    /// [`Status::FAILURE`].
    pub fn exit_code(&self) -> Status {
        match self {
            Error::Usage { .. } | Error::BadLifetime(_) => Status::USAGE,
            _ => Status::FAILURE,
        }
    }

    /// Wraps an I/O error with what we were doing.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl client::Hinted for Error {
    fn hint(&self) -> Option<String> {
        Error::hint(self)
    }

    fn exit_code(&self) -> Status {
        Error::exit_code(self)
    }
}

/// Prints an error in the one layout (`PROG: error: ...`, then `hint: ...`) and goes on: for
/// the one failing file among several.
pub fn print(program: &str, error: &Error) {
    let text = client::report::layout(program, error, error.hint().as_deref());
    eprintln!("{text}");
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_exit_codes_follow_the_variant() {
        let no_agent = Error::Client(client::Error::NoAgentVariable);
        assert!(no_agent.hint().is_some_and(|h| h.contains("mfa-agent")));
        assert!(Error::NoAgentPid.hint().is_none());
        assert_eq!(Error::BadLifetime("x".into()).exit_code(), Status::USAGE);
        assert_eq!(Error::usage("no").exit_code(), Status::USAGE);
        assert_eq!(Error::PromptCancelled.exit_code(), Status::FAILURE);
        let stale = Error::StaleAgentPid {
            pid: 5,
            why: "no such process".into(),
        };
        assert_eq!(
            stale.to_string(),
            "no mfa-agent runs as pid 5: no such process"
        );
        assert!(stale
            .hint()
            .is_some_and(|h| h.contains("unset MFA_AUTH_SOCK")));
    }
}
