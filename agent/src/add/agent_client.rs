//! mfa-add's side of the socket: find the agent through MFA_AUTH_SOCK and make blocking calls.

use std::path::PathBuf;
use std::time::Duration;

use proto::message::{Request, Response};

use crate::sys::{connect, ClientStream};
use crate::{Error, Result};

/// The variable that names the agent's socket.
const SOCKET_VAR: &str = "MFA_AUTH_SOCK";

/// How long one call may take; confirm-on-use questions wait for a person, so be generous.
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// A connection to the agent.
pub(super) struct AgentClient {
    stream: ClientStream,
}

impl AgentClient {
    /// Connects to the socket named by MFA_AUTH_SOCK, with a hint when that fails.
    pub(super) fn from_env() -> Result<AgentClient> {
        let path = std::env::var_os(SOCKET_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .ok_or(Error::NoAgentSocket)?;
        let stream = connect(&path).map_err(|source| Error::AgentUnreachable { path, source })?;
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(CALL_TIMEOUT)))
            .map_err(Error::io("set socket timeouts"))?;
        Ok(AgentClient { stream })
    }

    /// One request and its reply; the encoded request is wiped once sent.
    pub(super) fn call(&mut self, request: &Request) -> Result<Response> {
        proto::client::call(&mut self.stream, request).map_err(|e| match e {
            proto::Error::Io(e) => Error::io("talk to the agent")(e),
            other => Error::Proto(other),
        })
    }
}
