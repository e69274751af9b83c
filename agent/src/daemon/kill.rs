//! `mfa-agent -k`: stop the agent named by `MFA_AGENT_PID`, never another program that now has
//! that pid, and print the lines that unset the variables.

use std::time::{Duration, Instant};

use super::eval::unset_lines;
use super::settings::Shell;
use crate::sys::{is_running, process_name, send_signal, ChildSignal, SignalError};
use crate::{Error, Result};

/// How long `-k` waits for the agent to remove its socket and exit.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The process name of a running mfa-agent.
const AGENT_COMM: &str = "mfa-agent";

/// Stops the agent named by MFA_AGENT_PID and prints the unset lines.
pub(super) fn kill_agent(shell: Shell) -> Result<()> {
    let text = std::env::var(client::discover::PID_VARIABLE).map_err(|_| Error::NoAgentPid)?;
    let pid = parse_pid(&text).ok_or_else(|| Error::BadAgentPid(text.clone()))?;
    let stale = |why: String| Error::StaleAgentPid { pid, why };
    // A stale MFA_AGENT_PID (an agent stopped, the pid reused) must not stop whatever
    // process now has that pid.
    if let Some(name) = process_name(pid) {
        if name != AGENT_COMM {
            return Err(stale(format!("that process is {name:?}")));
        }
    }
    send_signal(pid, ChildSignal::Terminate).map_err(|e| match e {
        SignalError::NoSuchProcess => stale("no such process".into()),
        SignalError::Other(source) => Error::KillFailed { pid, source },
    })?;
    // Wait until it has removed its socket and exited, so the caller sees no socket left.
    let deadline = Instant::now() + KILL_WAIT;
    while is_running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    print!("{}", unset_lines(shell, pid));
    Ok(())
}

/// A pid worth signalling: not 0 or 1 (or negative, which would name process groups).
fn parse_pid(text: &str) -> Option<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|p| *p > 1 && *p <= i32::MAX as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_pids_are_signalled() {
        assert_eq!(parse_pid(" 4242\n"), Some(4242));
        for bad in ["", "1", "0", "-5", "abc", "99999999999"] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }
}
