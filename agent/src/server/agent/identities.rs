//! Adding, listing and removing the agent's keys (`ssh-add`, `-l`, `-d`, `-D`), and the
//! constraints an add carries (purpose, lifetime, confirm, forwarding and destinations); each
//! key's purpose for the tools that sign tokens.

use std::sync::Arc;

use proto::key::RsaKeyMaterial;
use proto::message::{Constraint, Response};
use tokio::task::spawn_blocking;

use super::{Agent, Refusal};
use crate::backend::SoftwareKey;
use crate::server::forwarding::{decide, Use, UsePolicy, Verdict};
use crate::server::keys::KeyEntry;
use crate::server::route::Route;
use crate::sys::Peer;

impl Agent {
    /// The keys this connection may see.
    pub(super) fn identities(&self, route: &Route) -> Result<Response, Refusal> {
        Ok(Response::Identities(self.keys().identities_where(|e| {
            decide(&e.policy, false, route, Use::See) == Verdict::Allow
        })))
    }

    /// Each key this connection may see, with its purpose (our `key-purposes` extension).
    pub(super) fn key_purposes(&self, route: &Route) -> Result<Response, Refusal> {
        Ok(Response::KeyPurposes(self.keys().purposes_where(|e| {
            decide(&e.policy, false, route, Use::See) == Verdict::Allow
        })))
    }

    /// `ssh-add`, `mfa-add`: a software key, with its constraints.
    pub(super) async fn add_identity(
        &self,
        key: RsaKeyMaterial,
        comment: String,
        constraints: Vec<Constraint>,
        peer: &Peer,
        route: &Route,
    ) -> Result<Response, Refusal> {
        // Building and checking the key is RSA work: off the async threads.
        let (key, public) = spawn_blocking(move || SoftwareKey::from_material(&key))
            .await
            .map_err(|e| format!("key check failed: {e}"))??;
        let blob = proto::key::public_key_blob(&public);
        let (lifetime, confirm, policy) = self.constraints(&blob, constraints);
        let mut entry = KeyEntry::new(Arc::new(key), &public, comment, lifetime, confirm);
        self.log.audit(&format!(
            "added {} {:?} purpose={} lifetime={} confirm={} forwarded={} destinations={} by {} {}",
            entry.fingerprint,
            entry.comment,
            policy.purpose,
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

    /// `ssh-add -d`: one key, if this connection may see it (OpenSSH).
    pub(super) fn remove_identity(
        &self,
        key_blob: &[u8],
        peer: &Peer,
        route: &Route,
    ) -> Result<Response, Refusal> {
        let visible = self
            .keys()
            .get(key_blob)
            .is_some_and(|e| decide(&e.policy, false, route, Use::See) == Verdict::Allow);
        if visible && self.keys().remove(key_blob) {
            self.log.audit(&format!(
                "removed {} by {}",
                proto::key::fingerprint(key_blob),
                peer.describe()
            ));
            Ok(Response::Success)
        } else {
            Err(Refusal::NoKey("no such key".to_owned()))
        }
    }

    /// `ssh-add -D`: every key.
    pub(super) fn remove_all(&self, peer: &Peer) -> Result<Response, Refusal> {
        let n = self.keys().clear();
        self.helpers.end_all();
        self.log.audit(&format!(
            "removed all {} by {}",
            client::report::count(n, "key"),
            peer.describe()
        ));
        Ok(Response::Success)
    }

    /// The lifetime (else the default), confirm flag and use policy of an add's constraints
    /// for the key with `blob`. Without a purpose constraint (ssh-add), a key the agent holds
    /// keeps the purpose it has (`ssh-add -h HOST` after `mfa-add` keeps a token key for
    /// tokens), and a new key is an SSH key.
    pub(super) fn constraints(
        &self,
        blob: &[u8],
        constraints: Vec<Constraint>,
    ) -> (Option<u32>, bool, UsePolicy) {
        let mut lifetime = None;
        let mut confirm = false;
        let mut policy = UsePolicy::default();
        if let Some(held) = self.keys().get(blob) {
            policy.purpose = held.policy.purpose;
        }
        for c in constraints {
            match c {
                Constraint::Lifetime(secs) => lifetime = Some(secs),
                Constraint::Confirm => confirm = true,
                Constraint::Forwarded(forwarded) => policy.forwarded = forwarded,
                Constraint::Destinations(d) => policy.destinations = d,
                Constraint::Purpose(purpose) => policy.purpose = purpose,
                Constraint::ConfirmFor(secs) => {
                    confirm = true;
                    policy.confirm_for = Some(secs);
                }
            }
        }
        (lifetime.or(self.default_lifetime), confirm, policy)
    }
}
