//! The agent crate's one error type, each variant with its hint beside it; the agent logs an
//! error and sends only FAILURE on the socket, mfa-agent and mfa-add print it with [`report`].

use std::path::PathBuf;
use std::process::ExitCode;

/// How to start an agent, the hint of every "no agent" error.
const START_AGENT: &str = "start one with: eval \"$(mfa-agent -s)\"";

/// Everything that can go wrong in the agent and in mfa-add.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Proto(#[from] proto::Error),
    /// A command line that cannot work (exit status 2, as for clap's own errors).
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid lifetime {0:?}: use seconds or a time like 30, 90s, 10m, 1h30m, 2d, 1w")]
    BadLifetime(String),

    // Starting and stopping the agent.
    #[error("cannot {what}: {source}")]
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
    #[error("neither XDG_STATE_HOME nor HOME is set; use --log-file")]
    NoStateDir,
    #[error("MFA_AGENT_PID is not set; no agent to kill")]
    NoAgentPid,
    #[error("MFA_AGENT_PID={0:?} is not a process id")]
    BadAgentPid(String),
    #[error("no mfa-agent runs as pid {pid}: {why}")]
    StaleAgentPid { pid: u32, why: String },
    #[error("cannot stop agent pid {pid}: {source}")]
    KillFailed {
        pid: u32,
        #[source]
        source: std::io::Error,
    },

    // mfa-add.
    #[error("MFA_AUTH_SOCK is not set: no agent to talk to")]
    NoAgentSocket,
    #[error("cannot connect to the agent at {}: {source}", path.display())]
    AgentUnreachable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the agent refused to {0}")]
    AgentRefused(String),
    #[error("the agent holds no key {0}")]
    NoSuchKey(String),
    #[error("{0}")]
    KeyFile(String),
    #[error("wrong passphrase for {0}")]
    WrongPassphrase(String),
    #[error("a passphrase is needed but there is no terminal to ask ({0})")]
    NoTerminal(std::io::Error),
    #[error("the passphrase prompt was cancelled")]
    PromptCancelled,
    #[error("the askpass program printed something that is not UTF-8")]
    AskpassNotUtf8,
    #[error("the passwords do not match")]
    PassphraseMismatch,
    #[error("cannot encode a public key: {0}")]
    PublicKeyEncoding(String),
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
            Error::NoAgentSocket => START_AGENT,
            Error::AgentUnreachable { .. } => {
                return Some(format!("is mfa-agent running? {START_AGENT}"))
            }
            Error::NoTerminal(_) => {
                "use --passphrase-file FILE, or set MFA_ASKPASS to a program that prints it"
            }
            Error::Proto(_)
            | Error::Io { .. }
            | Error::BadLifetime(_)
            | Error::Hardening { .. }
            | Error::SocketInUse(_)
            | Error::NotASocket(_)
            | Error::ForeignSocketDir { .. }
            | Error::AgentNotReady(_)
            | Error::NoStateDir
            | Error::NoAgentPid
            | Error::BadAgentPid(_)
            | Error::KillFailed { .. }
            | Error::AgentRefused(_)
            | Error::NoSuchKey(_)
            | Error::KeyFile(_)
            | Error::PromptCancelled
            | Error::AskpassNotUtf8
            | Error::PassphraseMismatch
            | Error::PublicKeyEncoding(_) => return None,
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

    /// The exit status for this error: 2 for usage errors, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage { .. } | Error::BadLifetime(_) => 2,
            _ => 1,
        }
    }

    /// Wraps an I/O error with what we were doing.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// Prints an error as every program here does (`error: ...`, then `hint: ...`).
pub fn print(error: &Error) {
    eprintln!("error: {error}");
    if let Some(hint) = error.hint() {
        eprintln!("hint: {hint}");
    }
}

/// Prints an error and returns the exit status it means.
pub fn report(error: &Error) -> ExitCode {
    print(error);
    ExitCode::from(error.exit_code())
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_exit_codes_follow_the_variant() {
        assert_eq!(Error::NoAgentSocket.hint().as_deref(), Some(START_AGENT));
        assert!(Error::NoAgentPid.hint().is_none());
        assert_eq!(Error::BadLifetime("x".into()).exit_code(), 2);
        assert_eq!(Error::usage("no").exit_code(), 2);
        assert_eq!(Error::PromptCancelled.exit_code(), 1);
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
