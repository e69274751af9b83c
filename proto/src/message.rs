//! ssh-agent messages (RFC 9987, formerly draft-miller-ssh-agent) and our extensions, one enum
//! per direction: what a client asks here, what the agent answers in `response`.
//!
//! `decode` takes a frame body (no length header) and consumes all of it; an unknown message
//! id is [`Error::Unsupported`], never a panic.

use zeroize::Zeroizing;

use crate::cert::SSH_RSA_CERT;
use crate::constraint::{
    decode_constraint, decode_smartcard_constraint, encode_constraint, encode_key_filter,
    encode_token, SmartcardConstraint,
};
pub use crate::constraint::{Constraint, KeyFilter, PKCS11_KEY_CONSTRAINT};
use crate::extensions::{decode_token_sign, encode_token_sign};
pub use crate::extensions::{
    TokenSignRequest, APPROVALS_EXTENSION, APPROVE_EXTENSION, CARD_LOADED_EXTENSION,
    KEY_PURPOSES_EXTENSION, LOCKED_MARK, LOG_HEAD_EXTENSION, NO_ASKPASS_MARK,
    PROVIDER_ENV_EXTENSION, QUERY_EXTENSION, TOKEN_SIGN_EXTENSION, WHY_EXTENSION,
};
use crate::forwarding::{SessionBind, SESSION_BIND_EXTENSION};
use crate::key::{RsaKeyMaterial, SSH_RSA};
pub use crate::response::{Identity, Response};
pub use crate::signing::ssh_signature_blob;
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// Message ids of RFC 9987 section 5.1.
pub use crate::ids as id;

/// Sign-request flags for RSA keys (RFC 9987 section 3.6.1).
pub const SIGN_RSA_SHA2_256: u32 = 2;
pub const SIGN_RSA_SHA2_512: u32 = 4;

/// What a client asks of the agent.
#[derive(Debug)]
pub enum Request {
    RequestIdentities,
    Sign {
        key_blob: Vec<u8>,
        data: Vec<u8>,
        flags: u32,
    },
    AddIdentity {
        key: RsaKeyMaterial,
        comment: String,
        constraints: Vec<Constraint>,
    },
    RemoveIdentity {
        key_blob: Vec<u8>,
    },
    RemoveAllIdentities,
    Lock {
        passphrase: Zeroizing<Vec<u8>>,
    },
    Unlock {
        passphrase: Zeroizing<Vec<u8>>,
    },
    /// Load the RSA keys of a PKCS#11 provider's tokens (RFC 9987 section 3.2.8; message
    /// 26 when constrained).
    AddSmartcardKey {
        provider: String,
        pin: Zeroizing<Vec<u8>>,
        constraints: Vec<Constraint>,
        /// Our [`PKCS11_KEY_CONSTRAINT`]: only this key.
        key: Option<KeyFilter>,
        /// Our [`crate::pkcs11::TOKEN_CONSTRAINT`]s: only the tokens with these labels.
        tokens: Vec<String>,
    },
    /// Forget the keys loaded from a provider.
    RemoveSmartcardKey {
        provider: String,
        pin: Zeroizing<Vec<u8>>,
    },
    /// The `query` extension.
    Query,
    /// OpenSSH's `session-bind@openssh.com`: bind this connection to an SSH session.
    SessionBind(SessionBind),
    /// Our token-signing extension.
    TokenSign(TokenSignRequest),
    /// Our extension: each key's purpose.
    KeyPurposes,
    /// Our extension: why the last request on this connection was refused.
    Why,
    /// Our extension: the last chain mark of the agent's log.
    LogHead,
    /// Our extension: what the last add-smartcard-key on this connection loaded.
    CardLoaded,
    /// Our extension: the provider variables (`SOFTHSM2_CONF`, ...) the agent has set.
    ProviderEnv,
    /// Our extensions: the confirmations waiting for `mfa-add --approve`, and its answer.
    Approvals,
    Approve {
        id: u32,
        yes: bool,
    },
    /// An extension we do not implement; the agent answers FAILURE.
    UnknownExtension {
        name: String,
    },
}

impl Request {
    pub fn message_id(&self) -> u8 {
        match self {
            Request::RequestIdentities => id::REQUEST_IDENTITIES,
            Request::Sign { .. } => id::SIGN_REQUEST,
            Request::AddIdentity { constraints, .. } if constraints.is_empty() => id::ADD_IDENTITY,
            Request::AddIdentity { .. } => id::ADD_ID_CONSTRAINED,
            Request::RemoveIdentity { .. } => id::REMOVE_IDENTITY,
            Request::RemoveAllIdentities => id::REMOVE_ALL_IDENTITIES,
            Request::AddSmartcardKey {
                constraints,
                key,
                tokens,
                ..
            } if constraints.is_empty() && key.is_none() && tokens.is_empty() => {
                id::ADD_SMARTCARD_KEY
            }
            Request::AddSmartcardKey { .. } => id::ADD_SMARTCARD_KEY_CONSTRAINED,
            Request::RemoveSmartcardKey { .. } => id::REMOVE_SMARTCARD_KEY,
            Request::Lock { .. } => id::LOCK,
            Request::Unlock { .. } => id::UNLOCK,
            Request::Query
            | Request::SessionBind(_)
            | Request::TokenSign(_)
            | Request::KeyPurposes
            | Request::Why
            | Request::LogHead
            | Request::CardLoaded
            | Request::ProviderEnv
            | Request::Approvals
            | Request::Approve { .. }
            | Request::UnknownExtension { .. } => id::EXTENSION,
        }
    }

    /// Decodes a frame body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let message_id = r.u8()?;
        let request = match message_id {
            id::REQUEST_IDENTITIES => Request::RequestIdentities,
            id::SIGN_REQUEST => Request::Sign {
                key_blob: r.string()?.to_vec(),
                data: r.string()?.to_vec(),
                flags: r.u32()?,
            },
            id::ADD_IDENTITY | id::ADD_ID_CONSTRAINED => {
                let key = match r.utf8()? {
                    SSH_RSA => RsaKeyMaterial::decode(&mut r)?,
                    SSH_RSA_CERT => RsaKeyMaterial::decode_certified(&mut r)?,
                    other => return Err(Error::NotRsa(other.to_owned())),
                };
                let comment = String::from_utf8_lossy(r.string()?).into_owned();
                let mut constraints = Vec::new();
                if message_id == id::ADD_ID_CONSTRAINED {
                    while !r.is_empty() {
                        constraints.push(decode_constraint(&mut r)?);
                    }
                }
                Request::AddIdentity {
                    key,
                    comment,
                    constraints,
                }
            }
            id::REMOVE_IDENTITY => Request::RemoveIdentity {
                key_blob: r.string()?.to_vec(),
            },
            id::REMOVE_ALL_IDENTITIES => Request::RemoveAllIdentities,
            id::ADD_SMARTCARD_KEY | id::ADD_SMARTCARD_KEY_CONSTRAINED => {
                let provider = r.utf8()?.to_owned();
                let pin = Zeroizing::new(r.string()?.to_vec());
                let mut constraints = Vec::new();
                let mut key = None;
                let mut tokens = Vec::new();
                if message_id == id::ADD_SMARTCARD_KEY_CONSTRAINED {
                    while !r.is_empty() {
                        match decode_smartcard_constraint(&mut r)? {
                            SmartcardConstraint::Key(filter) => key = Some(filter),
                            SmartcardConstraint::Token(label) => tokens.push(label),
                            SmartcardConstraint::Plain(c) => constraints.push(c),
                        }
                    }
                }
                Request::AddSmartcardKey {
                    provider,
                    pin,
                    constraints,
                    key,
                    tokens,
                }
            }
            id::REMOVE_SMARTCARD_KEY => Request::RemoveSmartcardKey {
                provider: r.utf8()?.to_owned(),
                pin: Zeroizing::new(r.string()?.to_vec()),
            },
            id::LOCK => Request::Lock {
                passphrase: Zeroizing::new(r.string()?.to_vec()),
            },
            id::UNLOCK => Request::Unlock {
                passphrase: Zeroizing::new(r.string()?.to_vec()),
            },
            id::EXTENSION => {
                let name = r.utf8()?;
                match name {
                    QUERY_EXTENSION => Request::Query,
                    SESSION_BIND_EXTENSION => Request::SessionBind(SessionBind::decode(&mut r)?),
                    TOKEN_SIGN_EXTENSION => Request::TokenSign(decode_token_sign(&mut r)?),
                    KEY_PURPOSES_EXTENSION => Request::KeyPurposes,
                    WHY_EXTENSION => Request::Why,
                    LOG_HEAD_EXTENSION => Request::LogHead,
                    CARD_LOADED_EXTENSION => Request::CardLoaded,
                    PROVIDER_ENV_EXTENSION => Request::ProviderEnv,
                    APPROVALS_EXTENSION => Request::Approvals,
                    APPROVE_EXTENSION => Request::Approve {
                        id: r.u32()?,
                        yes: r.u8()? != 0,
                    },
                    other => {
                        // The contents of an unknown extension have no shape we can check.
                        return Ok(Request::UnknownExtension {
                            name: other.to_owned(),
                        });
                    }
                }
            }
            other => return Err(Error::Unsupported { id: other }),
        };
        r.finish()?;
        Ok(request)
    }

    /// Encodes the frame body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.message_id());
        match self {
            Request::RequestIdentities | Request::RemoveAllIdentities => {}
            Request::Sign {
                key_blob,
                data,
                flags,
            } => {
                w.string(key_blob).string(data).u32(*flags);
            }
            Request::AddIdentity {
                key,
                comment,
                constraints,
            } => {
                key.encode(&mut w);
                w.string(comment.as_bytes());
                for c in constraints {
                    encode_constraint(&mut w, c);
                }
            }
            Request::RemoveIdentity { key_blob } => {
                w.string(key_blob);
            }
            Request::AddSmartcardKey {
                provider,
                pin,
                constraints,
                key,
                tokens,
            } => {
                w.string(provider.as_bytes()).string(pin);
                for c in constraints {
                    encode_constraint(&mut w, c);
                }
                if let Some(filter) = key {
                    encode_key_filter(&mut w, filter);
                }
                for label in tokens {
                    encode_token(&mut w, label);
                }
            }
            Request::RemoveSmartcardKey { provider, pin } => {
                w.string(provider.as_bytes()).string(pin);
            }
            Request::Lock { passphrase } | Request::Unlock { passphrase } => {
                w.string(passphrase);
            }
            Request::Query => {
                w.string(QUERY_EXTENSION.as_bytes());
            }
            Request::SessionBind(bind) => {
                w.string(SESSION_BIND_EXTENSION.as_bytes());
                bind.encode(&mut w);
            }
            Request::TokenSign(req) => encode_token_sign(&mut w, req),
            Request::KeyPurposes
            | Request::Why
            | Request::LogHead
            | Request::CardLoaded
            | Request::ProviderEnv
            | Request::Approvals => {
                w.string(named(self).as_bytes());
            }
            Request::Approve { id, yes } => {
                w.string(APPROVE_EXTENSION.as_bytes())
                    .u32(*id)
                    .u8(u8::from(*yes));
            }
            Request::UnknownExtension { name } => {
                w.string(name.as_bytes());
            }
        }
        w.into_vec()
    }
}

/// The name of an extension request that carries nothing more.
fn named(request: &Request) -> &'static str {
    match request {
        Request::KeyPurposes => KEY_PURPOSES_EXTENSION,
        Request::Why => WHY_EXTENSION,
        Request::LogHead => LOG_HEAD_EXTENSION,
        Request::CardLoaded => CARD_LOADED_EXTENSION,
        Request::ProviderEnv => PROVIDER_ENV_EXTENSION,
        Request::Approvals => APPROVALS_EXTENSION,
        _ => QUERY_EXTENSION,
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
