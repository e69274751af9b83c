//! mfa-add's side of the socket: find the agent through MFA_AUTH_SOCK and make blocking calls.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use proto::message::{Request, Response};
use proto::wire::{frame, frame_len};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The variable that names the agent's socket.
pub const SOCKET_VAR: &str = "MFA_AUTH_SOCK";

/// How long one call may take; confirm-on-use questions wait for a person, so be generous.
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// A connection to the agent.
pub struct AgentClient {
    stream: UnixStream,
}

impl AgentClient {
    /// Connects to the socket named by MFA_AUTH_SOCK, with a hint when that fails.
    pub fn from_env() -> Result<AgentClient> {
        let path = std::env::var_os(SOCKET_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| Error::WithHint {
                message: format!("{SOCKET_VAR} is not set: no agent to talk to"),
                hint: "start one with: eval \"$(mfa-agent -s)\"".into(),
            })?;
        let stream = UnixStream::connect(&path).map_err(|e| Error::WithHint {
            message: format!("cannot connect to the agent at {}: {e}", path.display()),
            hint: "is mfa-agent running? start one with: eval \"$(mfa-agent -s)\"".into(),
        })?;
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(CALL_TIMEOUT)))
            .map_err(Error::io("set socket timeouts"))?;
        Ok(AgentClient { stream })
    }

    /// One request and its reply.
    ///
    /// Like `proto::client::call`, but the encoded request (an add-identity carries the
    /// private key) is wiped from memory once sent.
    pub fn call(&mut self, request: &Request) -> Result<Response> {
        let body = Zeroizing::new(request.encode());
        let framed = Zeroizing::new(frame(&body));
        self.stream
            .write_all(&framed)
            .and_then(|()| self.stream.flush())
            .map_err(Error::io("send to the agent"))?;
        let mut header = [0u8; 4];
        self.stream
            .read_exact(&mut header)
            .map_err(Error::io("read the agent's reply"))?;
        let mut reply = vec![0u8; frame_len(header)?];
        self.stream
            .read_exact(&mut reply)
            .map_err(Error::io("read the agent's reply"))?;
        Ok(Response::decode(&reply)?)
    }
}
