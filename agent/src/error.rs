//! The agent crate's one error type; the agent logs it and sends only FAILURE on the socket.

use std::path::PathBuf;

/// Everything that can go wrong in the agent and in mfa-add.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Proto(#[from] proto::Error),
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
            Error::WrongPassphrase(_) => {
                Some("check the passphrase, or pass it with --passphrase-file")
            }
            _ => None,
        }
    }

    /// Wraps an I/O error with what we were doing.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
