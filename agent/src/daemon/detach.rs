//! Starting a detached agent (this program again, with `--detached`) and waiting until it
//! serves; its log file; and `mfa-agent -- CMD`, which runs CMD beside such an agent.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use client::exit::Status;

use super::foreground::READY;
use super::log_file::open_log_file;
use super::settings::{absolute, LogTo, Settings};
use super::socket_dir::{default_socket_base, make_default_socket_path};
use crate::sys::{child_exit, send_signal, ChildSignal, PassedSignals};
use crate::{Error, Result};

/// Starts a detached agent and waits until it serves; returns it and its socket.
///
/// With `tied`, the agent stops by itself if this process disappears.
pub(super) fn spawn(settings: &Settings, tied: bool) -> Result<(Child, PathBuf)> {
    let (socket, owns_dir) = match &settings.socket {
        Some(path) => (absolute(path)?, false),
        None => (make_default_socket_path(&default_socket_base())?, true),
    };
    // The child logs to the log file, which it opens again by name to rotate it, unless it
    // logs to syslog; its stderr is the file too, for what comes before its log is set up.
    let log_file = match settings.log_to {
        Some(LogTo::Syslog) => None,
        _ => Some(open_log_file(settings.log_file.clone())?),
    };
    let log_path = log_file.as_ref().map(|(_, path)| path.clone());
    let log_file = log_file.map(|(file, _)| file);
    let exe = std::env::current_exe().map_err(Error::io("find the mfa-agent program"))?;
    let mut command = Command::new(exe);
    command.arg("--detached").arg("-a").arg(&socket);
    if owns_dir {
        command.arg("--owns-dir");
    }
    if tied {
        command.arg("--exit-with-parent");
    }
    if let Some(secs) = settings.default_lifetime {
        command.arg("-t").arg(secs.to_string());
    }
    if settings.log_to == Some(LogTo::Syslog) {
        command
            .arg("--log")
            .arg("syslog")
            .arg("--syslog-socket")
            .arg(&settings.syslog_socket);
    }
    if let Some(path) = &log_path {
        command.arg("--log").arg("file").arg("--log-file").arg(path);
    }
    command
        .arg("-P")
        .arg(&settings.provider_allowlist)
        .arg("--max-connections")
        .arg(settings.limits.max_connections.to_string())
        .arg("--frame-timeout")
        .arg(settings.limits.frame_timeout.as_secs().to_string())
        .arg("--approve-wait")
        .arg(settings.limits.approve_wait.as_secs().to_string());
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file.map_or_else(Stdio::null, Stdio::from))
        .spawn()
        .map_err(Error::io("start the agent process"))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    if line.trim_end() == READY {
        return Ok((child, socket));
    }
    let _ = child.kill();
    let _ = child.wait();
    // The private folder made for the socket is ours to remove (empty: nothing was bound).
    if owns_dir {
        if let Some(dir) = socket.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    let message = line.trim_end().trim_start_matches("error: ");
    Err(Error::AgentNotReady(if message.is_empty() {
        "the agent process exited before it was ready (see its log file)".into()
    } else {
        message.to_owned()
    }))
}

/// `mfa-agent -- CMD ARGS...`: CMD runs with the variables set; the agent stops when it ends.
/// Returns CMD's exit status (127 not found, 126 not runnable).
pub(super) fn run_command(settings: &Settings, command: &[OsString]) -> Result<Status> {
    let signals = PassedSignals::register().map_err(Error::io("install signal handlers"))?;
    let (mut agent, socket) = spawn(settings, true)?;
    let agent_pid = agent.id();
    let status = Command::new(&command[0])
        .args(&command[1..])
        .env(client::SOCKET_VARIABLE, &socket)
        .env(client::discover::PID_VARIABLE, agent_pid.to_string())
        .spawn()
        .and_then(|child| signals.wait(child));
    let _ = send_signal(agent_pid, ChildSignal::Terminate);
    let _ = agent.wait();
    Ok(match status {
        Ok(status) => Status::of(child_exit(status)),
        Err(e) => {
            eprintln!(
                "{}",
                client::report::layout(
                    "mfa-agent",
                    &format!("cannot run {}: {e}", command[0].to_string_lossy()),
                    None
                )
            );
            if e.kind() == std::io::ErrorKind::NotFound {
                Status::NOT_FOUND
            } else {
                Status::NOT_EXECUTABLE
            }
        }
    })
}
