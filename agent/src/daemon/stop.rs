//! When a serving agent stops, as the future `server::serve` takes: a stop signal (SIGTERM,
//! SIGHUP, SIGINT), the exit of the process that started it (`-- CMD`), or the loss of its
//! socket. SIGUSR1 wipes the keys and the agent goes on.

use std::time::Duration;

use crate::server::Agent;
use crate::sys::{parent_pid, Caught, SocketFile, StopSignals};

/// How often the parent and the socket are checked.
const WATCH_TICK: Duration = Duration::from_millis(500);

/// Resolves to why the agent should stop: a stop signal's name, or, with `parent`, once the
/// process that started the agent is gone, or, with `socket`, once its path no longer names
/// our socket.
pub(super) async fn stop_condition(
    mut signals: StopSignals,
    parent: Option<u32>,
    socket: Option<&SocketFile>,
    agent: &Agent,
) -> &'static str {
    let mut watch = tokio::time::interval(WATCH_TICK);
    loop {
        tokio::select! {
            _ = watch.tick() => {
                // Re-parented: the mfa-agent running our command died without stopping us.
                if parent.is_some_and(|p| parent_pid() != p) {
                    return "the exit of the process that started it";
                }
                if let Some(socket) = socket.filter(|s| !s.is_ours()) {
                    agent.log.info(&format!(
                        "{} was removed or replaced: nobody can reach this agent any more",
                        socket.path().display()
                    ));
                    return "the loss of its socket";
                }
            }
            caught = signals.recv() => match caught {
                Caught::Stop(name) => return name,
                Caught::WipeKeys => {
                    let n = agent.keys().clear();
                    agent.log.audit(&format!(
                        "removed all {} on SIGUSR1",
                        client::report::count(n, "key")
                    ));
                }
            },
        }
    }
}
