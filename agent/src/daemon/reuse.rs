//! `mfa-agent --reuse`: the user's one agent on a fixed per-user socket, as gpg-agent and
//! keychain keep one: reused when it runs there, started there when it does not, so
//! `eval "$(mfa-agent --reuse)"` in every shell (a line in ~/.bashrc or ~/.zshrc) finds the
//! same agent and its keys. And the warning a plain `mfa-agent` gives when the agent the
//! shell already names still runs: a second `eval "$(mfa-agent)"` would leave it, and its
//! keys, running with nothing pointing at it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use client::exit::Status;
use client::AgentKind;

use super::settings::{absolute, Settings, Shell};
use super::{detach, eval};
use crate::{Error, Result};

/// How long the agent on the socket has to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Prints the eval lines of the agent on the per-user socket (or `-a`), started if need be.
pub(super) fn run(shell: Shell, settings: &Settings) -> Result<Status> {
    let socket = match &settings.socket {
        Some(path) => absolute(path)?,
        None => client::discover::per_user_socket().ok_or(Error::NoPerUserSocket)?,
    };
    if let Some(pid) = running(&socket)? {
        print!("{}", eval::eval_lines(shell, &socket, pid, true));
        return Ok(Status::SUCCESS);
    }
    let settings = Settings {
        socket: Some(socket.clone()),
        ..settings.clone()
    };
    match detach::spawn(&settings, false) {
        Ok((child, socket)) => print!("{}", eval::eval_lines(shell, &socket, child.id(), false)),
        // Another shell's --reuse may have started it meanwhile: the socket was in use.
        Err(err) => match running(&socket)? {
            Some(pid) => print!("{}", eval::eval_lines(shell, &socket, pid, true)),
            None => return Err(err),
        },
    }
    Ok(Status::SUCCESS)
}

/// The pid of this user's mfa-agent serving `socket` (locked or not); `None` when nothing
/// listens there (no socket, or a stale one a dead agent left).
fn running(socket: &Path) -> Result<Option<u32>> {
    let mut agent = match client::Agent::at(socket, ASK_TIMEOUT).connect() {
        Ok(agent) => agent,
        Err(client::Error::NoAgent { source, .. })
            if matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(err) => return Err(err.into()),
    };
    match agent.kind()? {
        AgentKind::MfaAgent | AgentKind::Locked => agent
            .server_pid()
            .map(Some)
            .ok_or_else(|| Error::NoAgentPidAt(socket.to_path_buf())),
        AgentKind::NotMfaAgent => Err(Error::NotMfaAgentAt(socket.to_path_buf())),
    }
}

/// Warns when the agent `MFA_AUTH_SOCK` names still runs: the agent about to start replaces
/// it in this shell only.
pub(super) fn warn_if_one_runs() {
    let Some(socket) = std::env::var_os(client::SOCKET_VARIABLE).map(PathBuf::from) else {
        return;
    };
    if let Ok(Some(pid)) = running(&socket) {
        eprintln!(
            "mfa-agent: warning: the agent at {} (pid {pid}) still runs, with its keys; this \
             starts another\nhint: eval \"$(mfa-agent --reuse)\" uses one agent for every shell; \
             stop the old one with mfa-agent -k (or kill {pid})",
            socket.display()
        );
    }
}
