//! Finding the agent: `MFA_AUTH_SOCK`, else the agent at `SSH_AUTH_SOCK` when it offers the
//! token-sign extension (mfa-agent forwarded by `ssh -A` or `ForwardAgent ${MFA_AUTH_SOCK}`
//! appears on the far side as `SSH_AUTH_SOCK`). This is the one place that reads the variables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{sys, Connection, Error, Result};

/// The environment variable naming mfa-agent's socket.
pub const SOCKET_VARIABLE: &str = "MFA_AUTH_SOCK";
/// OpenSSH's agent variable, where a forwarded mfa-agent shows up on a remote host.
pub const SSH_SOCKET_VARIABLE: &str = "SSH_AUTH_SOCK";

/// The environment variable naming the agent's pid (set by `mfa-agent`, read by `mfa-agent -k`).
pub const PID_VARIABLE: &str = "MFA_AGENT_PID";

/// The socket of the one agent a user keeps running (`mfa-agent --reuse`, the systemd units,
/// the launchd plist): `$XDG_RUNTIME_DIR/mfa-agent/agent.sock`, else
/// `~/.mfa-agent/agent.sock` (macOS has no `$XDG_RUNTIME_DIR`).
pub fn per_user_socket() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(runtime) = var("XDG_RUNTIME_DIR") {
        return Some(Path::new(&runtime).join("mfa-agent/agent.sock"));
    }
    var("HOME").map(|home| Path::new(&home).join(".mfa-agent/agent.sock"))
}

/// Where a forked agent logs when not told otherwise: `$XDG_STATE_HOME/cloudhsm-mfa/agent.log`,
/// else `~/.local/state/cloudhsm-mfa/agent.log`.
pub fn default_log_file() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let state = var("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| Path::new(&home).join(".local/state")))?;
    Some(state.join("cloudhsm-mfa/agent.log"))
}

/// A running agent, reached through its socket. Each [`Agent::connect`] opens a new
/// connection, so an agent restarted between two logins is found again.
#[derive(Debug, Clone)]
pub struct Agent {
    socket: PathBuf,
    timeout: Duration,
}

impl Agent {
    /// The agent the environment names; every call on its connections is bounded by `timeout`.
    pub fn from_env(timeout: Duration) -> Result<Agent> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(path) = var(SOCKET_VARIABLE) {
            return Ok(Agent::at(Path::new(&path), timeout));
        }
        let Some(path) = var(SSH_SOCKET_VARIABLE) else {
            return Err(Error::NoAgentVariable);
        };
        let agent = Agent::at(Path::new(&path), timeout);
        if agent.connect()?.offers_token_signing()? {
            Ok(agent)
        } else {
            Err(Error::NotMfaAgent { path: path.into() })
        }
    }

    /// The agent listening at `socket`.
    pub fn at(socket: &Path, timeout: Duration) -> Agent {
        Agent {
            socket: socket.to_path_buf(),
            timeout,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Opens a connection, to an agent that runs as this user (or root) only: a socket
    /// someone else serves (a name squatted before `ssh -R` could bind it, a planted
    /// `MFA_AUTH_SOCK`) would receive private keys from mfa-add and hand out signatures of a
    /// key the attacker chose. Nothing is sent before the check.
    pub fn connect(&self) -> Result<Connection> {
        let no_agent = |source| Error::NoAgent {
            path: self.socket.clone(),
            source,
        };
        let stream = sys::connect(&self.socket, self.timeout).map_err(no_agent)?;
        let server = sys::server_uid(&stream).map_err(no_agent)?;
        if server != sys::my_uid() && server != 0 {
            return Err(Error::ForeignAgent {
                path: self.socket.clone(),
                owner: sys::owner_name(server),
            });
        }
        Ok(Connection::new(stream))
    }
}
