//! Keys on PKCS#11 tokens (`ssh-add -s`, `-e`): loading a provider's keys when the `-P`
//! allowlist lets it in, and removing them.

use std::sync::Arc;

use proto::message::{Constraint, KeyFilter, Response};
use tokio::task::spawn_blocking;
use zeroize::Zeroizing;

use super::{Agent, Refusal};
use crate::backend::{provider_allowed, KeyBackend};
use crate::server::forwarding::may_load_provider;
use crate::server::keys::KeyEntry;
use crate::server::route::Route;
use crate::sys::Peer;

impl Agent {
    /// `ssh-add -s` / `mfa-add -s`: load the RSA keys of a PKCS#11 provider's tokens, if the
    /// allowlist lets the provider's real path in. Only a local connection may load one (see `forwarding::may_load_provider`).
    pub(super) async fn add_smartcard(
        self: &Arc<Self>,
        provider: String,
        pin: Zeroizing<Vec<u8>>,
        constraints: Vec<Constraint>,
        filter: Option<KeyFilter>,
        peer: &Peer,
        route: &Route,
    ) -> Result<Response, Refusal> {
        may_load_provider(route).map_err(Refusal::Forwarding)?;
        let real = std::fs::canonicalize(&provider)
            .map_err(|e| Refusal::Provider(format!("provider {provider}: {e}")))?;
        if !provider_allowed(&self.provider_allowlist, &real.to_string_lossy()) {
            return Err(Refusal::Provider(format!(
                "provider {} is not in the allowlist {:?} (mfa-agent -P)",
                real.display(),
                self.provider_allowlist
            )));
        }
        let pin = Zeroizing::new(String::from_utf8_lossy(&pin).into_owned());
        let agent = Arc::clone(self);
        let path = real.clone();
        let found = spawn_blocking(move || agent.providers.load_keys(&path, pin, filter.as_ref()))
            .await
            .map_err(|e| Refusal::Provider(format!("loading the provider failed: {e}")))?
            .map_err(|e| Refusal::Provider(e.to_string()))?;
        let count = found.len();
        for key in found {
            let blob = proto::key::public_key_blob(&key.public);
            let (lifetime, confirm, policy) = self.constraints(&blob, constraints.clone());
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
                "added {} ({origin}) purpose={} lifetime={} confirm={confirm} forwarded={} destinations={} by {}",
                entry.fingerprint,
                policy.purpose,
                lifetime.map_or_else(|| "forever".to_owned(), |s| format!("{s}s")),
                policy.forwarded.as_str(),
                policy.destinations.len(),
                peer.describe()
            ));
            entry.policy = policy;
            self.keys().add(entry);
        }
        self.log.audit(&format!(
            "loaded {count} keys of provider {}",
            real.display()
        ));
        Ok(Response::Success)
    }

    /// `ssh-add -e`: every key loaded from `provider`.
    pub(super) fn remove_smartcard(
        &self,
        provider: &str,
        peer: &Peer,
    ) -> Result<Response, Refusal> {
        let real =
            std::fs::canonicalize(provider).map_err(|e| format!("provider {provider}: {e}"))?;
        let n = self.keys().remove_provider(&real);
        if n == 0 {
            return Err(Refusal::NoKey(format!("no keys from provider {provider}")));
        }
        self.log.audit(&format!(
            "removed {n} keys of provider {} by {}",
            real.display(),
            peer.describe()
        ));
        Ok(Response::Success)
    }
}
