//! Keys on PKCS#11 tokens (`ssh-add -s`, `-e`): the `-P` allowlist checked here, then the
//! provider's helper process (started on its first add) loads the keys; removing them ends
//! the helper.

use std::sync::Arc;

use proto::message::{Constraint, KeyFilter, Response};
use proto::pkcs11::{HelperRequest, HelperResponse, Pkcs11Cause};
use tokio::task::spawn_blocking;
use zeroize::Zeroizing;

use super::{Agent, CardLoaded, Refusal};
use crate::backend::pkcs11::{TokenFailure, TokenKey, LOAD_TIMEOUT};
use crate::backend::{provider_allowed, KeyBackend};
use crate::server::forwarding::may_load_provider;
use crate::server::keys::KeyEntry;
use crate::server::route::Route;
use crate::sys::Peer;

/// An add-smartcard-key request's contents.
pub(crate) struct SmartcardAdd {
    pub(crate) provider: String,
    pub(crate) pin: Zeroizing<Vec<u8>>,
    pub(crate) constraints: Vec<Constraint>,
    pub(crate) filter: Option<KeyFilter>,
    /// `token@cloudhsm-mfa`: only these tokens (all when empty).
    pub(crate) tokens: Vec<String>,
}

fn refusal(failure: TokenFailure, provider: &std::path::Path) -> Refusal {
    Refusal::Pkcs11 {
        cause: failure.cause,
        text: failure.text,
        provider: provider.display().to_string(),
    }
}

impl Agent {
    /// `ssh-add -s` / `mfa-add -s`: load the RSA keys of a PKCS#11 provider's tokens through
    /// its helper, if the allowlist lets the provider's real path in. Only a local connection
    /// may load one (see `forwarding::may_load_provider`).
    pub(super) async fn add_smartcard(
        self: &Arc<Self>,
        add: SmartcardAdd,
        peer: &Peer,
        route: &Route,
    ) -> Result<(Response, CardLoaded), Refusal> {
        may_load_provider(route).map_err(Refusal::Forwarding)?;
        let provider = &add.provider;
        let real = std::fs::canonicalize(provider).map_err(|e| Refusal::Pkcs11 {
            cause: Pkcs11Cause::ProviderLoadFailed,
            text: format!("provider {provider}: {e}"),
            provider: provider.clone(),
        })?;
        if !provider_allowed(&self.provider_allowlist, &real.to_string_lossy()) {
            return Err(refusal(
                TokenFailure::new(
                    Pkcs11Cause::ProviderNotAllowed,
                    format!(
                        "provider {} is not in the allowlist {:?} (mfa-agent -P)",
                        real.display(),
                        self.provider_allowlist
                    ),
                ),
                &real,
            ));
        }
        let helper = self
            .helpers
            .get_or_start(&real)
            .map_err(|f| refusal(f, &real))?;
        let request = HelperRequest::Load {
            // ssh-add sends an empty PIN for a token that needs none.
            pin: (!add.pin.is_empty()).then(|| add.pin.clone()),
            tokens: add.tokens.clone(),
            filter: add.filter.clone(),
        };
        let calling = Arc::clone(&helper);
        let reply = spawn_blocking(move || calling.call(&request, LOAD_TIMEOUT))
            .await
            .map_err(|e| Refusal::Request(format!("loading the provider failed: {e}")))?
            .map_err(|f| refusal(f, &real))?;
        let (keys, skipped) = match reply {
            HelperResponse::Loaded { keys, skipped } => (keys, skipped),
            HelperResponse::Failed { cause, text } => {
                return Err(refusal(TokenFailure::new(cause, text), &real))
            }
            HelperResponse::Signature(_) => {
                helper.end();
                return Err(refusal(
                    TokenFailure::new(
                        Pkcs11Cause::HelperCrashed,
                        "the PKCS#11 helper answered a load with a signature",
                    ),
                    &real,
                ));
            }
        };
        let mut loaded = CardLoaded::default();
        for skip in skipped {
            self.log.info(&format!(
                "skipped token {:?} of provider {}: {}",
                skip.token,
                real.display(),
                skip.text
            ));
            loaded
                .skipped
                .push(format!("{}: {}", skip.token, skip.text));
        }
        for info in keys {
            let Ok(public) = proto::key::parse_public_key_blob(&info.blob) else {
                continue;
            };
            let comment = info.comment();
            let (lifetime, confirm, policy) = self.constraints(&info.blob, add.constraints.clone());
            let signer = TokenKey::new(Arc::clone(&helper), info);
            let origin = signer.origin();
            let mut entry = KeyEntry::new(
                Arc::new(signer),
                &public,
                comment.clone(),
                lifetime,
                confirm,
            );
            self.log_added(
                &format!("{} ({origin})", entry.fingerprint),
                (lifetime, confirm, &policy),
                peer,
                route,
            );
            entry.policy = policy;
            self.keys().add(entry);
            loaded.keys.push(comment);
        }
        self.log.audit(&format!(
            "loaded {} of provider {} (helper pid {})",
            client::report::count(loaded.keys.len(), "key"),
            real.display(),
            helper.pid()
        ));
        Ok((Response::Success, loaded))
    }

    /// `ssh-add -e`: every key loaded from `provider`, and its helper process.
    pub(super) fn remove_smartcard(
        &self,
        provider: &str,
        peer: &Peer,
    ) -> Result<Response, Refusal> {
        let real =
            std::fs::canonicalize(provider).map_err(|e| format!("provider {provider}: {e}"))?;
        let n = self.keys().remove_provider(&real);
        self.helpers.end(&real);
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
