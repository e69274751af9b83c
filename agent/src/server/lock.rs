//! Locking the agent with a passphrase (`ssh-add -x`, `mfa-add -x`).
//!
//! The passphrase is kept only as a bcrypt-pbkdf hash with a random salt, compared in constant
//! time. After each failed unlock the reply is delayed 0.1 s more, up to 10 s, as OpenSSH's
//! agent does, so guessing is slow. While locked the agent lists no keys and signs nothing.

use std::time::Duration;

use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
/// bcrypt-pbkdf rounds: slow enough to make each guess cost, quick enough for one unlock.
const ROUNDS: u32 = 16;
/// The delay grows by this much per failure...
const DELAY_STEP: Duration = Duration::from_millis(100);
/// ...up to this many steps (10 s).
const MAX_FAILURES: u32 = 100;

/// The salted hash of the lock passphrase.
#[derive(Clone)]
pub struct LockHash {
    salt: [u8; SALT_LEN],
    hash: Zeroizing<[u8; HASH_LEN]>,
}

impl std::fmt::Debug for LockHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockHash(hidden)")
    }
}

impl LockHash {
    /// Hashes a new lock passphrase with a fresh salt (slow: call off the async threads).
    pub fn new(passphrase: &[u8]) -> Self {
        let mut salt = [0u8; SALT_LEN];
        OsRng.fill_bytes(&mut salt);
        LockHash {
            salt,
            hash: derive(passphrase, &salt),
        }
    }

    /// True when `passphrase` is the lock passphrase (slow, constant-time compare).
    pub fn matches(&self, passphrase: &[u8]) -> bool {
        let candidate = derive(passphrase, &self.salt);
        bool::from(candidate.ct_eq(&*self.hash))
    }
}

fn derive(passphrase: &[u8], salt: &[u8]) -> Zeroizing<[u8; HASH_LEN]> {
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    // bcrypt-pbkdf refuses an empty passphrase; an empty lock passphrase still must work, so
    // every input gets a fixed prefix byte.
    let mut input = Zeroizing::new(Vec::with_capacity(passphrase.len() + 1));
    input.push(b'L');
    input.extend_from_slice(passphrase);
    if bcrypt_pbkdf::bcrypt_pbkdf(&input[..], salt, ROUNDS, &mut out[..]).is_err() {
        // Only possible with invalid parameters, which are constants here; an all-zero hash
        // for every input would make the lock useless, so never return one silently.
        out.iter_mut().for_each(|b| *b = 0xff);
    }
    out
}

/// Whether the agent is locked, and how many unlocks failed in a row.
#[derive(Debug, Default)]
pub struct LockState {
    hash: Option<LockHash>,
    failures: u32,
}

impl LockState {
    pub fn is_locked(&self) -> bool {
        self.hash.is_some()
    }

    /// Locks with an already computed hash; false if the agent was already locked.
    pub fn lock(&mut self, hash: LockHash) -> bool {
        if self.hash.is_some() {
            return false;
        }
        self.hash = Some(hash);
        true
    }

    /// The hash to check an unlock against, if locked.
    pub fn hash(&self) -> Option<&LockHash> {
        self.hash.as_ref()
    }

    /// Unlocks after a successful check.
    pub fn unlock(&mut self) {
        self.hash = None;
        self.failures = 0;
    }

    /// Records a failed unlock and returns how long to wait before answering.
    pub fn failed(&mut self) -> Duration {
        self.failures = (self.failures + 1).min(MAX_FAILURES);
        DELAY_STEP * self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_passphrase_matches() {
        let hash = LockHash::new(b"correct horse");
        assert!(hash.matches(b"correct horse"));
        assert!(!hash.matches(b"correct hors"));
        assert!(!hash.matches(b""));
        let empty = LockHash::new(b"");
        assert!(empty.matches(b""));
        assert!(!empty.matches(b"x"));
    }

    #[test]
    fn delay_grows_and_is_capped() {
        let mut state = LockState::default();
        assert!(state.lock(LockHash::new(b"p")));
        assert!(!state.lock(LockHash::new(b"q")));
        assert_eq!(state.failed(), Duration::from_millis(100));
        assert_eq!(state.failed(), Duration::from_millis(200));
        for _ in 0..200 {
            state.failed();
        }
        assert_eq!(state.failed(), Duration::from_secs(10));
        state.unlock();
        assert!(!state.is_locked());
    }
}
