//! The portable edge of a connection: who is on the other end ([`Peer`], plain data) and the
//! socket the server accepts on ([`ListeningSocket`]), whatever the platform.

use std::path::PathBuf;

use super::process::effective_uid;

/// Who is on the other end of a connection, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub pid: Option<i32>,
    pub uid: u32,
    /// The peer's executable, when the platform tells it.
    pub exe: Option<PathBuf>,
}

impl Peer {
    /// Root and our own uid may use the agent, as with OpenSSH's ssh-agent.
    pub fn is_allowed(&self) -> bool {
        self.uid == 0 || self.uid == effective_uid()
    }

    /// `pid=N uid=N exe=PATH` for the log.
    pub fn describe(&self) -> String {
        let pid = self.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
        let exe = self
            .exe
            .as_ref()
            .map_or_else(|| "?".to_owned(), |e| e.display().to_string());
        format!("pid={pid} uid={} exe={exe}", self.uid)
    }
}

/// A listening socket the server accepts connections on (ssh-agent-lib's `ListeningSocket`):
/// a Unix socket here, a named pipe on Windows.
pub(crate) trait ListeningSocket {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;

    /// The next connection; cancel-safe, as the server awaits it in a `select!`.
    async fn accept(&self) -> std::io::Result<Self::Stream>;

    /// Who is on the other end of an accepted connection.
    fn peer(stream: &Self::Stream) -> std::io::Result<Peer>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_and_our_uid_are_allowed() {
        let peer = |uid| Peer {
            pid: Some(1),
            uid,
            exe: None,
        };
        assert!(peer(0).is_allowed());
        assert!(peer(effective_uid()).is_allowed());
        assert!(!peer(effective_uid().wrapping_add(12345)).is_allowed() || effective_uid() == 0);
        assert_eq!(peer(7).describe(), "pid=1 uid=7 exe=?");
    }
}
