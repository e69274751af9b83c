//! The agent ([`Agent`]): one request in, one response out: the agent's behaviour for every ssh-agent message and the
//! token-sign extension, over the shared key store and lock state.
//!
//! Every refusal is logged with its reason and answered with FAILURE only. Key checks, the
//! lock's slow hash and a device's signatures run on tokio's blocking pool so they never stall
//! other connections; a software key's signature, a fraction of a millisecond, runs where it
//! is asked for (see `backend::sign_tokens`).

use std::sync::{Arc, Mutex, MutexGuard};

use proto::forwarding::SESSION_BIND_EXTENSION;
use proto::message::{
    Constraint, Request, Response, TokenSignRequest, LOCKED_MARK, QUERY_EXTENSION,
    SIGN_RSA_SHA2_256, SIGN_RSA_SHA2_512, TOKEN_SIGN_EXTENSION,
};
use tokio::task::spawn_blocking;
use zeroize::Zeroizing;

use super::forwarding::{decide, may_load_provider, Use, UsePolicy, Verdict};
use super::keys::{KeyEntry, KeyStore};
use super::lock::{LockHash, LockState, UnlockQueue};
use super::route::Route;
use super::Confirmer;
use crate::backend::{self, provider_allowed, KeyBackend, Providers, SoftwareKey, SshHash};
use crate::log::Log;
use crate::sys::Peer;

/// Why a request was refused; logged, never sent.
type Refusal = String;

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
    providers: Providers,
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
            providers: Providers::default(),
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
        self.handle_on(request, peer, &mut Route::default()).await
    }

    /// Answers one request from `peer` on a connection that came `route` (its session
    /// bindings, which a `session-bind@openssh.com` request adds to).
    pub(crate) async fn handle_on(
        self: &Arc<Self>,
        request: Request,
        peer: &Peer,
        route: &mut Route,
    ) -> Response {
        let name = request_name(&request);
        // A failure of an extension we know is SSH_AGENT_EXTENSION_FAILURE, of any other
        // request (an unknown extension among them) plain FAILURE (PROTOCOL.agent).
        let extension = matches!(
            request,
            Request::Query | Request::SessionBind(_) | Request::TokenSign(_)
        );
        self.log
            .debug(|| format!("{name} from {}", peer.describe()));
        match self.dispatch(request, peer, route).await {
            Ok(response) => response,
            Err(why) => {
                self.log.bad_request(peer, || {
                    format!(
                        "refused {name} from {} {}: {why}",
                        peer.describe(),
                        route.describe()
                    )
                });
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
    ) -> Result<Response, Refusal> {
        // A session binding is verified while locked too (OpenSSH 10.5): it says where the
        // connection comes from, and holds for the requests after the unlock.
        if self.is_locked() && !matches!(request, Request::SessionBind(_)) {
            match request {
                Request::RequestIdentities => return Ok(Response::Identities(Vec::new())),
                Request::Unlock { passphrase } => return self.unlock(passphrase).await,
                // Names only, so a client can tell a locked mfa-agent from a plain ssh-agent.
                Request::Query => {
                    return Ok(Response::Query(vec![
                        QUERY_EXTENSION.to_owned(),
                        TOKEN_SIGN_EXTENSION.to_owned(),
                        LOCKED_MARK.to_owned(),
                    ]))
                }
                _ => return Err("the agent is locked".into()),
            }
        }
        match request {
            Request::RequestIdentities => {
                Ok(Response::Identities(self.keys().identities_where(|e| {
                    decide(&e.policy, false, route, Use::See) == Verdict::Allow
                })))
            }
            Request::SessionBind(bind) => {
                let bound = route.bind(bind)?;
                self.log
                    .info(&format!("session bind from {}: {bound}", peer.describe()));
                Ok(Response::Success)
            }
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
                // Building and checking the key is RSA work: off the async threads.
                let (key, public) = spawn_blocking(move || SoftwareKey::from_material(&key))
                    .await
                    .map_err(|e| format!("key check failed: {e}"))??;
                let (lifetime, confirm, policy) = self.constraints(constraints);
                let mut entry = KeyEntry::new(Arc::new(key), &public, comment, lifetime, confirm);
                self.log.audit(&format!(
                    "added {} {:?} lifetime={} confirm={} forwarded={} destinations={} by {} {}",
                    entry.fingerprint,
                    entry.comment,
                    lifetime.map_or_else(|| "forever".to_owned(), |s| format!("{s}s")),
                    confirm,
                    policy.forwarded.as_str(),
                    policy.destinations.len(),
                    peer.describe(),
                    route.describe()
                ));
                entry.policy = policy;
                self.keys().add(entry);
                Ok(Response::Success)
            }
            Request::RemoveIdentity { key_blob } => {
                // A key this connection may not see cannot be removed through it (OpenSSH).
                let visible = self
                    .keys()
                    .get(&key_blob)
                    .is_some_and(|e| decide(&e.policy, false, route, Use::See) == Verdict::Allow);
                if visible && self.keys().remove(&key_blob) {
                    self.log.audit(&format!(
                        "removed {} by {}",
                        proto::key::fingerprint(&key_blob),
                        peer.describe()
                    ));
                    Ok(Response::Success)
                } else {
                    Err("no such key".into())
                }
            }
            Request::AddSmartcardKey {
                provider,
                pin,
                constraints,
                key,
            } => {
                may_load_provider(route)?;
                self.add_smartcard(provider, pin, constraints, key, peer)
                    .await
            }
            Request::RemoveSmartcardKey { provider, .. } => {
                let real = std::fs::canonicalize(&provider)
                    .map_err(|e| format!("provider {provider}: {e}"))?;
                let n = self.keys().remove_provider(&real);
                if n == 0 {
                    return Err(format!("no keys from provider {provider}"));
                }
                self.log.audit(&format!(
                    "removed {n} keys of provider {} by {}",
                    real.display(),
                    peer.describe()
                ));
                Ok(Response::Success)
            }
            Request::RemoveAllIdentities => {
                let n = self.keys().clear();
                self.log
                    .audit(&format!("removed all {n} keys by {}", peer.describe()));
                Ok(Response::Success)
            }
            Request::Lock { passphrase } => {
                let hash = tokio::task::spawn_blocking(move || LockHash::new(&passphrase))
                    .await
                    .map_err(|e| format!("lock failed: {e}"))?;
                if guard(&self.lock).lock(hash) {
                    self.log.audit(&format!("locked by {}", peer.describe()));
                    Ok(Response::Success)
                } else {
                    Err("already locked".into())
                }
            }
            Request::Unlock { .. } => Err("the agent is not locked".into()),
            Request::Query => Ok(Response::Query(vec![
                QUERY_EXTENSION.to_owned(),
                SESSION_BIND_EXTENSION.to_owned(),
                TOKEN_SIGN_EXTENSION.to_owned(),
            ])),
            Request::UnknownExtension { name } => Err(format!("unknown extension {name:?}")),
        }
    }

    /// `ssh-add -s` / `mfa-add -s`: load the RSA keys of a PKCS#11 provider's tokens, if the
    /// allowlist lets the provider's real path in.
    async fn add_smartcard(
        self: &Arc<Self>,
        provider: String,
        pin: Zeroizing<Vec<u8>>,
        constraints: Vec<Constraint>,
        filter: Option<proto::message::KeyFilter>,
        peer: &Peer,
    ) -> Result<Response, Refusal> {
        let real =
            std::fs::canonicalize(&provider).map_err(|e| format!("provider {provider}: {e}"))?;
        if !provider_allowed(&self.provider_allowlist, &real.to_string_lossy()) {
            return Err(format!(
                "provider {} is not in the allowlist {:?} (mfa-agent -P)",
                real.display(),
                self.provider_allowlist
            ));
        }
        let pin = Zeroizing::new(String::from_utf8_lossy(&pin).into_owned());
        let agent = Arc::clone(self);
        let path = real.clone();
        let found = spawn_blocking(move || agent.providers.load_keys(&path, pin, filter.as_ref()))
            .await
            .map_err(|e| format!("loading the provider failed: {e}"))?
            .map_err(|e| e.to_string())?;
        let (lifetime, confirm, policy) = self.constraints(constraints);
        let count = found.len();
        for key in found {
            let origin = key.signer.origin();
            let mut entry = KeyEntry::new(
                Arc::new(key.signer),
                &key.public,
                provider.clone(),
                lifetime,
                confirm,
            );
            entry.provider = Some(real.clone());
            self.log.audit(&format!(
                "added {} ({origin}) lifetime={} confirm={confirm} forwarded={} destinations={} by {}",
                entry.fingerprint,
                lifetime.map_or_else(|| "forever".to_owned(), |s| format!("{s}s")),
                policy.forwarded.as_str(),
                policy.destinations.len(),
                peer.describe()
            ));
            entry.policy = policy.clone();
            self.keys().add(entry);
        }
        self.log.audit(&format!(
            "loaded {count} keys of provider {}",
            real.display()
        ));
        Ok(Response::Success)
    }

    /// The lifetime (else the default), confirm flag and use policy of an add's constraints.
    fn constraints(&self, constraints: Vec<Constraint>) -> (Option<u32>, bool, UsePolicy) {
        let mut lifetime = None;
        let mut confirm = false;
        let mut policy = UsePolicy::default();
        for c in constraints {
            match c {
                Constraint::Lifetime(secs) => lifetime = Some(secs),
                Constraint::Confirm => confirm = true,
                Constraint::Forwarded(forwarded) => policy.forwarded = forwarded,
                Constraint::Destinations(d) => policy.destinations = d,
            }
        }
        (lifetime.or(self.default_lifetime), confirm, policy)
    }

    async fn unlock(&self, passphrase: Zeroizing<Vec<u8>>) -> Result<Response, Refusal> {
        // One attempt at a time, agent-wide: a guess waits here for the ones before it, and
        // their delays, to finish. Only unlock attempts queue; other requests go on.
        let turn = self.unlocks.turn().await;
        // Read after the wait: an attempt queued behind the right passphrase finds it unlocked.
        // The hash cannot change during the turn: a locked agent refuses to lock again.
        let Some(hash) = guard(&self.lock).hash().cloned() else {
            return Err("the agent is not locked".into());
        };
        // Hashing takes the salt from the stored hash; the check runs off the async threads.
        let ok = tokio::task::spawn_blocking(move || hash.matches(&passphrase))
            .await
            .map_err(|e| format!("unlock failed: {e}"))?;
        if ok {
            guard(&self.lock).unlock();
            turn.succeeded();
            self.log.audit("unlocked");
            Ok(Response::Success)
        } else {
            let delay = turn.failed().await;
            Err(format!("wrong passphrase (answered after {delay:?})"))
        }
    }

    /// The live key for `blob`, after asking the user when the key needs confirmation.
    ///
    /// No reference to the key is held while the question is open (up to two minutes): a key
    /// removed or expired meanwhile is wiped at once, and the answer cannot bring it back.
    async fn key_for_use(
        &self,
        blob: &[u8],
        peer: &Peer,
        route: &Route,
        usage: Use<'_>,
        what: &str,
    ) -> Result<Arc<KeyEntry>, Refusal> {
        let (fingerprint, comment, verdict) = {
            let entry = self
                .keys()
                .get(blob)
                .ok_or_else(|| format!("no key {}", proto::key::fingerprint(blob)))?;
            let verdict = decide(&entry.policy, entry.confirm, route, usage);
            (entry.fingerprint.clone(), entry.comment.clone(), verdict)
        };
        match verdict {
            Verdict::Allow => {}
            Verdict::Refuse(why) => return Err(format!("{fingerprint}: {why}")),
            Verdict::Ask(through) => self
                .confirmer
                .ask(&fingerprint, &comment, what, peer, &through)
                .await
                .map_err(|why| format!("confirmation for {fingerprint}: {why}"))?,
        }
        // The user may have locked the agent while the question was open.
        if self.is_locked() {
            return Err("the agent is locked".into());
        }
        self.keys()
            .get(blob)
            .ok_or_else(|| format!("{fingerprint} was removed or expired while being confirmed"))
    }

    async fn ssh_sign(
        &self,
        blob: &[u8],
        data: Vec<u8>,
        flags: u32,
        peer: &Peer,
        route: &Route,
    ) -> Result<Response, Refusal> {
        // SHA-1 `ssh-rsa` signatures (flags 0) are refused: OpenSSH itself disabled them by
        // default in 8.8, and every client that talks to this agent can ask for SHA-2.
        // Both flags (6): rsa-sha2-256, as ssh-agent.c's agent_signflags_to_alg checks it first.
        let hash = if flags & SIGN_RSA_SHA2_256 != 0 {
            SshHash::Sha256
        } else if flags & SIGN_RSA_SHA2_512 != 0 {
            SshHash::Sha512
        } else {
            return Err(format!(
                "ssh-rsa (SHA-1) signatures are not offered (flags {flags})"
            ));
        };
        let usage = Use::Ssh {
            data: &data,
            key_blob: blob,
        };
        let what = format!("to sign for SSH ({})", hash.algorithm());
        let entry = self.key_for_use(blob, peer, route, usage, &what).await?;
        let signature = backend::sign_ssh(&entry.signer, hash, data)
            .await
            .map_err(|e| format!("signing failed: {e}"))?;
        let origin = entry.signer.origin();
        self.log.signature(
            hash.algorithm(),
            &entry.fingerprint,
            &origin,
            0,
            peer,
            &route.describe(),
        );
        Ok(Response::Sign {
            signature: proto::message::ssh_signature_blob(hash.algorithm(), &signature),
        })
    }

    async fn token_sign(
        &self,
        req: TokenSignRequest,
        peer: &Peer,
        route: &Route,
    ) -> Result<Response, Refusal> {
        let count = req.tokens.len();
        let what = match count {
            1 => "to sign 1 CloudHSM token".to_owned(),
            n => format!("to sign {n} CloudHSM tokens"),
        };
        let entry = self
            .key_for_use(&req.key_blob, peer, route, Use::Token, &what)
            .await?;
        let signatures = backend::sign_tokens(&entry.signer, req.tokens)
            .await
            .map_err(|e| format!("signing failed: {e}"))?;
        let origin = entry.signer.origin();
        self.log.signature(
            "token",
            &entry.fingerprint,
            &origin,
            count,
            peer,
            &route.describe(),
        );
        Ok(Response::TokenSign(signatures))
    }
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
        Request::UnknownExtension { .. } => "unknown-extension",
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
