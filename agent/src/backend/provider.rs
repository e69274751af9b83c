//! PKCS#11 providers (`ssh-add -s`, `mfa-add -s`): which ones the agent may load (`-P`, as
//! OpenSSH's ssh-agent), opening a provider's tokens with the PIN, and finding their RSA keys.
//! The keys themselves sign in [`super::token_key`]; their private half never leaves the token.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::Error as CkError;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use proto::message::KeyFilter;
use rsa::{BigUint, RsaPublicKey};
use zeroize::Zeroizing;

// `*` matches any run of bytes, slashes included, as OpenSSH's `match_pattern` does.
use super::token_key::{ProviderError, TokenKey, TokenSession};
use crate::glob::glob;

/// OpenSSH's default allowlist (`ssh-agent -P`): system library folders only.
pub const DEFAULT_PROVIDER_ALLOWLIST: &str = "/usr/lib*/*,/usr/local/lib*/*";

/// True when `path` matches the comma-separated `patterns` as OpenSSH's
/// `match_pattern_list` does: `*` and `?` wildcards, and a matching `!pattern` refuses
/// whatever else matches.
pub(crate) fn provider_allowed(patterns: &str, path: &str) -> bool {
    let mut allowed = false;
    for pattern in patterns.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        if glob(pattern.as_bytes(), path.as_bytes()) {
            if negated {
                return false;
            }
            allowed = true;
        }
    }
    allowed
}

/// One RSA key found on a token, ready to be served.
pub(crate) struct FoundKey {
    pub signer: TokenKey,
    pub public: RsaPublicKey,
}

/// The providers loaded so far: a PKCS#11 library is initialised once per process.
#[derive(Default)]
pub(crate) struct Providers {
    loaded: Mutex<HashMap<PathBuf, Pkcs11>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Providers")
    }
}

impl Providers {
    /// The provider at `path` (a real path), loaded and initialised on first use.
    fn context(&self, path: &Path) -> Result<Pkcs11, ProviderError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(context) = loaded.get(path) {
            return Ok(context.clone());
        }
        let load = |source| ProviderError::Load {
            path: path.to_path_buf(),
            source,
        };
        let context = Pkcs11::new(path).map_err(load)?;
        context
            .initialize(CInitializeArgs::OsThreads)
            .map_err(load)?;
        loaded.insert(path.to_path_buf(), context.clone());
        Ok(context)
    }

    /// Logs in to every token of the provider with `pin` and returns its RSA keys (only the
    /// one `filter` names, if given). Blocks: call on the blocking pool.
    pub(crate) fn load_keys(
        &self,
        path: &Path,
        pin: Zeroizing<String>,
        filter: Option<&KeyFilter>,
    ) -> Result<Vec<FoundKey>, ProviderError> {
        let context = self.context(path)?;
        let slots = context
            .get_slots_with_initialized_token()
            .map_err(|source| ProviderError::Load {
                path: path.to_path_buf(),
                source,
            })?;
        let mut found = Vec::new();
        for slot in slots {
            let Ok(info) = context.get_token_info(slot) else {
                continue;
            };
            let label = info.label().trim_end().to_owned();
            let token = Arc::new(TokenSession::new(
                context.clone(),
                label.clone(),
                pin.clone(),
            ));
            let session = token.open()?;
            for (id, key_label, public) in
                rsa_keys(&session, filter).map_err(|source| ProviderError::Token {
                    label: label.clone(),
                    source,
                })?
            {
                found.push(FoundKey {
                    signer: TokenKey::new(Arc::clone(&token), id, key_label),
                    public,
                });
            }
            token.keep(session);
        }
        if found.is_empty() {
            return Err(ProviderError::NoKeys(path.display().to_string()));
        }
        Ok(found)
    }
}

/// The RSA private keys of a logged-in session: id, label and public key (from the private
/// key object, else from the public key with the same id).
fn rsa_keys(
    session: &Session,
    filter: Option<&KeyFilter>,
) -> Result<Vec<(Vec<u8>, String, RsaPublicKey)>, CkError> {
    let mut template = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
    ];
    match filter {
        Some(KeyFilter::Label(label)) => template.push(Attribute::Label(label.as_bytes().to_vec())),
        Some(KeyFilter::Id(id)) => template.push(Attribute::Id(id.clone())),
        None => {}
    }
    let mut keys = Vec::new();
    for handle in session.find_objects(&template)? {
        let (id, label) = id_and_label(session, handle)?;
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
            keys.push((id, label, public));
        }
    }
    Ok(keys)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_follows_openssh_patterns() {
        let default = DEFAULT_PROVIDER_ALLOWLIST;
        assert!(provider_allowed(default, "/usr/lib/softhsm/libsofthsm2.so"));
        assert!(provider_allowed(default, "/usr/lib64/opensc-pkcs11.so"));
        assert!(provider_allowed(default, "/usr/local/lib/libykcs11.so"));
        assert!(!provider_allowed(default, "/tmp/evil.so"));
        assert!(!provider_allowed(default, "/home/me/usr/lib/x.so"));
        let negated = "/usr/lib*/*,!/usr/lib/evil*";
        assert!(provider_allowed(negated, "/usr/lib/good.so"));
        assert!(!provider_allowed(negated, "/usr/lib/evil.so"));
        assert!(provider_allowed("/opt/p?.so", "/opt/p1.so"));
        assert!(!provider_allowed("/opt/p?.so", "/opt/p12.so"));
        assert!(!provider_allowed("", "/usr/lib/x.so"));
    }
}
