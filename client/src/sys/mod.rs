//! Platform parts of the client: the agent's socket and file permission checks. Portable
//! types at the edge ([`Stream`]: any blocking `Read + Write`), `cfg(unix)` inside.

#[cfg(unix)]
mod unix;
#[cfg(all(test, unix))]
pub(crate) use unix::set_mode;
#[cfg(unix)]
pub(crate) use unix::{connect, others_may_read, Stream};
