//! The agent's RSA keys as the client sees them, and choosing one with `--key`.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use proto::key::{fingerprint, parse_public_key_blob};
use proto::message::Identity;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::RsaPublicKey;

use crate::verify::Verifier;
use crate::{Error, Result};

/// An RSA key the agent holds.
#[derive(Debug, Clone)]
pub struct AgentKey {
    pub blob: Vec<u8>,
    pub comment: String,
    /// `SHA256:...`, as `ssh-add -l` prints it.
    pub fingerprint: String,
    pub public: RsaPublicKey,
    /// The check of this key's signatures, set up at its first use and kept (clones share
    /// it): set up anew for every request, it cost as much as the seven checks it made after
    /// the machine had idled (see [`crate::prepare_check`]).
    check: Arc<OnceLock<Option<Mutex<Verifier>>>>,
}

impl AgentKey {
    /// The key an identity names, when it is an RSA key.
    pub fn from_identity(id: Identity) -> Option<AgentKey> {
        let public = parse_public_key_blob(&id.key_blob).ok()?;
        Some(AgentKey {
            fingerprint: fingerprint(&id.key_blob),
            blob: id.key_blob,
            comment: id.comment,
            public,
            check: Arc::default(),
        })
    }

    /// The modulus size, as `ssh-add -l` prints it.
    pub fn bits(&self) -> usize {
        rsa::traits::PublicKeyParts::n(&self.public).bits()
    }

    /// The check of this key's signatures; `None` if OpenSSL cannot take the key.
    pub(crate) fn check(&self) -> Option<MutexGuard<'_, Verifier>> {
        let check = self
            .check
            .get_or_init(|| Verifier::new(&self.public).ok().map(Mutex::new))
            .as_ref()?;
        // A panic mid-check leaves nothing half-done in the verifier: use it anyway.
        Some(
            check
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The public key as SPKI PEM (`BEGIN PUBLIC KEY`), as CloudHSM takes it.
    pub fn public_pem(&self) -> String {
        // Encoding a valid RSA public key cannot fail; an empty string would be refused by
        // the CLI rather than registered.
        self.public
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// `SHA256:... comment`, as the hints name a key.
    pub fn describe(&self) -> String {
        format!("{} {}", self.fingerprint, self.comment)
    }
}

/// True when `selector` names `key`: its exact comment, the key label of a token key's
/// `TOKEN/KEY` comment (`--key officer2` for `officer/officer2`), or its fingerprint or a
/// prefix of it (with or without `SHA256:`).
pub fn names(key: &AgentKey, selector: &str) -> bool {
    let wanted = full_fingerprint(selector);
    key.comment == selector
        || (!selector.is_empty()
            && !selector.contains('/')
            && key
                .comment
                .rsplit_once('/')
                .is_some_and(|(_, label)| label == selector))
        || (wanted.len() > 7 && key.fingerprint.starts_with(&wanted))
}

fn full_fingerprint(selector: &str) -> String {
    if selector.starts_with("SHA256:") {
        selector.to_owned()
    } else {
        format!("SHA256:{selector}")
    }
}

/// Picks a key: the one `selector` names, or with no selector the only key.
pub fn choose(keys: Vec<AgentKey>, selector: Option<&str>) -> Result<AgentKey> {
    let Some(selector) = selector else {
        return match keys.len() {
            0 => Err(Error::NoKeys),
            1 => keys.into_iter().next().ok_or(Error::NoKeys),
            count => Err(Error::SeveralKeys {
                count,
                fingerprints: keys
                    .iter()
                    .map(AgentKey::describe)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        };
    };
    if keys.is_empty() {
        return Err(Error::NoKeys);
    }
    let mut matching: Vec<AgentKey> = keys.into_iter().filter(|k| names(k, selector)).collect();
    // A full fingerprint or an exact comment wins over prefixes of other keys.
    if matching.len() > 1 {
        let wanted = full_fingerprint(selector);
        let exact = |k: &AgentKey| k.fingerprint == wanted || k.comment == selector;
        if matching.iter().filter(|k| exact(k)).count() == 1 {
            matching.retain(exact);
        }
    }
    match matching.len() {
        0 => Err(Error::NoSuchKey(selector.to_owned())),
        1 => Ok(matching.remove(0)),
        _ => Err(Error::AmbiguousKey(selector.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::BigUint;

    fn key(fp: &str, comment: &str) -> AgentKey {
        AgentKey {
            blob: vec![],
            comment: comment.into(),
            fingerprint: fp.into(),
            public: RsaPublicKey::new_unchecked(BigUint::from(3u8), BigUint::from(3u8)),
            check: Arc::default(),
        }
    }

    #[test]
    fn the_only_key_is_chosen_and_several_need_a_selector() {
        assert!(matches!(choose(vec![], None), Err(Error::NoKeys)));
        let one = choose(vec![key("SHA256:abc", "a")], None).expect("one");
        assert_eq!(one.comment, "a");
        let two = || vec![key("SHA256:abc", "a"), key("SHA256:abd", "b")];
        // Each key is named with its comment too, which --key also takes.
        assert!(matches!(
            choose(two(), None),
            Err(Error::SeveralKeys { count: 2, fingerprints }) if fingerprints == "SHA256:abc a, SHA256:abd b"
        ));
        assert_eq!(
            choose(two(), Some("SHA256:abd")).expect("full").comment,
            "b"
        );
        assert_eq!(
            choose(two(), Some("abc")).expect("bare prefix").comment,
            "a"
        );
        assert_eq!(choose(two(), Some("b")).expect("comment").comment, "b");
        assert!(matches!(
            choose(two(), Some("SHA256:ab")),
            Err(Error::AmbiguousKey(_))
        ));
        assert!(matches!(
            choose(two(), Some("SHA256:x")),
            Err(Error::NoSuchKey(_))
        ));
    }

    #[test]
    fn a_token_key_is_named_by_token_and_key_label_or_its_key_label() {
        let keys = || {
            vec![
                key("SHA256:abc", "officer/officer1"),
                key("SHA256:abd", "officer/officer2"),
                key("SHA256:abe", "backup/officer2"),
            ]
        };
        let chosen = choose(keys(), Some("officer/officer2")).expect("full comment");
        assert_eq!(chosen.fingerprint, "SHA256:abd");
        let chosen = choose(keys(), Some("officer1")).expect("key label");
        assert_eq!(chosen.fingerprint, "SHA256:abc");
        assert!(matches!(
            choose(keys(), Some("officer2")),
            Err(Error::AmbiguousKey(_))
        ));
        assert!(matches!(
            choose(keys(), Some("officer")),
            Err(Error::NoSuchKey(_))
        ));
    }
}
