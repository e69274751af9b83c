//! The wrapper crate's platform boundary: everything that speaks Unix (the PTY child, the
//! user's terminal modes and size, signals, file modes) sits here, one file per concern,
//! behind portable types.
//!
//! Outside this folder the crate sees [`ChildSignal`] and [`ReceivedSignal`] instead of signal
//! numbers, [`client::exit::ChildExit`] as a child's end, [`TerminalSettings`] as an opaque
//! value, and functions over paths, files and metadata. A Windows port adds a `cfg(windows)`
//! file per concern (ConPTY through portable-pty, console modes) and leaves the session, its
//! policy and the token-file code as they are.

#[cfg(unix)]
mod files;
#[cfg(unix)]
mod pty;
#[cfg(unix)]
mod signals;
#[cfg(unix)]
mod terminal;

#[cfg(unix)]
pub(crate) use files::{is_executable, names_a_path};
#[cfg(unix)]
pub(crate) use pty::{spawn, PtyProcess, Reaper, SpawnError};
#[cfg(unix)]
pub(crate) use signals::watch as watch_signals;
#[cfg(unix)]
pub(crate) use terminal::{
    dim, newline, notice, stdin_settings, suspend, window_size, OutputWriter, RawMode,
    TerminalSettings, SUSPEND_KEY,
};

/// A signal mfa-login sends to COMMAND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildSignal {
    Terminate,
    Hangup,
    Interrupt,
    Quit,
    Kill,
}

impl ChildSignal {
    /// The signal's usual name, for the transcript.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ChildSignal::Terminate => "SIGTERM",
            ChildSignal::Hangup => "SIGHUP",
            ChildSignal::Interrupt => "SIGINT",
            ChildSignal::Quit => "SIGQUIT",
            ChildSignal::Kill => "SIGKILL",
        }
    }
}

/// A signal mfa-login caught: the window changed size, or someone asked it to end (passed on
/// to COMMAND instead, so the terminal is restored and COMMAND's status reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReceivedSignal {
    Resize,
    Pass(ChildSignal),
}
