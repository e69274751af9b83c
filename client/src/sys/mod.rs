//! Platform parts of the client: the agent's socket and the file checks of
//! [`crate::files`]. Portable types at the edge ([`Stream`]: any blocking `Read + Write`).
//! Unix is the platform that runs (Linux, and macOS in check builds); Windows is checked to
//! compile, with a named pipe for the agent and plain file opens.

/// The longest path a Unix socket may have: `sockaddr_un`'s `sun_path` holds 108 bytes on
/// Linux and 104 on macOS and the BSDs, the terminating NUL included.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub const SOCKET_PATH_MAX: usize = 107;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub const SOCKET_PATH_MAX: usize = 103;

#[cfg(unix)]
mod replace;
#[cfg(unix)]
mod safe_open;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub use replace::Replacement;
#[cfg(unix)]
pub(crate) use safe_open::owner_name;
#[cfg(unix)]
pub use safe_open::{
    check_path, open_folder, open_own, open_own_or_pipe, open_private_append, Folder, OwnFile,
};
#[cfg(all(test, unix))]
pub(crate) use unix::set_mode;
#[cfg(unix)]
pub(crate) use unix::{connect, my_uid, others_may_read, server_pid, server_uid, Stream};
#[cfg(unix)]
pub use unix::{forbid_tracing, no_core_files};
#[cfg(windows)]
pub use windows::{
    check_path, open_folder, open_own, open_own_or_pipe, open_private_append, Folder, OwnFile,
    Replacement,
};
#[cfg(windows)]
pub(crate) use windows::{
    connect, my_uid, others_may_read, owner_name, server_pid, server_uid, Stream,
};
#[cfg(windows)]
pub use windows::{forbid_tracing, no_core_files};
