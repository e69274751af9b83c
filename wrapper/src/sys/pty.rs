//! The child in a pseudo-terminal (Unix, through portable-pty), and the traps around it.
//!
//! - The child would start in `$HOME`: the working directory is set explicitly.
//! - Dropping portable-pty's writer types a newline and EOF into the child: [`PtyProcess`]
//!   keeps it until the child has been reaped.
//! - portable-pty's `wait` loses the number of the signal that killed the child: the child
//!   is reaped here with `waitpid`, which reports it ([`Reaper::wait`]).
//! - A slave descriptor left open in mfa-login means the master never reports EOF: the slave
//!   is dropped right after the spawn, and its settings are applied through a short-lived
//!   descriptor opened by name.
//! - EIO on the master means the child side is gone; portable-pty's reader turns it into
//!   EOF, after the kernel has handed over everything still buffered.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use client::exit::ChildExit;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::kill;
use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

use super::signals::to_unix;
use super::{ChildSignal, TerminalSettings};

/// A child running in a PTY, with the master's writing end.
pub(crate) struct PtyProcess {
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    pid: Pid,
    // Held so portable-pty's handle outlives the child; never waited on through it.
    _child: Box<dyn Child + Send + Sync>,
}

/// What [`spawn`] returns: the child, and the reading end of its output.
pub(crate) struct Spawned {
    pub process: PtyProcess,
    pub output: Box<dyn Read + Send>,
}

/// Why [`spawn`] failed: no pseudo-terminal (mfa-login's failure) or the command would not
/// start (found, but not executable: the shell's 126).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpawnError {
    #[error("{0:#}")]
    Terminal(anyhow::Error),
    #[error("{0:#}")]
    Command(anyhow::Error),
}

/// Starts `program` (an already resolved path) with `args` in a new PTY of `size`, in `cwd`,
/// with the terminal settings `settings`; when `None` (stdin is not a terminal), the PTY's
/// defaults without echo: piped input (a password sent ahead of its prompt) would otherwise
/// be echoed into the output and the transcript, and nobody is watching a screen.
pub(crate) fn spawn(
    program: &Path,
    args: &[OsString],
    cwd: &Path,
    settings: Option<&TerminalSettings>,
    size: PtySize,
) -> Result<Spawned, SpawnError> {
    let pair = native_pty_system()
        .openpty(size)
        .context("cannot open a pseudo-terminal")
        .map_err(SpawnError::Terminal)?;
    if let Some(name) = pair.master.tty_name() {
        match settings {
            Some(settings) => apply_settings(&name, settings.termios()),
            None => turn_echo_off(&name),
        }
        .with_context(|| format!("cannot set up the terminal {}", name.display()))
        .map_err(SpawnError::Terminal)?;
    }
    let mut command = CommandBuilder::new(program);
    command.args(args);
    command.cwd(cwd);
    let child = pair
        .slave
        .spawn_command(command)
        .with_context(|| format!("cannot start {}", program.display()))
        .map_err(SpawnError::Command)?;
    drop(pair.slave);
    let pid = child
        .process_id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw)
        .context("the child has no process id")
        .map_err(SpawnError::Terminal)?;
    let output = pair
        .master
        .try_clone_reader()
        .map_err(SpawnError::Terminal)?;
    let writer = pair.master.take_writer().map_err(SpawnError::Terminal)?;
    Ok(Spawned {
        process: PtyProcess {
            master: pair.master,
            writer,
            pid,
            _child: child,
        },
        output,
    })
}

/// Sets the slave's terminal settings through a descriptor of its own, closed at once.
fn apply_settings(tty: &Path, settings: &Termios) -> std::io::Result<()> {
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlag::O_NOCTTY.bits())
        .open(tty)?;
    tcsetattr(&slave, SetArg::TCSANOW, settings)?;
    Ok(())
}

/// Clears ECHO in the slave's default settings.
fn turn_echo_off(tty: &Path) -> std::io::Result<()> {
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlag::O_NOCTTY.bits())
        .open(tty)?;
    let mut settings = tcgetattr(&slave)?;
    settings.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&slave, SetArg::TCSANOW, &settings)?;
    Ok(())
}

impl PtyProcess {
    /// What waits for the child's end, on a thread of its own while the session runs.
    pub(crate) fn reaper(&self) -> Reaper {
        Reaper { pid: self.pid }
    }

    /// Types bytes into the child.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    pub(crate) fn resize(&self, size: PtySize) {
        let _ = self.master.resize(size);
    }

    /// True when the child's terminal echoes what is typed; false at a password prompt.
    pub(crate) fn echo_enabled(&self) -> bool {
        self.master
            .get_termios()
            .is_none_or(|t| t.local_flags.bits() & nix::libc::ECHO != 0)
    }

    /// Sends a signal to the child.
    pub(crate) fn signal(&self, signal: ChildSignal) {
        let _ = kill(self.pid, to_unix(signal));
    }

    /// The child's current working directory, where its relative paths point.
    pub(crate) fn cwd(&self) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/{}/cwd", self.pid)).ok()
    }
}

/// Reaps the child: `waitpid`, which keeps the number of the signal that killed it.
#[derive(Debug)]
pub(crate) struct Reaper {
    pid: Pid,
}

impl Reaper {
    /// Waits for the child to end; `None` when its status cannot be known (someone else
    /// reaped it).
    pub(crate) fn wait(self) -> Option<ChildExit> {
        loop {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => return Some(ChildExit::Code(code)),
                Ok(WaitStatus::Signaled(_, signal, _)) => {
                    return Some(ChildExit::Signal(signal as i32))
                }
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
    }
}
