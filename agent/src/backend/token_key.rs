//! PKCS#11 token keys: the second [`KeyBackend`]. The private key stays on the token; the
//! agent holds a logged-in session and the PIN (zeroized, as an unlocked software key would
//! be), so a token unplugged and plugged back in is reopened at the next signature; here too
//! opening a token by label with the PIN, which loading a provider (`super::provider`) uses.
//!
//! Signatures are `C_Sign` with `CKM_RSA_PKCS` over DigestInfo || digest: for a CloudHSM
//! token DigestInfo(SHA-256) || token, the token not hashed again; for SSH the DigestInfo of
//! SHA-256 or SHA-512 over the digest OpenSSL computes here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use openssl::hash::{hash, MessageDigest};
use proto::signing::{Token, SHA256_DIGEST_INFO_PREFIX};
use zeroize::Zeroizing;

use super::key_backend::{KeyBackend, SignError, SshHash};

/// DER of DigestInfo for SHA-512 without the digest (RFC 8017 section 9.2, note 1).
const SHA512_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// One token of a provider, found by its label (its slot number may change when it is
/// plugged in again), with the session the agent signs in.
pub(crate) struct TokenSession {
    context: Pkcs11,
    label: String,
    pin: Zeroizing<String>,
    /// A PKCS#11 session serves one operation at a time: signatures on one token queue here.
    session: Mutex<Option<Session>>,
}

impl TokenSession {
    pub(crate) fn new(context: Pkcs11, label: String, pin: Zeroizing<String>) -> Self {
        TokenSession {
            context,
            label,
            pin,
            session: Mutex::new(None),
        }
    }

    /// Opens and logs in a session, or says the token is gone.
    pub(crate) fn open(&self) -> Result<Session, ProviderError> {
        open_token(&self.context, &self.label, &self.pin)?.ok_or_else(|| ProviderError::Token {
            label: self.label.clone(),
            source: CkError::Pkcs11(
                RvError::TokenNotPresent,
                cryptoki::context::Function::OpenSession,
            ),
        })
    }

    /// Keeps a session for the next signatures.
    pub(crate) fn keep(&self, session: Session) {
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(session);
    }

    /// Signs `data` (a DigestInfo || digest) with the private key whose `CKA_ID` is `id`,
    /// reopening the session once if the token went away and came back.
    fn sign(&self, id: &[u8], data: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut slot = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = slot.as_ref() {
            match sign_with(session, id, data) {
                Ok(signature) => return Ok(signature),
                Err(e) if !is_gone(&e) => return Err(self.failed(e)),
                Err(_) => *slot = None,
            }
        }
        let session = match open_token(&self.context, &self.label, &self.pin) {
            Ok(Some(session)) => session,
            Ok(None) => return Err(self.unplugged()),
            Err(ProviderError::Token { source, .. }) if is_gone(&source) => {
                return Err(self.unplugged())
            }
            Err(e) => return Err(SignError::Device(e.to_string())),
        };
        let signature = sign_with(&session, id, data).map_err(|e| self.failed(e))?;
        *slot = Some(session);
        Ok(signature)
    }

    fn unplugged(&self) -> SignError {
        SignError::Device(format!(
            "PKCS#11 token {:?} is not present: plug it back in",
            self.label
        ))
    }

    fn failed(&self, e: CkError) -> SignError {
        if is_gone(&e) {
            return self.unplugged();
        }
        SignError::Device(format!("PKCS#11 token {:?}: {e}", self.label))
    }
}

/// True for the errors a token that was removed (or reset) gives.
fn is_gone(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceError
                | RvError::UserNotLoggedIn
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
                | RvError::GeneralError,
            _
        )
    )
}

fn sign_with(session: &Session, id: &[u8], data: &[u8]) -> Result<Vec<u8>, CkError> {
    let keys = session.find_objects(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Id(id.to_vec()),
    ])?;
    let key = keys.first().copied().ok_or(CkError::Pkcs11(
        RvError::KeyHandleInvalid,
        cryptoki::context::Function::FindObjects,
    ))?;
    session.sign(&Mechanism::RsaPkcs, key, data)
}

/// An RSA key on a token.
pub(crate) struct TokenKey {
    token: Arc<TokenSession>,
    id: Vec<u8>,
    label: String,
}

impl TokenKey {
    pub(crate) fn new(token: Arc<TokenSession>, id: Vec<u8>, label: String) -> Self {
        TokenKey { token, id, label }
    }

    /// The key's `CKA_ID` in hex, as `--id` takes it.
    fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl KeyBackend for TokenKey {
    fn sign_token(&self, token: &Token) -> Result<Vec<u8>, SignError> {
        let mut data = SHA256_DIGEST_INFO_PREFIX.to_vec();
        data.extend_from_slice(token);
        self.token.sign(&self.id, &data)
    }

    fn sign_ssh(&self, hash_kind: SshHash, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let (digest, prefix): (_, &[u8]) = match hash_kind {
            SshHash::Sha256 => (MessageDigest::sha256(), &SHA256_DIGEST_INFO_PREFIX),
            SshHash::Sha512 => (MessageDigest::sha512(), &SHA512_DIGEST_INFO_PREFIX),
        };
        let mut data = prefix.to_vec();
        data.extend_from_slice(&hash(digest, message)?);
        self.token.sign(&self.id, &data)
    }

    fn origin(&self) -> String {
        format!(
            "pkcs11 token={:?} key-label={:?} key-id={}",
            self.token.label,
            self.label,
            self.id_hex()
        )
    }

    fn signs_quickly(&self) -> bool {
        false
    }
}

/// Why a provider's keys could not be loaded; logged, the client gets FAILURE.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    #[error("cannot load PKCS#11 provider {path}: {source}")]
    Load { path: PathBuf, source: CkError },
    #[error("wrong PIN for token {label:?}; not retried, so the token is not locked by us")]
    WrongPin { label: String },
    #[error("the PIN of token {label:?} is locked; unlock it with the token's own tools")]
    PinLocked { label: String },
    #[error("PKCS#11 token {label:?}: {source}")]
    Token { label: String, source: CkError },
    #[error("no RSA key on the tokens of {0}")]
    NoKeys(String),
}

/// Opens a session on the token labelled `label` and logs in; a wrong PIN is reported at
/// once and never tried again.
fn open_token(
    context: &Pkcs11,
    label: &str,
    pin: &Zeroizing<String>,
) -> Result<Option<Session>, ProviderError> {
    let token_error = |source| ProviderError::Token {
        label: label.to_owned(),
        source,
    };
    let slots = context
        .get_slots_with_initialized_token()
        .map_err(token_error)?;
    let slot = slots.into_iter().find(|slot| {
        context
            .get_token_info(*slot)
            .is_ok_and(|info| info.label().trim_end() == label)
    });
    let Some(slot) = slot else {
        return Ok(None);
    };
    let session = context.open_ro_session(slot).map_err(token_error)?;
    let auth = AuthPin::new(pin.as_str().to_owned());
    match session.login(UserType::User, Some(&auth)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(Some(session)),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(ProviderError::WrongPin {
            label: label.to_owned(),
        }),
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(ProviderError::PinLocked {
            label: label.to_owned(),
        }),
        Err(source) => Err(token_error(source)),
    }
}
