//! The agent ([`Agent`]): one request in, one response out: the agent's behaviour for every
//! ssh-agent message and the token-sign extension, over the shared key store and lock state.
//! `Agent::dispatch` is the table of requests, one call per request; the answers live in a
//! file per kind: keys added, listed and removed (`identities`), PKCS#11 providers
//! (`smartcard`), signatures (`signing`), the lock (`locking`).
//!
//! Every refusal is logged with its reason and answered with FAILURE only. Key checks, the
//! lock's slow hash and a device's signatures run on tokio's blocking pool so they never stall
//! other connections; a software key's signature, a fraction of a millisecond, runs where it
//! is asked for (see `backend::sign_tokens`).

use std::sync::{Arc, Mutex, MutexGuard};

use proto::forwarding::{SessionBind, SESSION_BIND_EXTENSION};
use proto::message::{
    Request, Response, CARD_LOADED_EXTENSION, KEY_PURPOSES_EXTENSION, LOCKED_MARK,
    LOG_HEAD_EXTENSION, NO_ASKPASS_MARK, PROVIDER_ENV_EXTENSION, QUERY_EXTENSION,
    TOKEN_SIGN_EXTENSION, WHY_EXTENSION,
};

use super::keys::KeyStore;
use super::lock::{LockState, UnlockQueue};
use super::route::Route;
use super::Confirmer;
use crate::backend::{self, pkcs11::Helpers};
use crate::log::Log;
use crate::sys::Peer;

// Adding, listing and removing keys.
mod identities;
// The lock and unlock requests.
mod locking;
// Signing: SSH signatures and CloudHSM tokens, after the key's use is allowed.
mod signing;
// Loading and removing the keys of PKCS#11 providers.
mod smartcard;

pub(crate) use super::refusal::Refusal;

/// What the agent keeps about one connection between its requests.
#[derive(Debug, Default)]
pub(crate) struct ConnectionState {
    /// Where the connection comes from (its session bindings).
    pub(crate) route: Route,
    /// Why its last request was refused, for `why@cloudhsm-mfa`.
    refused: Option<Refusal>,
    /// What its last add-smartcard-key loaded, for `card-loaded@cloudhsm-mfa`.
    card_loaded: Option<CardLoaded>,
}

/// What one add-smartcard-key loaded: the keys' comments, and the tokens left out.
#[derive(Debug, Default, Clone)]
pub(crate) struct CardLoaded {
    pub(crate) keys: Vec<String>,
    pub(crate) skipped: Vec<String>,
}

impl ConnectionState {
    pub(crate) fn new(route: Route) -> Self {
        ConnectionState {
            route,
            refused: None,
            card_loaded: None,
        }
    }
}

/// Everything the agent shares between connections.
#[derive(Debug)]
pub(crate) struct Agent {
    keys: Mutex<KeyStore>,
    lock: Mutex<LockState>,
    unlocks: UnlockQueue,
    default_lifetime: Option<u32>,
    confirmer: Confirmer,
    /// `-P`: the PKCS#11 providers that may be loaded.
    provider_allowlist: String,
    /// The PKCS#11 helper processes, one per provider.
    helpers: Helpers,
    pub(crate) log: Log,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the store half-changed (every change is one
    // Vec operation), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Agent {
    pub(crate) fn new(default_lifetime: Option<u32>, confirmer: Confirmer, log: Log) -> Self {
        Agent {
            keys: Mutex::new(KeyStore::default()),
            lock: Mutex::new(LockState::default()),
            unlocks: UnlockQueue::default(),
            default_lifetime,
            confirmer,
            provider_allowlist: backend::DEFAULT_PROVIDER_ALLOWLIST.to_owned(),
            helpers: Helpers::new(log),
            log,
        }
    }

    /// Sets the PKCS#11 provider allowlist (`-P`).
    pub(crate) fn with_provider_allowlist(mut self, patterns: String) -> Self {
        self.provider_allowlist = patterns;
        self
    }

    /// The key store, for the expiry timer and the final wipe.
    pub(crate) fn keys(&self) -> MutexGuard<'_, KeyStore> {
        guard(&self.keys)
    }

    fn is_locked(&self) -> bool {
        guard(&self.lock).is_locked()
    }

    /// Answers one request from `peer` on a local connection no ssh bound.
    #[cfg(test)]
    pub(crate) async fn handle(self: &Arc<Self>, request: Request, peer: &Peer) -> Response {
        self.handle_on(request, peer, &mut ConnectionState::default())
            .await
    }

    /// Answers one request from `peer` on a connection in `state` (its route, which a
    /// `session-bind@openssh.com` request adds to, and its last refusal, which `why` tells).
    pub(crate) async fn handle_on(
        self: &Arc<Self>,
        request: Request,
        peer: &Peer,
        state: &mut ConnectionState,
    ) -> Response {
        if let Request::Why = request {
            let refused = state.refused.take();
            return Response::Why {
                code: refused.as_ref().map_or("", Refusal::code).to_owned(),
                provider: refused.as_ref().map_or("", Refusal::provider).to_owned(),
                text: refused.map(|r| r.to_string()).unwrap_or_default(),
            };
        }
        if let Request::CardLoaded = request {
            let loaded = state.card_loaded.clone().unwrap_or_default();
            return Response::CardLoaded {
                keys: loaded.keys,
                skipped: loaded.skipped,
            };
        }
        let ConnectionState {
            route, card_loaded, ..
        } = state;
        let name = request_name(&request);
        // A failure of an extension we know is SSH_AGENT_EXTENSION_FAILURE, of any other
        // request (an unknown extension among them) plain FAILURE (PROTOCOL.agent).
        let extension = matches!(
            request,
            Request::Query
                | Request::SessionBind(_)
                | Request::TokenSign(_)
                | Request::KeyPurposes
                | Request::ProviderEnv
        );
        self.log
            .debug(|| format!("{name} from {}", peer.describe()));
        match self.dispatch(request, peer, route, card_loaded).await {
            Ok(response) => {
                state.refused = None;
                response
            }
            Err(why) => {
                self.log.bad_request(peer, || {
                    format!(
                        "refused {name} from {} {}: {why}",
                        peer.describe(),
                        route.describe()
                    )
                });
                state.refused = Some(why);
                if extension {
                    Response::ExtensionFailure
                } else {
                    Response::Failure
                }
            }
        }
    }

    async fn dispatch(
        self: &Arc<Self>,
        request: Request,
        peer: &Peer,
        route: &mut Route,
        card_loaded: &mut Option<CardLoaded>,
    ) -> Result<Response, Refusal> {
        // A session binding is verified while locked too (OpenSSH 10.5): it says where the
        // connection comes from, and holds for the requests after the unlock.
        if self.is_locked() && !matches!(request, Request::SessionBind(_)) {
            return self.dispatch_locked(request).await;
        }
        match request {
            Request::RequestIdentities => self.identities(route),
            Request::KeyPurposes => self.key_purposes(route),
            Request::SessionBind(bind) => self.session_bind(bind, peer, route),
            Request::Sign {
                key_blob,
                data,
                flags,
            } => self.ssh_sign(&key_blob, data, flags, peer, route).await,
            Request::TokenSign(req) => self.token_sign(req, peer, route).await,
            Request::AddIdentity {
                key,
                comment,
                constraints,
            } => {
                self.add_identity(key, comment, constraints, peer, route)
                    .await
            }
            Request::RemoveIdentity { key_blob } => self.remove_identity(&key_blob, peer, route),
            Request::AddSmartcardKey {
                provider,
                pin,
                constraints,
                key,
                tokens,
            } => {
                let add = smartcard::SmartcardAdd {
                    provider,
                    pin,
                    constraints,
                    filter: key,
                    tokens,
                };
                let (response, loaded) = self.add_smartcard(add, peer, route).await?;
                *card_loaded = Some(loaded);
                Ok(response)
            }
            Request::RemoveSmartcardKey { provider, .. } => self.remove_smartcard(&provider, peer),
            Request::RemoveAllIdentities => self.remove_all(peer),
            Request::Lock { passphrase } => self.lock(passphrase, peer).await,
            Request::Unlock { .. } => not_locked(),
            Request::Query => query(false, self.confirmer.can_ask()),
            Request::UnknownExtension { name } => unknown_extension(&name),
            // Answered by `handle_on`, which keeps the connection's last refusal.
            Request::Why => unknown_extension("why"),
            Request::LogHead => log_head(),
            Request::ProviderEnv => provider_env(route),
            // Answered by `handle_on`, which keeps the connection's last load.
            Request::CardLoaded => unknown_extension("card-loaded"),
            Request::Approvals => self.approvals(route),
            Request::Approve { id, yes } => self.approve(id, yes, peer, route),
        }
    }

    /// A locked agent lists no keys, takes unlock, and answers the query.
    async fn dispatch_locked(&self, request: Request) -> Result<Response, Refusal> {
        match request {
            Request::RequestIdentities => no_identities(),
            Request::KeyPurposes => Ok(Response::KeyPurposes(Vec::new())),
            Request::Unlock { passphrase } => self.unlock(passphrase).await,
            Request::Query => query(true, self.confirmer.can_ask()),
            _ => locked(),
        }
    }

    /// The confirmations waiting for `mfa-add --approve`: asked here, never through a hop.
    fn approvals(&self, route: &Route) -> Result<Response, Refusal> {
        if route.is_forwarded() {
            return Err(Refusal::Forwarding(
                "confirmations are listed for this machine only, not through a forwarded agent"
                    .to_owned(),
            ));
        }
        Ok(Response::Approvals(self.confirmer.pending()))
    }

    /// `mfa-add --approve`'s answer; never taken through a forwarded agent, whose far side
    /// could otherwise approve its own requests.
    fn approve(&self, id: u32, yes: bool, peer: &Peer, route: &Route) -> Result<Response, Refusal> {
        if route.is_forwarded() {
            return Err(Refusal::Forwarding(
                "an approval through a forwarded agent is not taken".to_owned(),
            ));
        }
        if !self.confirmer.answer(id, yes) {
            return Err(Refusal::Request(format!("no confirmation {id} waits")));
        }
        let said = if yes { "approved" } else { "declined" };
        self.log
            .audit(&format!("{said} confirmation {id} by {}", peer.describe()));
        Ok(Response::Success)
    }

    /// `session-bind@openssh.com`: a verified hop added to this connection's route.
    fn session_bind(
        &self,
        bind: SessionBind,
        peer: &Peer,
        route: &mut Route,
    ) -> Result<Response, Refusal> {
        let bound = route.bind(bind)?;
        self.log
            .info(&format!("session bind from {}: {bound}", peer.describe()));
        Ok(Response::Success)
    }
}

/// The query extension's answer. A locked agent names only its own extensions and the mark,
/// so a client can tell a locked mfa-agent from a plain ssh-agent.
/// `no-askpass` is added when the agent cannot ask for a confirmation.
fn query(locked: bool, can_ask: bool) -> Result<Response, Refusal> {
    let mut names = if locked {
        vec![
            QUERY_EXTENSION,
            TOKEN_SIGN_EXTENSION,
            KEY_PURPOSES_EXTENSION,
            LOCKED_MARK,
        ]
    } else {
        vec![
            QUERY_EXTENSION,
            SESSION_BIND_EXTENSION,
            TOKEN_SIGN_EXTENSION,
            KEY_PURPOSES_EXTENSION,
            WHY_EXTENSION,
            LOG_HEAD_EXTENSION,
            CARD_LOADED_EXTENSION,
            PROVIDER_ENV_EXTENSION,
        ]
    };
    if !can_ask {
        names.push(NO_ASKPASS_MARK);
    }
    Ok(Response::Query(
        names.into_iter().map(str::to_owned).collect(),
    ))
}

/// The last chain mark the agent's log wrote (`log::chain`).
fn log_head() -> Result<Response, Refusal> {
    Ok(Response::LogHead(
        crate::log::chain::head().unwrap_or_default(),
    ))
}

/// The provider variables the agent (and so its helpers) has: told to this machine only.
fn provider_env(route: &Route) -> Result<Response, Refusal> {
    if route.is_forwarded() {
        return Err(Refusal::Forwarding(
            "the agent's environment is told to this machine only".to_owned(),
        ));
    }
    Ok(Response::ProviderEnv(
        proto::extensions::PROVIDER_LOCATION_VARIABLES
            .iter()
            .filter_map(|name| {
                let value = std::env::var_os(name)?;
                Some(((*name).to_owned(), value.to_string_lossy().into_owned()))
            })
            .collect(),
    ))
}

/// A locked agent's key list: empty.
fn no_identities() -> Result<Response, Refusal> {
    Ok(Response::Identities(Vec::new()))
}

fn locked() -> Result<Response, Refusal> {
    Err(Refusal::Locked)
}

fn not_locked() -> Result<Response, Refusal> {
    Err(Refusal::NotLocked)
}

fn unknown_extension(name: &str) -> Result<Response, Refusal> {
    Err(Refusal::Request(format!("unknown extension {name:?}")))
}

/// A short name for the log; never the request's contents.
fn request_name(request: &Request) -> &'static str {
    match request {
        Request::RequestIdentities => "request-identities",
        Request::Sign { .. } => "sign",
        Request::AddIdentity { .. } => "add-identity",
        Request::RemoveIdentity { .. } => "remove-identity",
        Request::RemoveAllIdentities => "remove-all-identities",
        Request::AddSmartcardKey { .. } => "add-smartcard-key",
        Request::RemoveSmartcardKey { .. } => "remove-smartcard-key",
        Request::Lock { .. } => "lock",
        Request::Unlock { .. } => "unlock",
        Request::Query => "query",
        Request::SessionBind(_) => "session-bind",
        Request::TokenSign(_) => "token-sign",
        Request::KeyPurposes => "key-purposes",
        Request::Why => "why",
        Request::LogHead => "log-head",
        Request::CardLoaded => "card-loaded",
        Request::ProviderEnv => "provider-env",
        Request::Approvals => "approvals",
        Request::Approve { .. } => "approve",
        Request::UnknownExtension { .. } => "unknown-extension",
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
