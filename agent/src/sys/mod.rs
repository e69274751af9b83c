//! The agent crate's platform boundary: everything that speaks Unix (socket files and peer
//! credentials, process hardening, detaching and signalling processes, signals, terminal
//! modes, file modes, the system log) sits here, one file per concern, behind portable types.
//!
//! Outside this folder the crate sees only [`Peer`] as plain data, the [`ListeningSocket`]
//! trait, our own [`ChildSignal`], and functions over paths and pids. A Windows port adds a
//! `cfg(windows)` file per concern (a named pipe behind `ListeningSocket`) and leaves the
//! server, mfa-add and the daemon logic as they are.

use std::path::PathBuf;

#[cfg(unix)]
mod activation;
#[cfg(unix)]
mod files;
#[cfg(unix)]
mod hardening;
#[cfg(unix)]
mod listener;
#[cfg(unix)]
mod process;
#[cfg(unix)]
mod signals;
#[cfg(unix)]
mod syslog;
#[cfg(unix)]
mod terminal;

#[cfg(unix)]
pub(crate) use activation::{take_inherited_socket, InheritedSocket};
#[cfg(all(unix, test))]
pub(crate) use files::mode_of;
#[cfg(unix)]
pub(crate) use files::{create_private_dir_all, dir_access, set_mode};
#[cfg(unix)]
pub(crate) use hardening::harden_process;
#[cfg(unix)]
pub(crate) use listener::{bind, BoundSocket, SocketFile};
#[cfg(unix)]
pub(crate) use process::{
    child_exit, detach_session, effective_uid, is_running, parent_pid, process_name, send_signal,
    SignalError,
};
#[cfg(unix)]
pub(crate) use signals::{Caught, PassedSignals, StopSignals};
#[cfg(unix)]
pub use syslog::DEFAULT_SOCKET as DEFAULT_SYSLOG_SOCKET;
#[cfg(unix)]
pub(crate) use syslog::{Severity, Syslog};
#[cfg(unix)]
pub(crate) use terminal::read_hidden;

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

/// A signal mfa-agent passes on to the CMD of `mfa-agent -- CMD`, or sends to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildSignal {
    Terminate,
    Hangup,
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
