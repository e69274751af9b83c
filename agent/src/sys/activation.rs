//! systemd socket activation (`sd_listen_fds(3)`): with `-D` or `-d`, adopt the listening
//! socket systemd passes as fd 3 when `LISTEN_PID` names this process.
//!
//! Adopting a descriptor needs `unsafe` (`FromRawFd`), which the workspace forbids, so the
//! adoption goes through `listenfd`'s safe API; this module decides whether the fds are ours,
//! because listenfd alone would also take them with no `LISTEN_PID` at all (catflap's variant).
//! The variables are removed in every case, so nothing the agent starts (a confirm program, the
//! CMD of `-- CMD`, a forked agent) takes the fds for its own.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use listenfd::ListenFd;
use nix::sys::socket::{getsockopt, sockopt::AcceptConn};

use super::listener::BoundSocket;
use crate::{Error, Result};

/// Every variable of the protocol, removed from our environment before anything is spawned.
const VARS: [&str; 4] = [
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "LISTEN_FDS_FIRST_FD",
];

/// The socket systemd passed us, with its path when it has one.
#[derive(Debug)]
pub(crate) struct InheritedSocket {
    pub listener: BoundSocket,
    pub path: Option<PathBuf>,
}

/// Takes the socket passed by systemd, if `LISTEN_PID` is our pid and `LISTEN_FDS` is 1, and
/// removes the protocol's variables from the environment either way.
///
/// Call it before any thread starts: it changes the process environment.
pub(crate) fn take_inherited_socket() -> Result<Option<InheritedSocket>> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    // systemd always starts at fd 3 (SD_LISTEN_FDS_START); listenfd would follow this variable.
    std::env::remove_var("LISTEN_FDS_FIRST_FD");
    let mut fds = if ours && count > 0 {
        ListenFd::from_env()
    } else {
        ListenFd::empty()
    };
    for var in VARS {
        std::env::remove_var(var);
    }
    if fds.len() == 0 {
        return Ok(None);
    }
    if fds.len() > 1 {
        return Err(Error::ActivationSockets(fds.len()));
    }
    let not_ours = Error::ActivationSocketUnfit;
    let listener = fds
        .take_unix_listener(0)
        .map_err(|e| not_ours(format!("is not a Unix stream socket: {e}")))?
        .ok_or_else(|| not_ours("is missing".into()))?;
    // Accept=yes would hand us one connected socket instead of the listening one.
    if !getsockopt(&listener, AcceptConn).unwrap_or(false) {
        return Err(not_ours("is not listening (Accept=yes?)".into()));
    }
    let listener = BoundSocket(listener);
    let path = listener.path();
    Ok(Some(InheritedSocket { listener, path }))
}

impl InheritedSocket {
    /// A warning for the log when others may reach the socket file (systemd's default
    /// SocketMode is 0666); their uid is refused anyway.
    pub(crate) fn mode_warning(&self) -> Option<String> {
        let path = self.path.as_ref()?;
        let meta = std::fs::metadata(path).ok()?;
        let mode = meta.mode() & 0o777;
        (meta.file_type().is_socket() && mode & 0o077 != 0).then(|| {
            format!(
                "warning: {} has mode {mode:03o}; set SocketMode=0600 in the .socket unit (the agent still refuses other uids)",
                path.display()
            )
        })
    }
}
