//! The keys the agent holds: the signer (a [`KeyBackend`]), public blob, comment, lifetime
//! and confirm flag.
//!
//! Entries are shared as `Arc` so a signature in progress keeps its key alive; the key is
//! wiped (OpenSSL clears its BIGNUMs when freed) when the last holder lets go after a remove,
//! an expiry or the agent's exit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::key::{fingerprint, public_key_blob};
use proto::message::Identity;
use proto::purpose::KeyPurposes;
use rsa::RsaPublicKey;

use crate::backend::KeyBackend;

use super::forwarding::UsePolicy;

/// One key held by the agent.
pub struct KeyEntry {
    pub signer: Arc<dyn KeyBackend>,
    pub blob: Vec<u8>,
    pub comment: String,
    pub fingerprint: String,
    pub expires: Option<Instant>,
    pub confirm: bool,
    /// `--forwarded` and `ssh-add -h`: where the key may be used.
    pub policy: UsePolicy,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("fingerprint", &self.fingerprint)
            .field("comment", &self.comment)
            .field("expires", &self.expires)
            .field("confirm", &self.confirm)
            .finish_non_exhaustive()
    }
}

impl KeyEntry {
    pub fn new(
        signer: Arc<dyn KeyBackend>,
        public: &RsaPublicKey,
        comment: String,
        lifetime: Option<u32>,
        confirm: bool,
    ) -> Self {
        let blob = public_key_blob(public);
        KeyEntry {
            fingerprint: fingerprint(&blob),
            signer,
            blob,
            comment,
            expires: lifetime.map(|s| Instant::now() + Duration::from_secs(u64::from(s))),
            confirm,
            policy: UsePolicy::default(),
        }
    }

    /// The entry of an RSA certificate for this key: listed and signed for under the
    /// certificate's blob, fingerprinted as its key (as `ssh-add -l` prints it).
    pub fn certified(mut self, certificate: Vec<u8>) -> Self {
        self.blob = certificate;
        self
    }

    fn is_expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|t| t <= now)
    }
}

/// The agent's keys, in the order they were added.
#[derive(Debug, Default)]
pub struct KeyStore {
    entries: Vec<Arc<KeyEntry>>,
}

impl KeyStore {
    /// Adds a key; adding a key already held replaces it in its place (new comment and
    /// constraints), as OpenSSH's agent does: ssh offers keys in the agent's order, so
    /// `ssh-add -t 1h KEY` must not change which key a server sees first.
    pub fn add(&mut self, entry: KeyEntry) {
        match self.entries.iter_mut().find(|e| e.blob == entry.blob) {
            Some(held) => *held = Arc::new(entry),
            None => self.entries.push(Arc::new(entry)),
        }
    }

    /// Removes the key with this public blob; false if there was none.
    pub fn remove(&mut self, blob: &[u8]) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.blob != blob);
        self.entries.len() != before
    }

    /// Removes the RSA certificates of the key with this plain `ssh-rsa` blob and returns how
    /// many there were.
    pub fn remove_certificates_of(&mut self, blob: &[u8]) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| {
            !(proto::cert::is_certificate(&e.blob) && proto::cert::plain_key_of(&e.blob) == blob)
        });
        before - self.entries.len()
    }

    /// Removes the keys loaded from a PKCS#11 provider and returns how many there were.
    pub fn remove_provider(&mut self, provider: &std::path::Path) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|e| e.signer.provider() != Some(provider));
        before - self.entries.len()
    }

    /// Removes every key and returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        n
    }

    /// Drops expired keys and returns their fingerprints.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let mut gone = Vec::new();
        self.entries.retain(|e| {
            let expired = e.is_expired(now);
            if expired {
                gone.push(e.fingerprint.clone());
            }
            !expired
        });
        gone
    }

    /// The live key with this public blob.
    pub fn get(&self, blob: &[u8]) -> Option<Arc<KeyEntry>> {
        let now = Instant::now();
        self.entries
            .iter()
            .find(|e| e.blob == blob && !e.is_expired(now))
            .cloned()
    }

    /// The live keys as an identities answer.
    #[cfg(test)]
    pub fn identities(&self) -> Vec<Identity> {
        self.identities_where(|_| true)
    }

    /// The live keys `visible` keeps, as an identities answer.
    pub fn identities_where(&self, visible: impl Fn(&KeyEntry) -> bool) -> Vec<Identity> {
        let now = Instant::now();
        self.entries
            .iter()
            .filter(|e| !e.is_expired(now) && visible(e))
            .map(|e| Identity {
                key_blob: e.blob.clone(),
                comment: e.comment.clone(),
            })
            .collect()
    }

    /// The blob and purpose of each live key `visible` lets through, in the agent's order.
    pub fn purposes_where(&self, visible: impl Fn(&KeyEntry) -> bool) -> KeyPurposes {
        let now = Instant::now();
        self.entries
            .iter()
            .filter(|e| !e.is_expired(now) && visible(e))
            .map(|e| (e.blob.clone(), e.policy.purpose))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::SoftwareKey;
    use crate::rsa_key::material_of;

    fn entry(comment: &str, lifetime: Option<u32>, confirm: bool) -> KeyEntry {
        let material = material_of(&crate::test_key());
        let (key, public) = SoftwareKey::from_material(&material).expect("key");
        KeyEntry::new(Arc::new(key), &public, comment.into(), lifetime, confirm)
    }

    #[test]
    fn a_key_added_again_keeps_its_place() {
        let other = openssl::rsa::Rsa::generate(2048).expect("second key");
        let (key, public) = SoftwareKey::from_material(&material_of(&other)).expect("key");
        let mut store = KeyStore::default();
        store.add(entry("first", None, false));
        store.add(KeyEntry::new(
            Arc::new(key),
            &public,
            "second".into(),
            None,
            false,
        ));
        store.add(entry("first again", Some(3600), false));
        let comments: Vec<String> = store.identities().into_iter().map(|i| i.comment).collect();
        assert_eq!(comments, ["first again", "second"]);
    }

    #[test]
    fn add_replaces_remove_and_expire() {
        let mut store = KeyStore::default();
        store.add(entry("a", None, false));
        store.add(entry("b", Some(1), false));
        let ids = store.identities();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].comment, "b");
        let blob = ids[0].key_blob.clone();
        assert!(store.get(&blob).is_some());
        let later = Instant::now() + Duration::from_secs(2);
        assert_eq!(store.expire(later).len(), 1);
        assert!(store.get(&blob).is_none());
        assert!(!store.remove(&blob));
        store.add(entry("c", None, true));
        assert!(store.remove(&blob));
        assert_eq!(store.clear(), 0);
    }
}
