//! Signing requests: an SSH signature (`rsa-sha2-256/512`) and the CloudHSM token-sign
//! extension, each after the key's use is allowed (forwarding, destinations, confirm-on-use).

use std::sync::Arc;

use proto::message::{Response, TokenSignRequest, SIGN_RSA_SHA2_256, SIGN_RSA_SHA2_512};

use super::{Agent, Refusal};
use crate::backend::{self, SshHash};
use crate::server::forwarding::{decide, Use, Verdict};
use crate::server::keys::KeyEntry;
use crate::server::route::Route;
use crate::sys::Peer;

impl Agent {
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
        let (fingerprint, comment, verdict, confirm_for) = {
            let entry = self.keys().get(blob).ok_or_else(|| {
                Refusal::NoKey(format!("no key {}", proto::key::fingerprint(blob)))
            })?;
            let verdict = decide(&entry.policy, entry.confirm, route, usage);
            let fingerprint = entry.fingerprint.clone();
            (
                fingerprint,
                entry.comment.clone(),
                verdict,
                entry.policy.confirm_for,
            )
        };
        // A yes stands for `--confirm-for`, for requests from this machine only.
        let kind = match usage {
            Use::Token => "token",
            Use::Ssh { .. } | Use::See => "ssh",
        };
        let cached = confirm_for.filter(|_| !route.is_forwarded());
        match verdict {
            Verdict::Allow => {}
            Verdict::Refuse(why) => return Err(why.about(&fingerprint)),
            Verdict::Ask(_)
                if cached.is_some() && self.confirmer.approved_recently(&fingerprint, kind) => {}
            Verdict::Ask(through) => {
                self.confirmer
                    .ask(&fingerprint, &comment, what, peer, &through)
                    .await
                    .map_err(|why| {
                        Refusal::Confirmation(format!("confirmation for {fingerprint}: {why}"))
                    })?;
                if let Some(secs) = cached {
                    self.confirmer.remember(&fingerprint, kind, secs);
                }
            }
        }
        // The user may have locked the agent while the question was open.
        if self.is_locked() {
            return Err(Refusal::Locked);
        }
        self.keys().get(blob).ok_or_else(|| {
            Refusal::NoKey(format!(
                "{fingerprint} was removed or expired while being confirmed"
            ))
        })
    }

    /// `ssh`: an SSH signature, SHA-2 only.
    pub(super) async fn ssh_sign(
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
            return Err(Refusal::Request(format!(
                "ssh-rsa (SHA-1) signatures are not offered (flags {flags})"
            )));
        };
        let usage = Use::Ssh {
            data: &data,
            key_blob: blob,
        };
        let what = format!("to sign for SSH ({})", hash.algorithm());
        let entry = self.key_for_use(blob, peer, route, usage, &what).await?;
        let signature = backend::sign_ssh(&entry.signer, hash, data)
            .await
            .map_err(|e| Refusal::signing(e, entry.signer.as_ref()))?;
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

    /// `cloudhsm-token-sign@cloudhsm-mfa`: one signature per token.
    pub(super) async fn token_sign(
        &self,
        req: TokenSignRequest,
        peer: &Peer,
        route: &Route,
    ) -> Result<Response, Refusal> {
        let count = req.tokens.len();
        // What the client says the signatures are for: shown and logged as its claim.
        let claimed = if req.about.is_empty() {
            String::new()
        } else {
            format!(" for {} (as the client says)", req.about)
        };
        let what = format!(
            "to sign {}{claimed}",
            client::report::count(count, "CloudHSM token")
        );
        let entry = self
            .key_for_use(&req.key_blob, peer, route, Use::Token, &what)
            .await?;
        let signatures = backend::sign_tokens(&entry.signer, req.tokens)
            .await
            .map_err(|e| Refusal::signing(e, entry.signer.as_ref()))?;
        let origin = entry.signer.origin();
        let mut through = route.describe();
        if !req.about.is_empty() {
            through.push_str(&format!(" for={:?}", req.about));
        }
        self.log
            .signature("token", &entry.fingerprint, &origin, count, peer, &through);
        Ok(Response::TokenSign(signatures))
    }
}
