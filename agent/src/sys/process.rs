//! Processes: our uid and parent, leaving the caller's session, signalling a pid, telling what
//! runs under a pid (Linux: /proc/PID/{exe,comm,stat}; macOS: libproc), and how a child ended.

use std::fs;
use std::process::ExitStatus;

use client::exit::ChildExit;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, Uid};

use super::child_signal::ChildSignal;

/// Our effective uid.
pub(crate) fn effective_uid() -> u32 {
    Uid::effective().as_raw()
}

/// The pid of our parent process (it changes when the parent dies and we are re-parented).
pub(crate) fn parent_pid() -> u32 {
    nix::unistd::getppid().as_raw() as u32
}

/// Leaves the caller's session so its terminal's hangup and job control do not reach us.
///
/// Fails only if we lead a process group, which a spawned child never does: ignored.
pub(crate) fn detach_session() {
    let _ = nix::unistd::setsid();
}

/// Why a signal was not delivered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignalError {
    #[error("no such process")]
    NoSuchProcess,
    #[error("{0}")]
    Other(std::io::Error),
}

/// Sends `signal` to `pid`.
pub(crate) fn send_signal(pid: u32, signal: ChildSignal) -> Result<(), SignalError> {
    let signal = match signal {
        ChildSignal::Terminate => Signal::SIGTERM,
        ChildSignal::Hangup => Signal::SIGHUP,
    };
    kill(Pid::from_raw(pid as i32), signal).map_err(|e| match e {
        nix::errno::Errno::ESRCH => SignalError::NoSuchProcess,
        e => SignalError::Other(e.into()),
    })
}

/// The name of the program running as `pid`, when it can be read: it stays readable for a
/// non-dumpable process.
pub(crate) fn process_name(pid: u32) -> Option<String> {
    #[cfg(not(target_os = "macos"))]
    let name = fs::read_to_string(format!("/proc/{pid}/comm")).ok();
    #[cfg(target_os = "macos")]
    let name = libproc::proc_pid::name(i32::try_from(pid).ok()?).ok();
    name.map(|name| name.trim_end().to_owned())
}

/// The executable running as `pid`, when the platform tells it.
pub(crate) fn executable(pid: i32) -> Option<std::path::PathBuf> {
    #[cfg(not(target_os = "macos"))]
    return fs::read_link(format!("/proc/{pid}/exe")).ok();
    #[cfg(target_os = "macos")]
    return libproc::proc_pid::pidpath(pid).ok().map(Into::into);
}

/// True while `pid` exists and is not a zombie waiting to be reaped.
pub(crate) fn is_running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => kill(Pid::from_raw(pid as i32), None).is_ok(),
    }
}

/// How a child ended, from what `wait` said.
pub(crate) fn child_exit(status: ExitStatus) -> ChildExit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ChildExit::Code(code),
        (None, Some(signal)) => ChildExit::Signal(signal),
        (None, None) => ChildExit::Code(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_states_of_processes() {
        let me = std::process::id();
        assert!(is_running(me));
        assert!(process_name(me).is_some());
        let exe = executable(i32::try_from(me).expect("pid")).expect("our executable");
        assert_eq!(exe, std::env::current_exe().expect("current_exe"));
        let mut child = std::process::Command::new("sh")
            .args(["-c", "kill -TERM $$"])
            .spawn()
            .expect("sh");
        let status = child.wait().expect("wait");
        assert_eq!(child_exit(status), ChildExit::Signal(15));
        assert!(matches!(
            send_signal(child.id(), ChildSignal::Hangup),
            Err(SignalError::NoSuchProcess)
        ));
    }
}
