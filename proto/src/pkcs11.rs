//! PKCS#11 without I/O: why a provider or token failed ([`Pkcs11Cause`], shared by the agent's
//! refusals and its clients' hints), and the pipe protocol between mfa-agent and its helper
//! process (`mfa-agent --pkcs11-helper PROVIDER`, as OpenSSH's ssh-pkcs11-helper): one
//! request, one reply, each framed as an ssh-agent message (u32 length, body of at most
//! [`crate::wire::MAX_FRAME_LEN`]).

use zeroize::Zeroizing;

use crate::constraint::KeyFilter;
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// Why loading a provider's keys, or signing with one, failed. Its name ([`Self::as_str`]) is
/// the code of the agent's `why@cloudhsm-mfa` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkcs11Cause {
    /// The provider's real path does not match the agent's `-P` allowlist.
    ProviderNotAllowed,
    /// The file is not a library that can be loaded (dlopen fails): the same for every
    /// environment, so no PIN is asked for it.
    NotAProvider,
    /// The library was loaded but could not be initialised (often its environment: e.g.
    /// SoftHSM2 without its `SOFTHSM2_CONF`).
    ProviderLoadFailed,
    /// No (chosen) token is there.
    NoToken,
    /// The token refused the PIN (tried once, never again).
    PinIncorrect,
    /// The token's PIN is locked.
    PinLocked,
    /// The token went away (unplugged, reset, its library's state lost).
    TokenRemoved,
    /// The helper process died.
    HelperCrashed,
    /// The helper process did not answer in time and was ended.
    HelperTimeout,
    /// No RSA key on the chosen tokens (matching `--label`/`--id` if given).
    NoMatchingKey,
    /// Any other error the token reported.
    TokenFailed,
}

const CAUSES: [Pkcs11Cause; 11] = [
    Pkcs11Cause::ProviderNotAllowed,
    Pkcs11Cause::NotAProvider,
    Pkcs11Cause::ProviderLoadFailed,
    Pkcs11Cause::NoToken,
    Pkcs11Cause::PinIncorrect,
    Pkcs11Cause::PinLocked,
    Pkcs11Cause::TokenRemoved,
    Pkcs11Cause::HelperCrashed,
    Pkcs11Cause::HelperTimeout,
    Pkcs11Cause::NoMatchingKey,
    Pkcs11Cause::TokenFailed,
];

impl Pkcs11Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Pkcs11Cause::ProviderNotAllowed => "provider-not-allowed",
            Pkcs11Cause::NotAProvider => "not-a-provider",
            Pkcs11Cause::ProviderLoadFailed => "provider-load-failed",
            Pkcs11Cause::NoToken => "no-token",
            Pkcs11Cause::PinIncorrect => "pin-incorrect",
            Pkcs11Cause::PinLocked => "pin-locked",
            Pkcs11Cause::TokenRemoved => "token-removed",
            Pkcs11Cause::HelperCrashed => "helper-crashed",
            Pkcs11Cause::HelperTimeout => "helper-timeout",
            Pkcs11Cause::NoMatchingKey => "no-matching-key",
            Pkcs11Cause::TokenFailed => "token-failed",
        }
    }

    /// The cause a code names; `None` for a code that is not a PKCS#11 cause.
    pub fn parse(code: &str) -> Option<Pkcs11Cause> {
        CAUSES.into_iter().find(|c| c.as_str() == code)
    }

    /// True when the token (or the helper holding it) is gone: reload the provider.
    pub fn token_gone(self) -> bool {
        matches!(
            self,
            Pkcs11Cause::TokenRemoved | Pkcs11Cause::HelperCrashed | Pkcs11Cause::HelperTimeout
        )
    }
}

/// Our constraint extension on an add-smartcard-key request (`mfa-add -s P --token LABEL`):
/// load keys from the token with this label only; repeated, from any of these tokens.
pub const TOKEN_CONSTRAINT: &str = "token@cloudhsm-mfa";

/// What the agent asks its helper.
pub enum HelperRequest {
    /// Open the provider's tokens (only those named, if any), log in with `pin` where a token
    /// needs it, and list their RSA keys (only the one `filter` names, if given).
    Load {
        pin: Option<Zeroizing<Vec<u8>>>,
        tokens: Vec<String>,
        filter: Option<KeyFilter>,
    },
    /// Sign `data` (DigestInfo || digest) with `CKM_RSA_PKCS` and the key `key` of the load.
    Sign { key: u32, data: Vec<u8> },
}

impl std::fmt::Debug for HelperRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the PIN.
        match self {
            HelperRequest::Load { tokens, filter, .. } => f
                .debug_struct("Load")
                .field("tokens", tokens)
                .field("filter", filter)
                .finish_non_exhaustive(),
            HelperRequest::Sign { key, .. } => f
                .debug_struct("Sign")
                .field("key", key)
                .finish_non_exhaustive(),
        }
    }
}

/// One RSA key a load found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKeyInfo {
    /// What a sign request names it by.
    pub key: u32,
    /// The token's label, padding trimmed.
    pub token: String,
    /// `CKA_LABEL`, empty when the key has none.
    pub label: String,
    /// `CKA_ID`.
    pub id: Vec<u8>,
    /// The public key as an `ssh-rsa` blob.
    pub blob: Vec<u8>,
}

impl TokenKeyInfo {
    /// `TOKENLABEL/KEYLABEL`, the key label being the hex `CKA_ID` when it has no label: the
    /// comment the agent lists it with, which `--key` matches.
    pub fn comment(&self) -> String {
        let key = if self.label.is_empty() {
            hex(&self.id)
        } else {
            self.label.clone()
        };
        format!("{}/{key}", self.token)
    }
}

/// Lower-case hex, as `--id` takes an id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token left out of a load, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedToken {
    pub token: String,
    pub cause: Pkcs11Cause,
    pub text: String,
}

/// What the helper answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperResponse {
    Loaded {
        keys: Vec<TokenKeyInfo>,
        skipped: Vec<SkippedToken>,
    },
    Signature(Vec<u8>),
    Failed {
        cause: Pkcs11Cause,
        text: String,
    },
}

const LOAD: u8 = 1;
const SIGN: u8 = 2;
const LOADED: u8 = 101;
const SIGNATURE: u8 = 102;
const FAILED: u8 = 103;

impl HelperRequest {
    /// The frame body; wipe it once sent (a load carries the PIN).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        match self {
            HelperRequest::Load {
                pin,
                tokens,
                filter,
            } => {
                w.u8(LOAD);
                match pin {
                    Some(pin) => w.u8(1).string(pin),
                    None => w.u8(0),
                };
                strings(&mut w, tokens);
                match filter {
                    None => w.u8(0),
                    Some(KeyFilter::Label(label)) => w.u8(1).string(label.as_bytes()),
                    Some(KeyFilter::Id(id)) => w.u8(2).string(id),
                };
            }
            HelperRequest::Sign { key, data } => {
                w.u8(SIGN).u32(*key).string(data);
            }
        }
        Zeroizing::new(w.into_vec())
    }

    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let request = match r.u8()? {
            LOAD => {
                let pin = match r.u8()? {
                    0 => None,
                    _ => Some(Zeroizing::new(r.string()?.to_vec())),
                };
                let tokens = read_strings(&mut r)?;
                let filter = match r.u8()? {
                    0 => None,
                    1 => Some(KeyFilter::Label(r.utf8()?.to_owned())),
                    2 => Some(KeyFilter::Id(r.string()?.to_vec())),
                    _ => return Err(Error::UnexpectedResponse("an unknown key filter")),
                };
                HelperRequest::Load {
                    pin,
                    tokens,
                    filter,
                }
            }
            SIGN => HelperRequest::Sign {
                key: r.u32()?,
                data: r.string()?.to_vec(),
            },
            other => return Err(Error::Unsupported { id: other }),
        };
        r.finish()?;
        Ok(request)
    }
}

impl HelperResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            HelperResponse::Loaded { keys, skipped } => {
                w.u8(LOADED).u32(keys.len() as u32);
                for key in keys {
                    w.u32(key.key)
                        .string(key.token.as_bytes())
                        .string(key.label.as_bytes())
                        .string(&key.id)
                        .string(&key.blob);
                }
                w.u32(skipped.len() as u32);
                for s in skipped {
                    w.string(s.token.as_bytes())
                        .string(s.cause.as_str().as_bytes())
                        .string(s.text.as_bytes());
                }
            }
            HelperResponse::Signature(signature) => {
                w.u8(SIGNATURE).string(signature);
            }
            HelperResponse::Failed { cause, text } => {
                w.u8(FAILED)
                    .string(cause.as_str().as_bytes())
                    .string(text.as_bytes());
            }
        }
        w.into_vec()
    }

    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let response = match r.u8()? {
            LOADED => {
                let count = r.u32()? as usize;
                let mut keys = Vec::with_capacity(count.min(r.remaining() / 20));
                for _ in 0..count {
                    keys.push(TokenKeyInfo {
                        key: r.u32()?,
                        token: lossy(r.string()?),
                        label: lossy(r.string()?),
                        id: r.string()?.to_vec(),
                        blob: r.string()?.to_vec(),
                    });
                }
                let count = r.u32()? as usize;
                let mut skipped = Vec::with_capacity(count.min(r.remaining() / 12));
                for _ in 0..count {
                    skipped.push(SkippedToken {
                        token: lossy(r.string()?),
                        cause: cause(&mut r)?,
                        text: lossy(r.string()?),
                    });
                }
                HelperResponse::Loaded { keys, skipped }
            }
            SIGNATURE => HelperResponse::Signature(r.string()?.to_vec()),
            FAILED => HelperResponse::Failed {
                cause: cause(&mut r)?,
                text: lossy(r.string()?),
            },
            other => return Err(Error::Unsupported { id: other }),
        };
        r.finish()?;
        Ok(response)
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn cause(r: &mut Reader<'_>) -> Result<Pkcs11Cause> {
    Pkcs11Cause::parse(r.utf8()?).ok_or(Error::UnexpectedResponse("an unknown PKCS#11 cause"))
}

pub(crate) fn strings(w: &mut Writer, items: &[String]) {
    w.u32(items.len() as u32);
    for item in items {
        w.string(item.as_bytes());
    }
}

pub(crate) fn read_strings(r: &mut Reader<'_>) -> Result<Vec<String>> {
    let count = r.u32()? as usize;
    let mut items = Vec::with_capacity(count.min(r.remaining() / 4));
    for _ in 0..count {
        items.push(lossy(r.string()?));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_requests_round_trip_and_never_show_the_pin() {
        let load = HelperRequest::Load {
            pin: Some(Zeroizing::new(b"246810".to_vec())),
            tokens: vec!["officer".into(), "backup".into()],
            filter: Some(KeyFilter::Id(vec![1])),
        };
        let body = load.encode();
        let back = HelperRequest::decode(&body).expect("load");
        assert!(!format!("{back:?}").contains("246810"));
        match back {
            HelperRequest::Load {
                pin,
                tokens,
                filter,
            } => {
                assert_eq!(pin.as_deref().map(Vec::as_slice), Some(&b"246810"[..]));
                assert_eq!(tokens, ["officer", "backup"]);
                assert_eq!(filter, Some(KeyFilter::Id(vec![1])));
            }
            other => panic!("{other:?}"),
        }
        let no_pin = HelperRequest::Load {
            pin: None,
            tokens: vec![],
            filter: Some(KeyFilter::Label("k".into())),
        };
        assert!(matches!(
            HelperRequest::decode(&no_pin.encode()).expect("no pin"),
            HelperRequest::Load { pin: None, .. }
        ));
        let sign = HelperRequest::Sign {
            key: 7,
            data: vec![1, 2, 3],
        };
        assert!(matches!(
            HelperRequest::decode(&sign.encode()).expect("sign"),
            HelperRequest::Sign { key: 7, data } if data == [1, 2, 3]
        ));
        let mut trailing = sign.encode().to_vec();
        trailing.push(0);
        assert!(matches!(
            HelperRequest::decode(&trailing),
            Err(Error::TrailingBytes { extra: 1 })
        ));
        assert!(matches!(
            HelperRequest::decode(&[99]),
            Err(Error::Unsupported { id: 99 })
        ));
    }

    #[test]
    fn helper_responses_round_trip() {
        let loaded = HelperResponse::Loaded {
            keys: vec![TokenKeyInfo {
                key: 0,
                token: "officer".into(),
                label: String::new(),
                id: vec![0xa1],
                blob: vec![9; 10],
            }],
            skipped: vec![SkippedToken {
                token: "backup".into(),
                cause: Pkcs11Cause::PinIncorrect,
                text: "wrong PIN".into(),
            }],
        };
        for response in [
            loaded,
            HelperResponse::Signature(vec![5; 256]),
            HelperResponse::Failed {
                cause: Pkcs11Cause::TokenRemoved,
                text: "gone".into(),
            },
        ] {
            assert_eq!(
                HelperResponse::decode(&response.encode()).expect("decode"),
                response
            );
        }
        // A count larger than the bytes left is a truncated message, not a huge allocation.
        assert!(HelperResponse::decode(&[LOADED, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn causes_have_stable_names_and_comments_name_token_and_key() {
        for cause in CAUSES {
            assert_eq!(Pkcs11Cause::parse(cause.as_str()), Some(cause));
        }
        assert_eq!(Pkcs11Cause::parse("locked"), None);
        assert!(Pkcs11Cause::HelperCrashed.token_gone());
        assert!(!Pkcs11Cause::PinIncorrect.token_gone());
        let mut key = TokenKeyInfo {
            key: 0,
            token: "officer".into(),
            label: "officer2".into(),
            id: vec![0x01, 0xab],
            blob: vec![],
        };
        assert_eq!(key.comment(), "officer/officer2");
        key.label.clear();
        assert_eq!(key.comment(), "officer/01ab");
    }
}
