//! Signals: the ones that stop the agent (SIGTERM, SIGHUP, SIGINT, caught on tokio), SIGUSR1
//! that wipes its keys, and how
//! `mfa-agent -- CMD` treats signals while CMD runs.

use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};

use super::child_signal::ChildSignal;
use super::process::send_signal;
use crate::{Error, Result};

/// The signals that stop the agent, caught from the moment this exists.
///
/// Create it before the socket accepts anyone: a signal that arrives earlier would kill the
/// agent without removing its socket.
pub(crate) struct StopSignals {
    term: Signal,
    hup: Signal,
    int: Signal,
    /// SIGUSR1: wipe every key and go on (as OpenSSH's ssh-agent since 9.7).
    usr1: Signal,
}

/// What a caught signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caught {
    Stop(&'static str),
    WipeKeys,
}

impl StopSignals {
    /// Installs the handlers; must run inside the tokio runtime.
    pub(crate) fn install() -> Result<StopSignals> {
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).map_err(Error::io("SIGTERM handler"))?,
            hup: signal(SignalKind::hangup()).map_err(Error::io("SIGHUP handler"))?,
            int: signal(SignalKind::interrupt()).map_err(Error::io("SIGINT handler"))?,
            usr1: signal(SignalKind::user_defined1()).map_err(Error::io("SIGUSR1 handler"))?,
        })
    }

    /// Waits for the next of these signals; cancel-safe.
    pub(crate) async fn recv(&mut self) -> Caught {
        tokio::select! {
            _ = self.term.recv() => Caught::Stop("SIGTERM"),
            _ = self.hup.recv() => Caught::Stop("SIGHUP"),
            _ = self.int.recv() => Caught::Stop("SIGINT"),
            _ = self.usr1.recv() => Caught::WipeKeys,
        }
    }
}

/// How mfa-agent treats signals while CMD runs, as a shell treats a foreground job: ^C and ^\
/// reach CMD from the terminal and must not kill us first (the agent would outlive its
/// command), and SIGTERM or SIGHUP sent to us are passed on to CMD.
pub(crate) struct PassedSignals {
    forward: Vec<(ChildSignal, Arc<AtomicBool>)>,
}

impl PassedSignals {
    /// Installs the handlers; call before CMD starts so no signal slips through.
    pub(crate) fn register() -> std::io::Result<PassedSignals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        let ignored = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGQUIT] {
            signal_hook::flag::register(sig, Arc::clone(&ignored))?;
        }
        let mut forward = Vec::new();
        for (raw, signal) in [
            (SIGTERM, ChildSignal::Terminate),
            (SIGHUP, ChildSignal::Hangup),
        ] {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(raw, Arc::clone(&flag))?;
            forward.push((signal, flag));
        }
        Ok(PassedSignals { forward })
    }

    /// Waits for CMD, passing on what arrives meanwhile.
    pub(crate) fn wait(&self, mut child: Child) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            for (signal, flag) in &self.forward {
                if flag.swap(false, Ordering::Relaxed) {
                    let _ = send_signal(child.id(), *signal);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
