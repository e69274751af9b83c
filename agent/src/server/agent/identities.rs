//! Adding, listing and removing the agent's keys (`ssh-add`, `-l`, `-d`, `-D`), and the
//! constraints an add carries (purpose, lifetime, confirm, forwarding and destinations); each
//! key's purpose for the tools that sign tokens.

use std::sync::Arc;

use proto::key::RsaKeyMaterial;
use proto::message::{Constraint, Response};
use rsa::RsaPublicKey;
use tokio::task::spawn_blocking;

use super::{Agent, Refusal};
use crate::backend::SoftwareKey;
use crate::server::forwarding::{decide, token_usable, Use, UsePolicy, Verdict};
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

    /// Each key this connection may see or sign tokens with, with its purpose (our
    /// `key-purposes` extension): a destination-constrained token key at the last hop is
    /// named here though OpenSSH's rule keeps it out of the identities.
    pub(super) fn key_purposes(&self, route: &Route) -> Result<Response, Refusal> {
        Ok(Response::KeyPurposes(self.keys().purposes_where(|e| {
            decide(&e.policy, false, route, Use::See) == Verdict::Allow
                || token_usable(&e.policy, route)
        })))
    }

    /// `ssh-add`, `mfa-add`: a software key or an RSA certificate with its key (ssh-add sends
    /// a key's `-cert.pub` as a second add), with its constraints. A certificate is held as
    /// its own entry beside its key, as ssh-agent does, and signs SSH requests only: CloudHSM
    /// registers plain RSA keys.
    pub(super) async fn add_identity(
        &self,
        key: RsaKeyMaterial,
        comment: String,
        constraints: Vec<Constraint>,
        peer: &Peer,
        route: &Route,
    ) -> Result<Response, Refusal> {
        let certificate = key.certificate().map(<[u8]>::to_vec);
        // Building and checking the key is RSA work: off the async threads.
        let (key, public) = spawn_blocking(move || SoftwareKey::from_material(&key))
            .await
            .map_err(|e| format!("key check failed: {e}"))??;
        let blob = certificate
            .clone()
            .unwrap_or_else(|| proto::key::public_key_blob(&public));
        let (lifetime, confirm, policy) = self.constraints(&blob, constraints);
        if certificate.is_some() {
            self.certificate_allowed(&public, &policy)?;
        }
        let mut entry = KeyEntry::new(Arc::new(key), &public, comment, lifetime, confirm);
        let kind = match certificate {
            Some(certificate) => {
                entry = entry.certified(certificate);
                "certificate of "
            }
            None => "",
        };
        self.log_added(
            &format!("{kind}{} {:?}", entry.fingerprint, entry.comment),
            (lifetime, confirm, &policy),
            peer,
            route,
        );
        let for_tokens_only = !policy.purpose.ssh;
        entry.policy = policy;
        let fingerprint = entry.fingerprint.clone();
        let mut keys = self.keys();
        keys.add(entry);
        // A key now for tokens only keeps no certificate that would sign SSH requests with it.
        if kind.is_empty() && for_tokens_only && keys.remove_certificates_of(&blob) > 0 {
            drop(keys);
            self.log.audit(&format!(
                "removed the certificates of {fingerprint}: the key is for CloudHSM tokens only"
            ));
        }
        Ok(Response::Success)
    }

    /// The audit line of an added key (`what`: its fingerprint and name) with its constraints.
    pub(super) fn log_added(
        &self,
        what: &str,
        (lifetime, confirm, policy): (Option<u32>, bool, &UsePolicy),
        peer: &Peer,
        route: &Route,
    ) {
        self.log.audit(&format!(
            "added {what} purpose={} lifetime={} confirm={confirm} forwarded={} destinations={} by {} {}",
            policy.purpose,
            lifetime.map_or_else(|| "forever".to_owned(), |s| format!("{s}s")),
            policy.forwarded.as_str(),
            policy.destinations.len(),
            peer.describe(),
            route.describe()
        ));
    }

    /// A certificate signs SSH requests as its key does: never CloudHSM tokens (CloudHSM
    /// registers plain RSA keys), and not at all for a key held for tokens only (an MFA key
    /// added by mfa-add must not log in over ssh through its certificate).
    fn certificate_allowed(
        &self,
        public: &RsaPublicKey,
        policy: &UsePolicy,
    ) -> Result<(), Refusal> {
        if policy.purpose.token {
            return Err(Refusal::Purpose(
                "a certificate signs SSH requests only: CloudHSM tokens need the plain RSA key \
                 (mfa-add KEY)"
                    .to_owned(),
            ));
        }
        let key = self.keys().get(&proto::key::public_key_blob(public));
        if key.is_some_and(|k| !k.policy.purpose.ssh) {
            return Err(Refusal::Purpose(
                "its key is held for CloudHSM tokens only (purpose token): a certificate would \
                 make it sign SSH requests"
                    .to_owned(),
            ));
        }
        Ok(())
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
            .filter(|e| decide(&e.policy, false, route, Use::See) == Verdict::Allow);
        if let Some(entry) = visible.filter(|_| self.keys().remove(key_blob)) {
            let kind = if proto::cert::is_certificate(key_blob) {
                "certificate of "
            } else {
                ""
            };
            self.log.audit(&format!(
                "removed {kind}{} by {}",
                entry.fingerprint,
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
