//! One connection to the agent and the typed requests mfa-add, mfa-login and mfa-sign make
//! over it (ssh-agent protocol, RFC 9987, plus the token-sign extension).

use proto::key::RsaKeyMaterial;
use proto::message::{Constraint, Identity, Request, Response, TokenSignRequest};
use proto::message::{LOCKED_MARK, NO_ASKPASS_MARK, TOKEN_SIGN_EXTENSION};
use proto::purpose::KeyPurposes;
use proto::signing::Token;
use zeroize::Zeroizing;

use crate::keys::{self, AgentKey};
use crate::{sys, Error, Result};

/// What answers on the agent's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    MfaAgent,
    /// mfa-agent, locked: it lists no keys and signs nothing until `mfa-add -X`.
    Locked,
    /// An agent without the token-sign extension: OpenSSH's ssh-agent, or another.
    NotMfaAgent,
}

/// A connection to the agent.
pub struct Connection {
    stream: sys::Stream,
}

impl Connection {
    pub(crate) fn new(stream: sys::Stream) -> Self {
        Connection { stream }
    }

    /// Why the agent refused the last request on this connection, when it says (mfa-agent
    /// does; other agents answer `why` with FAILURE).
    pub fn why(&mut self) -> Option<crate::error::Refusal> {
        match self.call(&Request::Why).ok()? {
            Response::Why {
                code,
                text,
                provider,
            } if !code.is_empty() => Some(crate::error::Refusal {
                code,
                text,
                provider,
            }),
            _ => None,
        }
    }

    /// The comments of the keys the last add-smartcard-key on this connection loaded, and the
    /// tokens it left out; `None` from an agent that does not tell.
    pub fn card_loaded(&mut self) -> Option<(Vec<String>, Vec<String>)> {
        match self.call(&Request::CardLoaded).ok()? {
            Response::CardLoaded { keys, skipped } => Some((keys, skipped)),
            _ => None,
        }
    }

    /// The provider variables (`SOFTHSM2_CONF`, ...) the agent has set; `None` from an agent
    /// that does not tell.
    pub fn provider_env(&mut self) -> Option<Vec<(String, String)>> {
        match self.call(&Request::ProviderEnv).ok()? {
            Response::ProviderEnv(vars) => Some(vars),
            _ => None,
        }
    }

    /// The last chain mark of the agent's log, when it says (mfa-agent does).
    pub fn log_head(&mut self) -> Option<String> {
        match self.call(&Request::LogHead).ok()? {
            Response::LogHead(head) => Some(head),
            _ => None,
        }
    }

    /// The pid of the agent's process, when the platform tells it.
    pub fn server_pid(&self) -> Option<u32> {
        sys::server_pid(&self.stream)
    }

    /// One request and its reply; the encoded request is wiped once sent.
    pub fn call(&mut self, request: &Request) -> Result<Response> {
        proto::client::call(&mut self.stream, request).map_err(Error::AgentIo)
    }

    /// Every key the agent lists, in its order.
    pub fn identities(&mut self) -> Result<Vec<Identity>> {
        match self.call(&Request::RequestIdentities)? {
            Response::Identities(ids) => Ok(ids),
            _ => Err(Error::Refused("list its keys".to_owned())),
        }
    }

    /// The RSA keys the agent holds, in its order; keys of other types are skipped.
    pub fn keys(&mut self) -> Result<Vec<AgentKey>> {
        Ok(self
            .identities()?
            .into_iter()
            .filter_map(AgentKey::from_identity)
            .collect())
    }

    /// The extensions the agent lists in its `query` reply; `None` when it does not answer
    /// `query` (OpenSSH's agent; mfa-agent answers it locked or not).
    pub fn extensions(&mut self) -> Result<Option<Vec<String>>> {
        match self.call(&Request::Query)? {
            Response::Query(names) => Ok(Some(names)),
            _ => Ok(None),
        }
    }

    /// True when the agent offers the token-sign extension.
    pub fn offers_token_signing(&mut self) -> Result<bool> {
        Ok(self
            .extensions()?
            .is_some_and(|names| names.iter().any(|n| n == TOKEN_SIGN_EXTENSION)))
    }

    /// What answers on the socket: mfa-agent, locked or not, or another agent.
    pub fn kind(&mut self) -> Result<AgentKind> {
        let names = self.extensions()?.unwrap_or_default();
        let has = |name: &str| names.iter().any(|n| n == name);
        Ok(if !has(TOKEN_SIGN_EXTENSION) {
            AgentKind::NotMfaAgent
        } else if has(LOCKED_MARK) {
            AgentKind::Locked
        } else {
            AgentKind::MfaAgent
        })
    }

    /// False when mfa-agent says it has no askpass program, so it could never confirm a use
    /// (`mfa-add -c`, `--forwarded confirm`).
    pub fn can_confirm(&mut self) -> Result<bool> {
        let names = self.extensions()?.unwrap_or_default();
        Ok(!names.iter().any(|n| n == NO_ASKPASS_MARK))
    }

    /// True when the agent is a locked mfa-agent.
    pub fn is_locked(&mut self) -> Result<bool> {
        Ok(self.kind()? == AgentKind::Locked)
    }

    /// Each listed key's blob and purpose; `None` from an agent that does not tell (a plain
    /// ssh-agent).
    pub fn purposes(&mut self) -> Result<Option<KeyPurposes>> {
        match self.call(&Request::KeyPurposes)? {
            Response::KeyPurposes(purposes) => Ok(Some(purposes)),
            _ => Ok(None),
        }
    }

    /// The RSA keys that may sign CloudHSM tokens (purpose `token`), in the agent's order:
    /// the keys mfa-login and mfa-sign choose among. A plain ssh-agent, a locked mfa-agent and
    /// one with SSH keys only are named as such, not as one without keys.
    pub fn token_keys(&mut self) -> Result<Vec<AgentKey>> {
        let Some(purposes) = self.purposes()? else {
            return Err(Error::PlainAgent);
        };
        let listed = self.keys()?;
        // In the agent's order. A key the agent lets sign tokens here but does not list (a
        // destination-constrained key on a hop it may not be used beyond: OpenSSH's rule for
        // the list) is known by its blob alone, without a comment.
        let token: Vec<AgentKey> = purposes
            .iter()
            .filter(|(_, purpose)| purpose.token)
            .filter_map(|(blob, _)| {
                listed
                    .iter()
                    .find(|k| k.blob == *blob)
                    .cloned()
                    .or_else(|| {
                        AgentKey::from_identity(Identity {
                            key_blob: blob.clone(),
                            comment: String::new(),
                        })
                    })
            })
            .collect();
        if !token.is_empty() {
            return Ok(token);
        }
        if !listed.is_empty() {
            return Err(Error::OnlySshKeys(listed.len()));
        }
        if self.is_locked()? {
            return Err(Error::Locked);
        }
        Ok(token)
    }

    /// The key to sign tokens with: among the [`Self::token_keys`], the one `selector` names,
    /// else the only one.
    pub fn choose_key(&mut self, selector: Option<&str>) -> Result<AgentKey> {
        keys::choose(self.token_keys()?, selector)
    }

    /// Signs the tokens with `key`, one signature per token, each checked against the key
    /// before it is used. `about` says what they are for (shown in a confirmation, logged).
    pub fn sign_tokens(
        &mut self,
        key: &AgentKey,
        tokens: &[Token],
        about: &str,
    ) -> Result<Vec<Vec<u8>>> {
        let request = Request::TokenSign(TokenSignRequest {
            key_blob: key.blob.clone(),
            tokens: tokens.to_vec(),
            about: about.to_owned(),
        });
        let signatures = match self.call(&request)? {
            Response::TokenSign(signatures) if signatures.len() == tokens.len() => signatures,
            _ => return Err(Error::SignRefused(self.why())),
        };
        let mut verifier = key.check().ok_or(Error::BadSignature)?;
        for (token, signature) in tokens.iter().zip(&signatures) {
            if !verifier.verifies(token, signature) {
                return Err(Error::BadSignature);
            }
        }
        Ok(signatures)
    }

    /// Adds a private key with its constraints.
    pub fn add(
        &mut self,
        key: RsaKeyMaterial,
        comment: &str,
        constraints: &[Constraint],
    ) -> Result<()> {
        let request = Request::AddIdentity {
            key,
            comment: comment.to_owned(),
            constraints: constraints.to_vec(),
        };
        self.expect_success(&request, "add the key (is the agent locked?)")
    }

    /// Removes the key with this public key blob.
    pub fn remove(&mut self, key_blob: Vec<u8>, shown: &str) -> Result<()> {
        self.expect_success(
            &Request::RemoveIdentity { key_blob },
            &format!("remove {shown} (the agent does not hold it)"),
        )
    }

    /// Removes every key.
    pub fn remove_all(&mut self) -> Result<()> {
        self.expect_success(&Request::RemoveAllIdentities, "remove all keys")
    }

    /// Locks the agent with a passphrase.
    pub fn lock(&mut self, passphrase: &[u8]) -> Result<()> {
        let passphrase = Zeroizing::new(passphrase.to_vec());
        self.expect_success(
            &Request::Lock { passphrase },
            "lock (is it already locked?)",
        )
    }

    /// Unlocks the agent.
    pub fn unlock(&mut self, passphrase: &[u8]) -> Result<()> {
        let passphrase = Zeroizing::new(passphrase.to_vec());
        self.expect_success(
            &Request::Unlock { passphrase },
            "unlock (wrong password, or it is not locked)",
        )
    }

    fn expect_success(&mut self, request: &Request, what: &str) -> Result<()> {
        match self.call(request)? {
            Response::Success => Ok(()),
            _ => Err(Error::Refused(what.to_owned())),
        }
    }
}
