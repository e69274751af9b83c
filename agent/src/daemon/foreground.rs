//! Serving in this process (`-D`, `-d`, or the forked child): harden, bind or adopt the
//! socket, print the eval lines or report `ready`, serve until it must stop (`stop`), clean up.

use std::io::Write;
use std::sync::Arc;

use super::eval::eval_lines;
use super::log_file::open_log_file;
use super::settings::{absolute, LogTo, Settings};
use super::socket_dir::{default_socket_base, make_default_socket_path, prepare_socket_dir};
use super::stop::stop_condition;
use crate::log::{Destination, Log, MAX_LOG_BYTES};
use crate::server::{serve, Agent, Confirmer};
use crate::sys::{
    bind, detach_session, harden_process, parent_pid, InheritedSocket, SocketFile, StopSignals,
    Syslog,
};
use crate::{Error, Result};

/// The line a detached child writes when its socket is ready.
pub(super) const READY: &str = "ready";

/// Serves in this process until a stop signal, then removes the socket (unless systemd passed
/// it: then the socket is systemd's to keep).
pub(super) fn run(
    settings: &Settings,
    detached: bool,
    inherited: Option<InheritedSocket>,
) -> Result<()> {
    if detached {
        detach_session();
    }
    let result = open_log(settings).and_then(|log| {
        let served = bind_and_serve(settings, detached, inherited, log);
        if let Err(e) = &served {
            log.info(&format!("error: {e}"));
        }
        // The writer thread dies with the process: write what is queued first.
        log.flush();
        served
    });
    if let Err(e) = &result {
        if detached {
            // The parent may be waiting for a line; tell it why we could not start. It may
            // also be gone, so a failed write is not an error of its own.
            let _ = writeln!(std::io::stdout(), "error: {e}");
        }
    }
    result
}

/// The log `--log` asks for. A detached child is told `--log file` or `--log syslog` by its
/// parent (its stderr is the log file too, for what comes before the log is set up).
fn open_log(settings: &Settings) -> Result<Log> {
    let debug = settings.debug;
    Ok(match settings.log_to {
        Some(LogTo::Syslog) => {
            let syslog = Syslog::connect(&settings.syslog_socket, "mfa-agent").map_err(
                Error::io(format!(
                    "cannot reach the system log at {} (is journald or rsyslog running?)",
                    settings.syslog_socket.display()
                )),
            )?;
            Log::to(debug, Destination::Syslog(syslog))
        }
        Some(LogTo::File) => {
            let (file, path) = open_log_file(settings.log_file.clone())?;
            Log::to(debug, Destination::file(file, path, MAX_LOG_BYTES))
        }
        _ => Log::new(debug),
    })
}

fn bind_and_serve(
    settings: &Settings,
    detached: bool,
    inherited: Option<InheritedSocket>,
    log: Log,
) -> Result<()> {
    harden_process()?;
    // Read before the socket is announced: once `ready` is out the parent may die at any
    // moment, and a parent read after that is init (or a subreaper), never noticed as gone.
    let parent = settings.exit_with_parent.then(parent_pid);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("start the async runtime"))?;
    runtime.block_on(async {
        // Catch stop signals before anyone can connect, so the socket is always removed.
        let signals = StopSignals::install()?;
        let (listener, socket, cleanup, how) = match inherited {
            Some(inherited) => {
                if let Some(warning) = inherited.mode_warning() {
                    log.info(&warning);
                }
                (
                    inherited.listener,
                    inherited.path,
                    None,
                    "socket activation, ",
                )
            }
            None => {
                let (socket, owns_dir) = match &settings.socket {
                    Some(path) => (absolute(path)?, settings.owns_dir),
                    None => (make_default_socket_path(&default_socket_base())?, true),
                };
                if let Some(warning) = prepare_socket_dir(&socket)? {
                    log.info(&warning);
                }
                let listener = bind(&socket)?;
                let cleanup = SocketCleanup {
                    socket: SocketFile::of(&socket)?,
                    owns_dir,
                };
                (listener, Some(socket), Some(cleanup), "")
            }
        };
        let listener = listener.into_listener()?;
        let shown = socket.as_ref().map_or_else(
            || "an unnamed socket".to_owned(),
            |s| s.display().to_string(),
        );
        log.info(&format!(
            "mfa-agent {} listening on {shown} ({how}pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        ));
        let mut stdout = std::io::stdout();
        if detached {
            let _ = writeln!(stdout, "{READY}").and_then(|()| stdout.flush());
            let _ = std::env::set_current_dir("/");
        } else if let Some(socket) = &socket {
            let _ = write!(
                stdout,
                "{}",
                eval_lines(settings.shell, socket, std::process::id(), false)
            )
            .and_then(|()| stdout.flush());
        }
        let agent = Arc::new(
            Agent::new(
                settings.default_lifetime,
                Confirmer::from_env().with_queue_wait(settings.limits.approve_wait),
                log,
            )
            .with_provider_allowlist(settings.provider_allowlist.clone()),
        );
        let watched = cleanup.as_ref().map(|c| &c.socket);
        let shutdown = stop_condition(signals, parent, watched, &agent);
        serve(listener, Arc::clone(&agent), settings.limits, shutdown).await?;
        drop(cleanup);
        Ok(())
    })
}

/// Removes the socket (and the folder made for it) when the agent stops, even on error; a
/// socket another agent has since bound at the same path is left alone.
struct SocketCleanup {
    socket: SocketFile,
    owns_dir: bool,
}

impl Drop for SocketCleanup {
    fn drop(&mut self) {
        if self.socket.is_ours() {
            let _ = std::fs::remove_file(self.socket.path());
        }
        if self.owns_dir {
            if let Some(dir) = self.socket.path().parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}
