//! Platform parts of the client: the agent's socket and file permission checks. Portable
//! types at the edge ([`Stream`]: any blocking `Read + Write`), `cfg(unix)` inside.

#[cfg(unix)]
mod safe_open;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use safe_open::user_name;
#[cfg(unix)]
pub use safe_open::{
    check_path, open_folder, open_own, open_own_or_pipe, open_private_append, Folder, OwnFile,
    Replacement,
};
#[cfg(all(test, unix))]
pub(crate) use unix::set_mode;
#[cfg(unix)]
pub(crate) use unix::{connect, others_may_read, Stream};
