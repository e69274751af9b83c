//! Unix: the agent listens on a Unix-domain socket; secret files are judged by their mode.

use std::fs::Metadata;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub(crate) type Stream = UnixStream;

/// Connects to the agent's socket; every read and write is bounded by `timeout`.
pub(crate) fn connect(path: &Path, timeout: Duration) -> std::io::Result<Stream> {
    let stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// The uid of the process that serves the other end (the kernel's word, not the socket
/// file's owner, which says nothing about who listens on it).
pub(crate) fn server_uid(stream: &Stream) -> std::io::Result<u32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
        Ok(getsockopt(stream, PeerCredentials)?.uid())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Ok(nix::unistd::getpeereid(stream)?.0.as_raw())
    }
}

/// The pid of the process that serves the other end, when the platform tells it.
pub(crate) fn server_pid(stream: &Stream) -> Option<u32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let pid = {
        use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
        getsockopt(stream, PeerCredentials).ok()?.pid()
    };
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    let pid = {
        use nix::sys::socket::{getsockopt, sockopt::LocalPeerPid};
        getsockopt(stream, LocalPeerPid).ok()?
    };
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios"
    )))]
    let pid = {
        let _ = stream;
        return None;
    };
    u32::try_from(pid).ok()
}

/// The uid this process acts as.
pub(crate) fn my_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The file's mode when its group or others may read or write it.
pub(crate) fn others_may_read(meta: &Metadata) -> Option<u32> {
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Sets a file's permission bits (tests make secret files others can read).
#[cfg(test)]
pub(crate) fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// No debugger may attach: on Linux not dumpable (no ptrace and no /proc/PID/mem for other
/// processes of the same uid), on macOS `PT_DENY_ATTACH`. Programs this process starts are
/// traceable again after their exec.
pub fn forbid_tracing() -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    nix::sys::prctl::set_dumpable(false)?;
    #[cfg(target_os = "macos")]
    secmem_proc::components::disable_tracing_prctl()
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    Ok(())
}

/// No core files: the soft limit 0. The hard limit is kept, so a program started later can
/// be given the limit it had.
pub fn no_core_files() -> std::io::Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_CORE)?;
    setrlimit(Resource::RLIMIT_CORE, 0, hard)?;
    Ok(())
}
