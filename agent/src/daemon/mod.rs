//! Running mfa-agent: in the foreground, forked with eval lines, beside a command (`-- CMD`),
//! or killing one (`-k`).
//!
//! A daemon must not fork a running tokio runtime, and `fork` needs `unsafe`, so "forking"
//! re-executes this program with `--detached` (`detach`): the child leaves the caller's
//! session, binds the socket, reports `ready` (or its error) on a pipe and serves
//! (`foreground`); the parent prints the eval lines (`eval`) once the socket accepts
//! connections. The child's stderr is the log file, since a forked agent has no terminal.

mod detach;
mod eval;
mod foreground;
mod kill;
mod log_file;
mod reuse;
mod settings;
mod socket_dir;
mod stop;

use std::ffi::OsString;

use client::exit::Status;

pub use crate::sys::DEFAULT_SYSLOG_SOCKET;
pub use settings::{LogTo, Settings, Shell};

use settings::absolute;

use crate::sys::{take_inherited_socket, InheritedSocket};
use crate::{Error, Result};

/// What this invocation of mfa-agent does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Fork an agent and print eval lines.
    Fork(Shell),
    /// Serve in this process (`-D`, `-d`, or the forked child).
    Foreground { detached: bool },
    /// Use the agent on the per-user socket (or `-a`), else fork one there; print eval lines.
    Reuse(Shell),
    /// Kill the agent named by MFA_AGENT_PID.
    Kill(Shell),
    /// Run a command beside a forked agent.
    Command(Vec<OsString>),
    /// Be the helper process that loads this PKCS#11 provider for the agent.
    Pkcs11Helper(std::path::PathBuf),
}

/// Runs `mode` and returns the process exit status.
///
/// Call it before any thread starts: it takes systemd's socket-activation variables out of
/// the environment.
pub fn run(mode: Mode, settings: &Settings) -> Result<Status> {
    if let Mode::Pkcs11Helper(provider) = &mode {
        return crate::backend::pkcs11::run_helper(provider).map(|()| Status::SUCCESS);
    }
    if settings.log_to == Some(LogTo::Stderr) && !matches!(mode, Mode::Foreground { .. }) {
        return Err(Error::usage(
            "--log stderr needs -D or -d: a forked agent has no terminal (use --log file or --log syslog)",
        ));
    }
    if settings.log_file.is_some() && matches!(settings.log_to, Some(LogTo::Syslog | LogTo::Stderr))
    {
        return Err(Error::usage("--log-file goes with --log file only"));
    }
    let inherited = take_inherited_socket()?;
    if let Some(inherited) = &inherited {
        check_activation(&mode, settings, inherited)?;
    }
    match mode {
        Mode::Foreground { detached } => {
            foreground::run(settings, detached, inherited).map(|()| Status::SUCCESS)
        }
        Mode::Fork(shell) => {
            reuse::warn_if_one_runs();
            let (child, socket) = detach::spawn(settings, false)?;
            print!("{}", eval::eval_lines(shell, &socket, child.id(), false));
            Ok(Status::SUCCESS)
        }
        Mode::Reuse(shell) => reuse::run(shell, settings),
        Mode::Command(command) => detach::run_command(settings, &command),
        Mode::Kill(shell) => kill::kill_agent(shell).map(|()| Status::SUCCESS),
        Mode::Pkcs11Helper(_) => Ok(Status::SUCCESS),
    }
}

/// Socket activation needs `-D` or `-d`, and `-a`, if given, must name the passed socket: so
/// one .service serves both ways (started alone it binds `-a PATH`; activated by a .socket
/// unit listening on the same PATH, it takes that socket).
fn check_activation(mode: &Mode, settings: &Settings, inherited: &InheritedSocket) -> Result<()> {
    if *mode != (Mode::Foreground { detached: false }) {
        return Err(Error::usage(
            "systemd passed a socket (LISTEN_FDS): run mfa-agent -D or -d under socket activation",
        ));
    }
    match &settings.socket {
        Some(path) if inherited.path.as_deref() != Some(absolute(path)?.as_path()) => {
            Err(Error::usage(format!(
                "systemd passed a socket (LISTEN_FDS) that is not -a {}; drop -a or make the .socket unit listen there",
                path.display()
            )))
        }
        _ => Ok(()),
    }
}
