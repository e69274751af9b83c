//! The agent's Unix socket: binding it (0600, replacing a stale socket left by a dead agent),
//! telling whether its path still names it, and accepting connections with each peer's
//! identity (the kernel's peer credentials, and the executable of its pid).

use std::fs;
use std::io::{self, ErrorKind};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::files::set_mode;
use super::peer::{ListeningSocket, Peer};
use super::process::executable;
use crate::{Error, Result};

/// A listening socket not yet handed to the async runtime: bound here, or passed by systemd.
#[derive(Debug)]
pub(crate) struct BoundSocket(pub(super) UnixListener);

impl BoundSocket {
    /// The socket's path, when it has one.
    pub(crate) fn path(&self) -> Option<PathBuf> {
        self.0
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(PathBuf::from))
    }

    /// Registers the socket with the running tokio runtime.
    pub(crate) fn into_listener(self) -> Result<SocketListener> {
        self.0
            .set_nonblocking(true)
            .map_err(Error::io("set the socket non-blocking"))?;
        let inner =
            tokio::net::UnixListener::from_std(self.0).map_err(Error::io("register the socket"))?;
        Ok(SocketListener(inner))
    }
}

/// Binds the socket (0600), replacing a stale socket left by a dead agent.
pub(crate) fn bind(path: &Path) -> Result<BoundSocket> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => return Err(Error::SocketInUse(path.to_path_buf())),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                fs::remove_file(path)
                    .map_err(Error::io(format!("remove stale socket {}", path.display())))?;
            }
            Err(e) => {
                return Err(Error::Io {
                    context: format!("check existing socket {}", path.display()),
                    source: e,
                })
            }
        },
        Ok(_) => return Err(Error::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::Io {
                context: format!("stat {}", path.display()),
                source: e,
            })
        }
    }
    let listener =
        UnixListener::bind(path).map_err(Error::io(format!("bind {}", path.display())))?;
    set_mode(path, 0o600).map_err(Error::io(format!("chmod 0600 {}", path.display())))?;
    Ok(BoundSocket(listener))
}

/// The socket file this agent bound, to tell later whether its path still names it.
///
/// Nobody can reach an agent whose socket was removed (`rm -r` of its folder, a tmp
/// cleaner) or replaced by another agent's: it stops instead of holding keys for nobody, and
/// then removes the path only if it still is its own.
#[derive(Debug, Clone)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Records the socket just bound at `path`.
    pub(crate) fn of(path: &Path) -> Result<SocketFile> {
        let meta =
            fs::symlink_metadata(path).map_err(Error::io(format!("stat {}", path.display())))?;
        Ok(SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// True while the path names the socket we bound: not removed, not replaced.
    pub(crate) fn is_ours(&self) -> bool {
        fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && m.dev() == self.dev && m.ino() == self.ino)
    }
}

/// The agent's socket on the tokio runtime.
#[derive(Debug)]
pub(crate) struct SocketListener(tokio::net::UnixListener);

impl ListeningSocket for SocketListener {
    type Stream = tokio::net::UnixStream;

    async fn accept(&self) -> io::Result<Self::Stream> {
        self.0.accept().await.map(|(stream, _)| stream)
    }

    fn peer(stream: &Self::Stream) -> io::Result<Peer> {
        let cred = stream.peer_cred()?;
        let pid = cred.pid();
        Ok(Peer {
            pid,
            uid: cred.uid(),
            exe: pid.and_then(executable),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::mode_of;

    #[test]
    fn socket_is_0600_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.sock");
        let listener = bind(&path).expect("bind");
        assert_eq!(mode_of(&path).expect("stat"), 0o600);
        assert_eq!(listener.path().as_deref(), Some(path.as_path()));
        assert!(matches!(bind(&path), Err(Error::SocketInUse(_))));
        drop(listener);
        bind(&path).expect("stale socket replaced");
    }

    #[test]
    fn a_removed_or_replaced_socket_is_no_longer_ours() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.sock");
        let _listener = bind(&path).expect("bind");
        let file = SocketFile::of(&path).expect("stat");
        assert!(file.is_ours());
        fs::remove_file(&path).expect("rm");
        assert!(!file.is_ours());
        let _other = bind(&path).expect("another agent binds the path");
        assert!(!file.is_ours(), "a new socket at the same path is not ours");
    }

    #[test]
    fn a_regular_file_is_never_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("file");
        fs::write(&path, b"keep me").expect("write");
        assert!(matches!(bind(&path), Err(Error::NotASocket(_))));
        assert_eq!(fs::read(&path).expect("read"), b"keep me");
    }

    #[tokio::test]
    async fn accepted_peers_are_ourselves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.sock");
        let listener = bind(&path).expect("bind").into_listener().expect("async");
        let _client = tokio::net::UnixStream::connect(&path)
            .await
            .expect("connect");
        let stream = listener.accept().await.expect("accept");
        let peer = SocketListener::peer(&stream).expect("peer");
        assert_eq!(peer.pid, Some(std::process::id() as i32));
        assert!(peer.is_allowed());
        assert!(peer.exe.is_some());
    }
}
