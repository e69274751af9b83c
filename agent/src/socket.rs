//! The agent's Unix socket: a private folder (0700), the socket (0600), stale sockets left by a
//! dead agent, and the identity of each peer (SO_PEERCRED and /proc/PID/exe).

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::unistd::Uid;

use crate::{Error, Result};

/// Where the default socket's folder is made: `$XDG_RUNTIME_DIR`, else `$TMPDIR`, else /tmp.
pub fn default_socket_base() -> PathBuf {
    for var in ["XDG_RUNTIME_DIR", "TMPDIR"] {
        if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(dir);
            if dir.is_dir() {
                return dir;
            }
        }
    }
    PathBuf::from("/tmp")
}

/// Makes a fresh private folder (mkdtemp, 0700) under `base` and returns the socket path in it.
pub fn make_default_socket_path(base: &Path) -> Result<PathBuf> {
    let dir = tempfile::Builder::new()
        .prefix("mfa-agent.")
        .tempdir_in(base)
        .map_err(Error::io(format!(
            "cannot create a private folder in {}",
            base.display()
        )))?
        .keep();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(Error::io(format!("chmod 0700 {}", dir.display())))?;
    Ok(dir.join("agent.sock"))
}

/// Makes sure the socket's folder exists and only we can enter it.
///
/// A missing folder is created 0700. An existing folder must be ours, or a root-owned sticky
/// folder such as /tmp; if others can enter it we still bind (the socket itself is 0600 and
/// every peer's uid is checked) but return a warning to log.
pub fn prepare_socket_dir(socket: &Path) -> Result<Option<String>> {
    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(Error::io(format!("cannot create {}", dir.display())))?;
    }
    let meta = fs::metadata(&dir).map_err(Error::io(format!("stat {}", dir.display())))?;
    let sticky_system_dir = meta.uid() == 0 && meta.mode() & 0o1000 != 0;
    if sticky_system_dir {
        // /tmp and the like: others cannot replace our socket, and every peer's uid is
        // checked, but anyone can see it; ssh-agent -a allows this too.
        return Ok(Some(format!(
            "warning: {} is a shared folder; prefer a private one (0700) for the socket",
            dir.display()
        )));
    }
    if meta.uid() != Uid::effective().as_raw() {
        return Err(Error::UnsafeDirectory(format!(
            "{} belongs to uid {}, not to us; put the socket in a folder you own",
            dir.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Ok(Some(format!(
            "warning: {} has mode {mode:03o}; others may see the socket (the agent still refuses their uid)",
            dir.display()
        )));
    }
    Ok(None)
}

/// Binds the socket (0600), replacing a stale socket left by a dead agent.
pub fn bind_socket(path: &Path) -> Result<UnixListener> {
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
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(Error::io(format!("chmod 0600 {}", path.display())))?;
    Ok(listener)
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub pid: Option<i32>,
    pub uid: u32,
    /// The peer's executable from /proc/PID/exe, when readable.
    pub exe: Option<PathBuf>,
}

impl Peer {
    /// Reads the peer's credentials from a connected socket.
    pub fn of(stream: &tokio::net::UnixStream) -> std::io::Result<Peer> {
        let cred = stream.peer_cred()?;
        let pid = cred.pid();
        Ok(Peer {
            pid,
            uid: cred.uid(),
            exe: pid.and_then(|p| fs::read_link(format!("/proc/{p}/exe")).ok()),
        })
    }

    /// Root and our own uid may use the agent, as with OpenSSH's ssh-agent.
    pub fn is_allowed(&self) -> bool {
        self.uid == 0 || self.uid == Uid::effective().as_raw()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_is_0600_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.sock");
        let listener = bind_socket(&path).expect("bind");
        assert_eq!(fs::metadata(&path).expect("stat").mode() & 0o777, 0o600);
        assert!(matches!(bind_socket(&path), Err(Error::SocketInUse(_))));
        drop(listener);
        bind_socket(&path).expect("stale socket replaced");
    }

    #[test]
    fn a_regular_file_is_never_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("file");
        fs::write(&path, b"keep me").expect("write");
        assert!(matches!(bind_socket(&path), Err(Error::NotASocket(_))));
        assert_eq!(fs::read(&path).expect("read"), b"keep me");
    }

    #[test]
    fn default_folder_is_private() {
        let base = tempfile::tempdir().expect("tempdir");
        let sock = make_default_socket_path(base.path()).expect("path");
        let dir = sock.parent().expect("parent");
        assert_eq!(fs::metadata(dir).expect("stat").mode() & 0o777, 0o700);
    }
}
