//! One PKCS#11 library opened with cryptoki: its tokens (through the rules of
//! [`super::choice`]), a login per chosen token, their RSA keys, and signatures. Used inside
//! the helper process (`super::helper_process`) and by mfa-add to read token labels and
//! check a PIN before the agent is asked.

use std::path::Path;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use proto::message::KeyFilter;
use proto::pkcs11::Pkcs11Cause;
use rsa::{BigUint, RsaPublicKey};

use super::choice::{filter_matches, usable_tokens, TokenFacts, TokenFailure};

/// A loaded and initialised PKCS#11 library; finalised when dropped.
pub struct Library {
    context: Pkcs11,
}

/// The usable tokens by slot, and a note on each slot skipped.
pub type Tokens = (Vec<(Slot, TokenFacts)>, Vec<String>);

/// An RSA private key found on a token.
pub struct FoundKey {
    pub id: Vec<u8>,
    pub label: String,
    pub public: RsaPublicKey,
}

impl Library {
    /// Loads and initialises the library at `path`.
    pub fn open(path: &Path) -> Result<Library, TokenFailure> {
        let failed = |cause, e: CkError| {
            TokenFailure::new(
                cause,
                format!("cannot load PKCS#11 provider {}: {e}", path.display()),
            )
        };
        let context = Pkcs11::new(path).map_err(|e| failed(Pkcs11Cause::NotAProvider, e))?;
        context
            .initialize(CInitializeArgs::OsThreads)
            .map_err(|e| failed(Pkcs11Cause::ProviderLoadFailed, e))?;
        Ok(Library { context })
    }

    /// The initialised tokens, and a note for each slot skipped because its token info
    /// cannot be read.
    pub fn tokens(&self) -> Result<Tokens, TokenFailure> {
        let slots = self.context.get_slots_with_token().map_err(|e| {
            TokenFailure::new(
                Pkcs11Cause::ProviderLoadFailed,
                format!("C_GetSlotList: {e}"),
            )
        })?;
        let read = slots
            .into_iter()
            .map(|slot| {
                let facts = self
                    .context
                    .get_token_info(slot)
                    .map(|info| TokenFacts {
                        label: info.label().trim_end().to_owned(),
                        login_required: info.login_required(),
                        initialized: info.token_initialized(),
                    })
                    .map_err(|e| e.to_string());
                (slot, facts)
            })
            .collect();
        Ok(usable_tokens(read))
    }

    /// The slot now holding the token labelled `label` (a slot number may change when a
    /// token is plugged in again).
    pub fn find(&self, label: &str) -> Option<(Slot, TokenFacts)> {
        let (tokens, _) = self.tokens().ok()?;
        tokens.into_iter().find(|(_, t)| t.label == label)
    }

    /// True when the token in `slot` shows, without a login, a public key or certificate
    /// that `filter` names.
    pub fn has_public_match(&self, slot: Slot, filter: &KeyFilter) -> bool {
        let Ok(session) = self.context.open_ro_session(slot) else {
            return false;
        };
        [
            ObjectClass::PUBLIC_KEY,
            ObjectClass::CERTIFICATE,
            ObjectClass::PRIVATE_KEY,
        ]
        .into_iter()
        .filter_map(|class| session.find_objects(&[Attribute::Class(class)]).ok())
        .flatten()
        .any(|handle| {
            id_and_label(&session, handle)
                .is_ok_and(|(id, label)| filter_matches(filter, &label, &id))
        })
    }

    /// Opens a session on `token` and logs in with `pin` when the token requires a login.
    /// A wrong PIN is reported at once and never tried again.
    pub fn open_session(
        &self,
        slot: Slot,
        token: &TokenFacts,
        pin: Option<&str>,
    ) -> Result<Session, TokenFailure> {
        let failed = |e: CkError| token_error(&token.label, e);
        let session = self.context.open_ro_session(slot).map_err(failed)?;
        if !token.login_required {
            return Ok(session);
        }
        let Some(pin) = pin else {
            return Err(TokenFailure::new(
                Pkcs11Cause::PinIncorrect,
                format!("token {:?} needs a PIN and none was given", token.label),
            ));
        };
        let auth = AuthPin::new(pin.to_owned());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
                Err(TokenFailure::new(
                    Pkcs11Cause::PinIncorrect,
                    format!(
                        "wrong PIN for token {:?}; not retried, so the token is not locked by us",
                        token.label
                    ),
                ))
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(TokenFailure::new(
                Pkcs11Cause::PinLocked,
                format!(
                    "the PIN of token {:?} is locked; unlock it with the token's own tools",
                    token.label
                ),
            )),
            Err(e) => Err(failed(e)),
        }
    }
}

/// A token's error as a failure: a token gone, or another error.
pub fn token_error(label: &str, e: CkError) -> TokenFailure {
    if is_gone(&e) {
        return token_gone(label);
    }
    TokenFailure::new(
        Pkcs11Cause::TokenFailed,
        format!("PKCS#11 token {label:?}: {e}"),
    )
}

/// The token labelled `label` is not there (removed, reset, or not found again).
pub fn token_gone(label: &str) -> TokenFailure {
    TokenFailure::new(
        Pkcs11Cause::TokenRemoved,
        format!("PKCS#11 token {label:?} is not present: plug it back in"),
    )
}

/// True for the errors a token that was removed (or reset) gives.
pub fn is_gone(e: &CkError) -> bool {
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

/// The RSA private keys of a session (the one `filter` names, if given): id, label and
/// public key (from the private key object, else from the public key with the same id).
pub fn rsa_keys(session: &Session, filter: Option<&KeyFilter>) -> Result<Vec<FoundKey>, CkError> {
    let template = [
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
    ];
    let mut keys = Vec::new();
    for handle in session.find_objects(&template)? {
        let (id, label) = id_and_label(session, handle)?;
        if filter.is_some_and(|f| !filter_matches(f, &label, &id)) {
            continue;
        }
        let public = match public_of(session, handle)? {
            Some(public) => Some(public),
            None => {
                let pubs = session.find_objects(&[
                    Attribute::Class(ObjectClass::PUBLIC_KEY),
                    Attribute::Id(id.clone()),
                ])?;
                match pubs.first() {
                    Some(p) => public_of(session, *p)?,
                    None => None,
                }
            }
        };
        if let Some(public) = public {
            keys.push(FoundKey { id, label, public });
        }
    }
    Ok(keys)
}

/// `C_Sign` with `CKM_RSA_PKCS` by the private key whose `CKA_ID` is `id`.
pub fn sign_with(session: &Session, id: &[u8], data: &[u8]) -> Result<Vec<u8>, CkError> {
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

fn id_and_label(session: &Session, handle: ObjectHandle) -> Result<(Vec<u8>, String), CkError> {
    let mut id = Vec::new();
    let mut label = String::new();
    for attribute in session.get_attributes(handle, &[AttributeType::Id, AttributeType::Label])? {
        match attribute {
            Attribute::Id(v) => id = v,
            Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
            _ => {}
        }
    }
    Ok((id, label))
}

fn public_of(session: &Session, handle: ObjectHandle) -> Result<Option<RsaPublicKey>, CkError> {
    let mut n = None;
    let mut e = None;
    let wanted = [AttributeType::Modulus, AttributeType::PublicExponent];
    for attribute in session.get_attributes(handle, &wanted)? {
        match attribute {
            Attribute::Modulus(v) => n = Some(v),
            Attribute::PublicExponent(v) => e = Some(v),
            _ => {}
        }
    }
    Ok(match (n, e) {
        (Some(n), Some(e)) => {
            RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).ok()
        }
        _ => None,
    })
}
