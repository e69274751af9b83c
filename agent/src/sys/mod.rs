//! The agent crate's platform boundary: everything that speaks Unix (socket files and peer
//! credentials, process hardening, detaching and signalling processes, signals, terminal
//! modes, file modes, the system log) sits here, one file per concern, behind portable types.
//!
//! Outside this folder the crate sees only [`Peer`] as plain data, the [`ListeningSocket`]
//! trait, our own [`ChildSignal`], and functions over paths and pids. A Windows port adds a
//! `cfg(windows)` file per concern (a named pipe behind `ListeningSocket`) and leaves the
//! server, mfa-add and the daemon logic as they are.

#[cfg(unix)]
mod activation;
mod child_signal;
#[cfg(unix)]
mod files;
#[cfg(unix)]
mod hardening;
#[cfg(unix)]
mod listener;
mod peer;
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
pub use child_signal::ChildSignal;
#[cfg(all(unix, test))]
pub(crate) use files::mode_of;
#[cfg(unix)]
pub(crate) use files::{create_private_dir_all, dir_access, set_mode};
#[cfg(unix)]
pub(crate) use hardening::harden_process;
#[cfg(unix)]
pub(crate) use listener::{bind, SocketFile};
pub(crate) use peer::ListeningSocket;
pub use peer::Peer;
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
