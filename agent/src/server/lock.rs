//! Locking the agent with a passphrase (`ssh-add -x`, `mfa-add -x`).
//!
//! The passphrase is kept only as a bcrypt-pbkdf hash with a random salt, compared in constant
//! time. Unlock attempts are taken one at a time, agent-wide, and after each failure the reply
//! is delayed 0.1 s more, up to 10 s, as OpenSSH's agent does, so guessing is slow however many
//! connections guess at once. While locked the agent lists no keys and signs nothing.

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

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

/// Whether the agent is locked.
#[derive(Debug, Default)]
pub struct LockState {
    hash: Option<LockHash>,
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
    }
}

/// How long to wait before answering an unlock after `failures` failed in a row.
pub fn delay_after(failures: u32) -> Duration {
    DELAY_STEP * failures.min(MAX_FAILURES)
}

/// Unlock attempts, one at a time for the whole agent, and the failures in a row.
///
/// Without the queue each connection's guess waited out its own delay beside the others, so
/// guesses sent in parallel cost no more than the longest single delay.
#[derive(Debug, Default)]
pub struct UnlockQueue {
    failures: Mutex<u32>,
}

impl UnlockQueue {
    /// Waits until no other unlock attempt is running; the attempt lasts as long as the turn.
    pub async fn turn(&self) -> UnlockTurn<'_> {
        UnlockTurn(self.failures.lock().await)
    }
}

/// One unlock attempt's exclusive turn: check, then report the outcome.
pub struct UnlockTurn<'a>(MutexGuard<'a, u32>);

impl UnlockTurn<'_> {
    /// The passphrase was right: the next wrong one starts again at the first step.
    pub fn succeeded(mut self) {
        *self.0 = 0;
    }

    /// The passphrase was wrong: counts it and waits out the delay before giving the turn up.
    pub async fn failed(mut self) -> Duration {
        *self.0 = self.0.saturating_add(1);
        let delay = delay_after(*self.0);
        tokio::time::sleep(delay).await;
        delay
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
    fn locks_once_until_unlocked() {
        let mut state = LockState::default();
        assert!(state.lock(LockHash::new(b"p")));
        assert!(!state.lock(LockHash::new(b"q")));
        assert!(state.is_locked());
        state.unlock();
        assert!(!state.is_locked());
    }

    #[test]
    fn delay_grows_by_a_tenth_of_a_second_per_failure_up_to_ten_seconds() {
        assert_eq!(delay_after(0), Duration::ZERO);
        assert_eq!(delay_after(1), Duration::from_millis(100));
        assert_eq!(delay_after(2), Duration::from_millis(200));
        assert_eq!(delay_after(100), Duration::from_secs(10));
        assert_eq!(delay_after(101), Duration::from_secs(10));
        assert_eq!(delay_after(u32::MAX), Duration::from_secs(10));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_failures_wait_in_turn_and_the_count_is_shared() {
        let queue = std::sync::Arc::new(UnlockQueue::default());
        let start = std::time::Instant::now();
        let attempts: Vec<_> = (0..3)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.turn().await.failed().await })
            })
            .collect();
        let mut delays = Vec::new();
        for attempt in attempts {
            delays.push(attempt.await.expect("attempt"));
        }
        delays.sort();
        // One counter for all: the three got the first three steps, not the first one each.
        assert_eq!(delays, [100, 200, 300].map(Duration::from_millis).to_vec());
        // One at a time: the delays add up instead of overlapping.
        assert!(
            start.elapsed() >= Duration::from_millis(600),
            "{:?}",
            start.elapsed()
        );

        // A right passphrase starts the count again.
        queue.turn().await.succeeded();
        assert_eq!(
            queue.turn().await.failed().await,
            Duration::from_millis(100)
        );
    }
}
