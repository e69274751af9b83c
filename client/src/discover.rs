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

/// How many bytes OpenSSH 10.1 and later add to the home folder's path for the socket sshd
/// makes for a forwarded agent: `/.ssh/agent/s.` (14), a 10-character hash of the host name,
/// `.sshd.` (6) and 10 random characters (misc-agent.c, `agent_socket_template`).
/// `unix_listener_tmp` there refuses a path that does not fit `sun_path`, and sshd then tells
/// the client "Agent forwarding disabled: couldn't create listener socket".
const FORWARDED_SOCKET_SUFFIX: usize = 40;

/// The longest home folder path (bytes) on this machine under which OpenSSH 10.1+ sshd can
/// make a forwarded agent's socket: 67 on Linux, 63 on macOS and the BSDs.
pub fn longest_home_for_forwarding() -> usize {
    sys::SOCKET_PATH_MAX - FORWARDED_SOCKET_SUFFIX
}

/// On an ssh session with no forwarded agent: the home folder, when it is too long for
/// OpenSSH 10.1+ sshd to have made one there.
fn home_too_long_for_forwarding(ssh_session: bool, home: Option<PathBuf>) -> Option<PathBuf> {
    home.filter(|h| ssh_session && h.as_os_str().len() > longest_home_for_forwarding())
}

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
    Some(xdg_base("XDG_STATE_HOME", ".local/state")?.join("cloudhsm-mfa/agent.log"))
}

/// An XDG base folder: `$VARIABLE` when set, else `$HOME/UNDER_HOME` (its default).
pub fn xdg_base(variable: &str, under_home: &str) -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    var(variable)
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| Path::new(&home).join(under_home)))
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
            let ssh_session = var("SSH_CONNECTION").is_some();
            let home = var("HOME").map(PathBuf::from);
            return Err(match home_too_long_for_forwarding(ssh_session, home) {
                Some(home) => Error::HomeTooLongToForward { home },
                None => Error::NoAgentVariable,
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_home_longer_than_a_forwarded_socket_allows_is_named_on_an_ssh_session_only() {
        let longest = longest_home_for_forwarding();
        assert_eq!(longest + FORWARDED_SOCKET_SUFFIX, sys::SOCKET_PATH_MAX);
        let home = |len: usize| Some(PathBuf::from(format!("/{}", "h".repeat(len - 1))));
        assert_eq!(home_too_long_for_forwarding(true, home(longest)), None);
        assert_eq!(
            home_too_long_for_forwarding(true, home(longest + 1)),
            home(longest + 1)
        );
        assert_eq!(home_too_long_for_forwarding(false, home(longest + 1)), None);
        assert_eq!(home_too_long_for_forwarding(true, None), None);
        // The suffix as sshd makes it: "/.ssh/agent/s." HASH10 ".sshd." RANDOM10.
        let made = format!("/.ssh/agent/s.{}.sshd.{}", "a".repeat(10), "b".repeat(10));
        assert_eq!(made.len(), FORWARDED_SOCKET_SUFFIX);
    }
}
