//! The agent crate's one error type; the agent logs it and sends only FAILURE on the socket.

use std::path::PathBuf;

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
    #[error("an agent is already listening on {0}")]
    SocketInUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("{0}")]
    UnsafeDirectory(String),
    #[error("{0}")]
    KeyFile(String),
    #[error("wrong passphrase for {0}")]
    WrongPassphrase(String),
    #[error("{0}")]
    Agent(String),
    /// An error with advice on what to do next.
    #[error("{message}")]
    WithHint { message: String, hint: String },
}

impl Error {
    /// What the user can do about it, when we know.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::WithHint { hint, .. } => Some(hint),
            Error::Usage { hint, .. } => hint.as_deref(),
            Error::WrongPassphrase(_) => {
                Some("check the passphrase, or pass it with --passphrase-file")
            }
            _ => None,
        }
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
