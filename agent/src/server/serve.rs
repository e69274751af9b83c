//! The agent's accept loop on tokio: one task per connection, strict framing, peer uid check,
//! key expiry, and a clean stop when the stop future it is given resolves (the daemon's:
//! a stop signal, the loss of its socket, the exit of the process that started it).
//!
//! A connection only ever waits on itself: a slow, stuck or hostile client holds its own task
//! and nothing else. Frames over [`proto::wire::MAX_FRAME_LEN`] close that connection; bytes
//! that do not decode get FAILURE and the connection goes on. What one client can hold is
//! bounded ([`Limits`]): at the connection cap the connection that has waited longest for a
//! request is closed to make way for the new one, and when every slot is serving a request
//! the new one is closed at once (so a local process can neither use up the agent's file
//! descriptors nor lock its owner out: see `slots`); a connection that stops mid-frame, or
//! does not take its reply, is dropped after the frame timeout. A connection idle between
//! requests may stay open until the cap needs its slot.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::message::{Request, Response};
use proto::wire::{frame, frame_len};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use zeroize::Zeroizing;

use super::agent::ConnectionState;
use super::route::Route;
use super::slots::{Admission, Slot, Slots};
use super::Agent;
use crate::sys::{ListeningSocket, Peer};
use crate::Result;

/// How often expired keys are dropped.
const EXPIRY_TICK: Duration = Duration::from_millis(500);

/// At most this many connections are open at once; at the cap the longest-waiting one makes
/// way for a new one.
pub const DEFAULT_MAX_CONNECTIONS: usize = 128;
/// Once a frame's first byte arrived, the rest must arrive within this many seconds.
pub const DEFAULT_FRAME_TIMEOUT_SECS: u64 = 30;

/// What one client may hold of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; at the cap the longest-waiting one is closed for a new one.
    pub max_connections: usize,
    /// Time for the rest of a frame once its first byte arrived (and for a reply to be taken).
    pub frame_timeout: Duration,
    /// How long a confirmation without askpass waits for `mfa-add --approve`.
    pub approve_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            frame_timeout: Duration::from_secs(DEFAULT_FRAME_TIMEOUT_SECS),
            approve_wait: client::CONFIRM_TIMEOUT,
        }
    }
}

/// Reads a connection's peer, in the connection's own task.
type PeerOf<S> = fn(&S) -> std::io::Result<Peer>;

/// Serves until `shutdown` resolves (to why the agent stops, as mini-redis's
/// `server::run(listener, shutdown)`), then wipes every key and returns that reason.
pub(crate) async fn serve<L: ListeningSocket>(
    listener: L,
    agent: Arc<Agent>,
    limits: Limits,
    shutdown: impl Future<Output = &'static str>,
) -> Result<&'static str> {
    tokio::pin!(shutdown);
    let mut expiry = tokio::time::interval(EXPIRY_TICK);
    let slots = Slots::new(limits.max_connections);
    let mut episode = CapEpisode::default();
    let stopped_by = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    let admission = slots.take(Instant::now());
                    match episode.admit(admission, limits.max_connections, &agent) {
                        Some(slot) => {
                            let agent = Arc::clone(&agent);
                            let peer_of: PeerOf<L::Stream> = L::peer;
                            tokio::spawn(async move {
                                let peer = peer_of(&stream);
                                connection(stream, peer, agent, &slot, limits.frame_timeout)
                                    .await;
                            });
                        }
                        // Every slot busy: closed at once, so it holds no descriptor.
                        None => drop(stream),
                    }
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
            }
            reason = &mut shutdown => break reason,
        }
    };
    let n = agent.keys().clear();
    agent.log.info(&format!(
        "stopping on {stopped_by}; wiped {}",
        client::report::count(n, "key")
    ));
    Ok(stopped_by)
}

/// The connection cap's log: each episode at the cap is logged once when it starts and once,
/// with counts, when a connection gets a free slot again.
#[derive(Default)]
struct CapEpisode {
    /// Waiting connections closed to make way for new ones since the cap was reached.
    made_way: u64,
    /// New connections closed since the cap was reached, every slot serving a request.
    refused: u64,
}

impl CapEpisode {
    fn admit(&mut self, admission: Admission, max: usize, agent: &Agent) -> Option<Slot> {
        let started = self.made_way == 0 && self.refused == 0;
        match admission {
            Admission::Free(slot) => {
                if !started {
                    agent.log.info(&format!(
                        "accepting connections again; at the limit closed {} waiting \
                         connections for new ones and refused {} new ones",
                        self.made_way, self.refused
                    ));
                    *self = CapEpisode::default();
                }
                Some(slot)
            }
            Admission::MadeWay(slot) => {
                if started {
                    agent.log.info(&format!(
                        "{max} connections open, the limit: closing the longest-waiting \
                         one for each new one"
                    ));
                }
                self.made_way += 1;
                Some(slot)
            }
            Admission::Full => {
                if started {
                    agent.log.info(&format!(
                        "{max} connections open, the limit, all serving a request: \
                         closing new ones until some end"
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
    slot: &Slot,
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
        agent.log.bad_request(&peer, || {
            format!(
                "refused a connection from another user: {}",
                peer.describe()
            )
        });
        return;
    }
    agent
        .log
        .debug(|| format!("connection from {}", peer.describe()));
    // What ssh bound this connection to (session-bind@openssh.com); empty: local, unless the
    // peer is ssh itself (ssh -R).
    let mut state = ConnectionState::new(Route::for_peer(super::route::is_ssh_client(
        peer.exe.as_deref(),
    )));
    loop {
        // Waiting for a request has no limit but the cap: at the cap, the connection that has
        // waited longest (idle, or stalled in a frame) makes way for a new one. Once a
        // request starts, it must arrive in time.
        // Eviction is checked first: a connection told to make way is not served, even when
        // its next request is already there.
        let mut first = [0u8; 1];
        let read = tokio::select! {
            biased;
            () = slot.evicted() => return made_way(&agent, &peer),
            read = stream.read(&mut first) => read,
        };
        match read {
            Ok(1) => {}
            _ => return,
        }
        let framed = tokio::select! {
            biased;
            () = slot.evicted() => return made_way(&agent, &peer),
            framed = timeout(frame_timeout, read_frame(&mut stream, first[0])) => framed,
        };
        slot.serving();
        let body = match framed {
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
                agent.log.bad_request(&peer, || {
                    format!("closed a connection from {}: {e}", peer.describe())
                });
                return;
            }
            Ok(Frame::Empty) => None,
            Ok(Frame::Body(body)) => Some(body),
        };
        let response = match body.as_deref().map(|b| Request::decode(b)) {
            None => Response::Failure,
            Some(Ok(request)) => agent.handle_on(request, &peer, &mut state).await,
            // Old clients probe with SSH-1 messages (ssh-add -D sends id 9): not worth a line.
            Some(Err(e @ proto::Error::Unsupported { .. })) => {
                agent
                    .log
                    .debug(|| format!("request from {}: {e}", peer.describe()));
                Response::Failure
            }
            Some(Err(e)) => {
                agent.log.bad_request(&peer, || {
                    format!("bad request from {}: {e}", peer.describe())
                });
                Response::Failure
            }
        };
        drop(body);
        // Waiting from the moment the reply goes out, before the client can read it: so
        // connections served one after another wait in that order, however the tasks run.
        slot.waiting();
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

/// A waiting connection closed at the cap for a newer one: a line for each only with `-d`,
/// since a flood makes one per connection (the episode has its own line).
fn made_way(agent: &Agent, peer: &Peer) {
    agent.log.debug(|| {
        format!(
            "closed a waiting connection from {} to make way for a new one",
            peer.describe()
        )
    });
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
