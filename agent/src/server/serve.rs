//! The agent's accept loop on tokio: one task per connection, strict framing, peer uid check,
//! key expiry, and a clean stop on SIGTERM, SIGHUP or SIGINT, or once its socket is gone.
//!
//! A connection only ever waits on itself: a slow, stuck or hostile client holds its own task
//! and nothing else. Frames over [`proto::wire::MAX_FRAME_LEN`] close that connection; bytes
//! that do not decode get FAILURE and the connection goes on. What one client can hold is
//! bounded ([`Limits`]): past the connection cap new connections are closed at once (so a
//! local process cannot use up the agent's file descriptors), and a connection that stops
//! mid-frame, or does not take its reply, is dropped after the frame timeout. A connection
//! idle between requests may stay open.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::message::{Request, Response};
use proto::wire::{frame, frame_len};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;
use zeroize::Zeroizing;

use super::route::Route;
use super::Agent;
use crate::sys::{parent_pid, ListeningSocket, Peer, SocketFile, StopSignals};
use crate::Result;

/// How often expired keys are dropped.
const EXPIRY_TICK: Duration = Duration::from_millis(500);

/// At most this many connections are served at once; more are closed at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 128;
/// Once a frame's first byte arrived, the rest must arrive within this many seconds.
pub const DEFAULT_FRAME_TIMEOUT_SECS: u64 = 30;

/// What one client may hold of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time for the rest of a frame once its first byte arrived (and for a reply to be taken).
    pub frame_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            frame_timeout: Duration::from_secs(DEFAULT_FRAME_TIMEOUT_SECS),
        }
    }
}

/// Reads a connection's peer, in the connection's own task.
type PeerOf<S> = fn(&S) -> std::io::Result<Peer>;

/// Serves until a stop signal arrives (or, with `parent`, until the process that started the
/// agent is gone; with `socket`, until its path no longer names our socket), then wipes every
/// key and returns why it stopped.
pub(crate) async fn serve<L: ListeningSocket>(
    listener: L,
    agent: Arc<Agent>,
    mut signals: StopSignals,
    parent: Option<u32>,
    socket: Option<&SocketFile>,
    limits: Limits,
) -> Result<&'static str> {
    let mut expiry = tokio::time::interval(EXPIRY_TICK);
    let mut slots = Slots::new(limits.max_connections);
    let stopped_by = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => match slots.take(&agent) {
                    Some(slot) => {
                        let agent = Arc::clone(&agent);
                        let peer_of: PeerOf<L::Stream> = L::peer;
                        tokio::spawn(async move {
                            let peer = peer_of(&stream);
                            connection(stream, peer, agent, limits.frame_timeout).await;
                            drop(slot);
                        });
                    }
                    // Over the cap: closed at once, so it holds no descriptor.
                    None => drop(stream),
                },
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
                if parent.is_some_and(|p| parent_pid() != p) {
                    break "the exit of the process that started it";
                }
                if let Some(socket) = socket.filter(|s| !s.is_ours()) {
                    agent.log.info(&format!(
                        "{} was removed or replaced: nobody can reach this agent any more",
                        socket.path().display()
                    ));
                    break "the loss of its socket";
                }
            }
            name = signals.recv() => break name,
        }
    };
    let n = agent.keys().clear();
    agent
        .log
        .info(&format!("stopping on {stopped_by}; wiped {n} keys"));
    Ok(stopped_by)
}

/// The connection cap: one slot per open connection, reaching the cap logged once per episode.
struct Slots {
    free: Arc<Semaphore>,
    max: usize,
    /// Connections closed since the cap was reached.
    refused: u64,
}

impl Slots {
    fn new(max: usize) -> Slots {
        let max = max.min(Semaphore::MAX_PERMITS);
        Slots {
            free: Arc::new(Semaphore::new(max)),
            max,
            refused: 0,
        }
    }

    /// A slot for a new connection, or None at the cap.
    fn take(&mut self, agent: &Agent) -> Option<OwnedSemaphorePermit> {
        match Arc::clone(&self.free).try_acquire_owned() {
            Ok(slot) => {
                if self.refused > 0 {
                    agent.log.info(&format!(
                        "accepting connections again; closed {} at the limit",
                        self.refused
                    ));
                    self.refused = 0;
                }
                Some(slot)
            }
            Err(_) => {
                if self.refused == 0 {
                    agent.log.info(&format!(
                        "{} connections open, the limit: closing new ones until some end",
                        self.max
                    ));
                }
                self.refused += 1;
                None
            }
        }
    }
}

/// Serves one client until it hangs up, breaks the framing or stalls.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: std::io::Result<Peer>,
    agent: Arc<Agent>,
    frame_timeout: Duration,
) {
    let peer = match peer {
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
    // What ssh bound this connection to (session-bind@openssh.com); empty: local.
    let mut route = Route::default();
    loop {
        // Waiting for a request has no limit; once one starts, it must arrive in time.
        let mut first = [0u8; 1];
        match stream.read(&mut first).await {
            Ok(1) => {}
            _ => return,
        }
        let body = match timeout(frame_timeout, read_frame(&mut stream, first[0])).await {
            Err(_) => {
                agent.log.info(&format!(
                    "dropped a connection from {}: stalled mid-frame for {}s",
                    peer.describe(),
                    frame_timeout.as_secs()
                ));
                return;
            }
            Ok(Frame::Closed) => return,
            Ok(Frame::TooLong(e)) => {
                agent.log.info(&format!(
                    "closed a connection from {}: {e}",
                    peer.describe()
                ));
                return;
            }
            Ok(Frame::Empty) => None,
            Ok(Frame::Body(body)) => Some(body),
        };
        let response = match body.as_deref().map(|b| Request::decode(b)) {
            None => Response::Failure,
            Some(Ok(request)) => agent.handle_on(request, &peer, &mut route).await,
            // Old clients probe with SSH-1 messages (ssh-add -D sends id 9): not worth a line.
            Some(Err(e @ proto::Error::Unsupported { .. })) => {
                agent
                    .log
                    .debug(|| format!("request from {}: {e}", peer.describe()));
                Response::Failure
            }
            Some(Err(e)) => {
                agent
                    .log
                    .info(&format!("bad request from {}: {e}", peer.describe()));
                Response::Failure
            }
        };
        drop(body);
        match timeout(frame_timeout, send(&mut stream, &response)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                agent.log.info(&format!(
                    "dropped a connection from {}: did not take its reply for {}s",
                    peer.describe(),
                    frame_timeout.as_secs()
                ));
                return;
            }
        }
    }
}

/// One frame read after its first byte.
enum Frame {
    /// The body; it may carry a private key (add-identity), so it is wiped when dropped.
    Body(Zeroizing<Vec<u8>>),
    /// A zero-length frame: answered with FAILURE.
    Empty,
    /// Declared longer than the cap: the connection is closed.
    TooLong(proto::Error),
    /// The client hung up mid-frame.
    Closed,
}

async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S, first: u8) -> Frame {
    let mut header = [first, 0, 0, 0];
    if stream.read_exact(&mut header[1..]).await.is_err() {
        return Frame::Closed;
    }
    let len = match frame_len(header) {
        Ok(len) => len,
        Err(proto::Error::EmptyFrame) => return Frame::Empty,
        Err(e) => return Frame::TooLong(e),
    };
    let mut body = Zeroizing::new(vec![0u8; len]);
    if stream.read_exact(&mut body).await.is_err() {
        return Frame::Closed;
    }
    Frame::Body(body)
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, response: &Response) -> std::io::Result<()> {
    stream.write_all(&frame(&response.encode())).await?;
    stream.flush().await
}
