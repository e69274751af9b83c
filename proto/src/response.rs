//! What mfa-agent answers (RFC 9987 section 3 replies and our extensions' replies), one enum;
//! `decode` takes a frame body and consumes all of it.

use crate::extensions::{
    decode_approvals, decode_key_purposes, encode_approvals, encode_key_purposes,
};
use crate::extensions::{
    APPROVALS_EXTENSION, CARD_LOADED_EXTENSION, KEY_PURPOSES_EXTENSION, LOG_HEAD_EXTENSION,
    PROVIDER_ENV_EXTENSION, QUERY_EXTENSION, TOKEN_SIGN_EXTENSION, WHY_EXTENSION,
};
use crate::ids as id;
use crate::pkcs11::{read_strings, strings};
use crate::purpose::KeyPurposes;
use crate::tokenfile::check_count;
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// One identity in an identities answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub key_blob: Vec<u8>,
    pub comment: String,
}

/// What the agent answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Failure,
    Success,
    Identities(Vec<Identity>),
    /// An SSH signature blob: string algorithm, string signature.
    Sign {
        signature: Vec<u8>,
    },
    ExtensionFailure,
    /// The `query` reply: the names of the supported extensions.
    Query(Vec<String>),
    /// The token-signing reply: one signature per token, in request order.
    TokenSign(Vec<Vec<u8>>),
    /// Each listed key's blob and purpose, in the agent's order.
    KeyPurposes(KeyPurposes),
    /// The cause's name and words; empty when nothing was refused. `provider` names the
    /// PKCS#11 provider a token cause is about (sent only when not empty, so older answers
    /// still decode).
    Why {
        code: String,
        text: String,
        provider: String,
    },
    /// The comments of the keys the last add-smartcard-key loaded, and the tokens it left out
    /// (one line each).
    CardLoaded {
        keys: Vec<String>,
        skipped: Vec<String>,
    },
    /// The provider variables the agent has set: name and value.
    ProviderEnv(Vec<(String, String)>),
    /// The log's last chain mark; empty before its first line.
    LogHead(String),
    /// The waiting confirmations: id and question.
    Approvals(Vec<(u32, String)>),
}

impl Response {
    pub fn message_id(&self) -> u8 {
        match self {
            Response::Failure => id::FAILURE,
            Response::Success => id::SUCCESS,
            Response::Identities(_) => id::IDENTITIES_ANSWER,
            Response::Sign { .. } => id::SIGN_RESPONSE,
            Response::ExtensionFailure => id::EXTENSION_FAILURE,
            Response::Query(_)
            | Response::TokenSign(_)
            | Response::KeyPurposes(_)
            | Response::Why { .. }
            | Response::LogHead(_)
            | Response::CardLoaded { .. }
            | Response::ProviderEnv(_)
            | Response::Approvals(_) => id::EXTENSION_RESPONSE,
        }
    }

    /// Decodes a frame body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let response = match r.u8()? {
            id::FAILURE => Response::Failure,
            id::SUCCESS => Response::Success,
            id::EXTENSION_FAILURE => Response::ExtensionFailure,
            id::IDENTITIES_ANSWER => {
                let count = r.u32()? as usize;
                // Each identity takes at least 8 bytes, which bounds the allocation.
                let mut identities = Vec::with_capacity(count.min(body.len() / 8));
                for _ in 0..count {
                    identities.push(Identity {
                        key_blob: r.string()?.to_vec(),
                        comment: String::from_utf8_lossy(r.string()?).into_owned(),
                    });
                }
                Response::Identities(identities)
            }
            id::SIGN_RESPONSE => Response::Sign {
                signature: r.string()?.to_vec(),
            },
            id::EXTENSION_RESPONSE => match r.utf8()? {
                QUERY_EXTENSION => {
                    let mut names = Vec::new();
                    while !r.is_empty() {
                        names.push(r.utf8()?.to_owned());
                    }
                    Response::Query(names)
                }
                TOKEN_SIGN_EXTENSION => {
                    let count = r.u32()? as usize;
                    check_count(count)?;
                    let mut signatures = Vec::with_capacity(count);
                    for _ in 0..count {
                        signatures.push(r.string()?.to_vec());
                    }
                    Response::TokenSign(signatures)
                }
                KEY_PURPOSES_EXTENSION => Response::KeyPurposes(decode_key_purposes(&mut r)?),
                WHY_EXTENSION => Response::Why {
                    code: r.utf8()?.to_owned(),
                    text: r.utf8()?.to_owned(),
                    provider: if r.is_empty() {
                        String::new()
                    } else {
                        r.utf8()?.to_owned()
                    },
                },
                CARD_LOADED_EXTENSION => Response::CardLoaded {
                    keys: read_strings(&mut r)?,
                    skipped: read_strings(&mut r)?,
                },
                PROVIDER_ENV_EXTENSION => {
                    let names = read_strings(&mut r)?;
                    let values = read_strings(&mut r)?;
                    Response::ProviderEnv(names.into_iter().zip(values).collect())
                }
                LOG_HEAD_EXTENSION => Response::LogHead(r.utf8()?.to_owned()),
                APPROVALS_EXTENSION => Response::Approvals(decode_approvals(&mut r)?),
                _ => return Err(Error::UnexpectedResponse("reply to an unknown extension")),
            },
            other => return Err(Error::Unsupported { id: other }),
        };
        r.finish()?;
        Ok(response)
    }

    /// Encodes the frame body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.message_id());
        match self {
            Response::Failure | Response::Success | Response::ExtensionFailure => {}
            Response::Identities(identities) => {
                w.u32(identities.len() as u32);
                for identity in identities {
                    w.string(&identity.key_blob)
                        .string(identity.comment.as_bytes());
                }
            }
            Response::Sign { signature } => {
                w.string(signature);
            }
            Response::Query(names) => {
                w.string(QUERY_EXTENSION.as_bytes());
                for name in names {
                    w.string(name.as_bytes());
                }
            }
            Response::TokenSign(signatures) => {
                w.string(TOKEN_SIGN_EXTENSION.as_bytes())
                    .u32(signatures.len() as u32);
                for signature in signatures {
                    w.string(signature);
                }
            }
            Response::KeyPurposes(keys) => {
                w.string(KEY_PURPOSES_EXTENSION.as_bytes());
                encode_key_purposes(&mut w, keys);
            }
            Response::Why {
                code,
                text,
                provider,
            } => {
                w.string(WHY_EXTENSION.as_bytes())
                    .string(code.as_bytes())
                    .string(text.as_bytes());
                if !provider.is_empty() {
                    w.string(provider.as_bytes());
                }
            }
            Response::CardLoaded { keys, skipped } => {
                w.string(CARD_LOADED_EXTENSION.as_bytes());
                strings(&mut w, keys);
                strings(&mut w, skipped);
            }
            Response::ProviderEnv(vars) => {
                w.string(PROVIDER_ENV_EXTENSION.as_bytes());
                let (names, values): (Vec<String>, Vec<String>) = vars.iter().cloned().unzip();
                strings(&mut w, &names);
                strings(&mut w, &values);
            }
            Response::LogHead(head) => {
                w.string(LOG_HEAD_EXTENSION.as_bytes())
                    .string(head.as_bytes());
            }
            Response::Approvals(waiting) => encode_approvals(&mut w, waiting),
        }
        w.into_vec()
    }
}
