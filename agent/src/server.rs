//! The agent's accept loop on tokio: one task per connection, strict framing, peer uid check,
//! key expiry, and a clean stop on SIGTERM, SIGHUP or SIGINT.
//!
//! A connection only ever waits on itself: a slow, stuck or hostile client holds its own task
//! and nothing else. Frames over [`proto::wire::MAX_FRAME_LEN`] close that connection; bytes
//! that do not decode get FAILURE and the connection goes on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::unistd::{getppid, Pid};
use proto::message::{Request, Response};
use proto::wire::{frame, frame_len};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, Signal, SignalKind};
use zeroize::Zeroizing;

use crate::handler::Agent;
use crate::socket::Peer;
use crate::{Error, Result};

/// How often expired keys are dropped.
const EXPIRY_TICK: Duration = Duration::from_millis(500);

/// The signals that stop the agent, caught from the moment this exists.
///
/// Create it before the socket accepts anyone: a signal that arrives earlier would kill the
/// agent without removing its socket.
pub struct StopSignals {
    term: Signal,
    hup: Signal,
    int: Signal,
}

impl StopSignals {
    /// Installs the handlers; must run inside the tokio runtime.
    pub fn install() -> Result<StopSignals> {
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).map_err(Error::io("SIGTERM handler"))?,
            hup: signal(SignalKind::hangup()).map_err(Error::io("SIGHUP handler"))?,
            int: signal(SignalKind::interrupt()).map_err(Error::io("SIGINT handler"))?,
        })
    }
}

/// Serves until a stop signal arrives (or, with `parent`, until the process that started the
/// agent is gone), then wipes every key and returns why it stopped.
pub async fn serve(
    listener: UnixListener,
    agent: Arc<Agent>,
    signals: StopSignals,
    parent: Option<Pid>,
) -> Result<&'static str> {
    let StopSignals {
        mut term,
        mut hup,
        mut int,
    } = signals;
    let mut expiry = tokio::time::interval(EXPIRY_TICK);
    let stopped_by = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let agent = Arc::clone(&agent);
                    tokio::spawn(async move { connection(stream, agent).await });
                }
                // Out of file descriptors and the like: say so, back off, keep serving.
                Err(e) => {
                    agent.log.info(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = expiry.tick() => {
                for fp in agent.keys().expire(Instant::now()) {
                    agent.log.info(&format!("expired {fp}"));
                }
                // Re-parented: the mfa-agent running our command died without stopping us.
                if parent.is_some_and(|p| getppid() != p) {
                    break "the exit of the process that started it";
                }
            }
            _ = term.recv() => break "SIGTERM",
            _ = hup.recv() => break "SIGHUP",
            _ = int.recv() => break "SIGINT",
        }
    };
    let n = agent.keys().clear();
    agent
        .log
        .info(&format!("stopping on {stopped_by}; wiped {n} keys"));
    Ok(stopped_by)
}

/// Serves one client until it hangs up or breaks the framing.
async fn connection(mut stream: UnixStream, agent: Arc<Agent>) {
    let peer = match Peer::of(&stream) {
        Ok(peer) => peer,
        Err(e) => {
            agent
                .log
                .info(&format!("refused a connection: no peer credentials: {e}"));
            return;
        }
    };
    if !peer.is_allowed() {
        agent.log.info(&format!(
            "refused a connection from another user: {}",
            peer.describe()
        ));
        return;
    }
    agent
        .log
        .debug(|| format!("connection from {}", peer.describe()));
    loop {
        let mut header = [0u8; 4];
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        let len = match frame_len(header) {
            Ok(len) => len,
            Err(proto::Error::EmptyFrame) => {
                if send(&mut stream, &Response::Failure).await.is_err() {
                    return;
                }
                continue;
            }
            Err(e) => {
                agent.log.info(&format!(
                    "closed a connection from {}: {e}",
                    peer.describe()
                ));
                return;
            }
        };
        // The body may carry a private key (add-identity): wipe it after decoding.
        let mut body = Zeroizing::new(vec![0u8; len]);
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let response = match Request::decode(&body) {
            Ok(request) => agent.handle(request, &peer).await,
            // Old clients probe with SSH-1 messages (ssh-add -D sends id 9): not worth a line.
            Err(e @ proto::Error::Unsupported { .. }) => {
                agent
                    .log
                    .debug(|| format!("request from {}: {e}", peer.describe()));
                Response::Failure
            }
            Err(e) => {
                agent
                    .log
                    .info(&format!("bad request from {}: {e}", peer.describe()));
                Response::Failure
            }
        };
        drop(body);
        if send(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

async fn send(stream: &mut UnixStream, response: &Response) -> std::io::Result<()> {
    stream.write_all(&frame(&response.encode())).await?;
    stream.flush().await
}
