//! Locking and unlocking the agent (`ssh-add -x`, `-X`); the rules (hash, delays, one attempt
//! at a time) are `server::lock`'s.

use proto::message::Response;
use tokio::task::spawn_blocking;
use zeroize::Zeroizing;

use super::{guard, Agent, Refusal};
use crate::server::lock::LockHash;
use crate::sys::Peer;

impl Agent {
    /// `ssh-add -x`: lock with a passphrase, kept only as its slow hash.
    pub(super) async fn lock(
        &self,
        passphrase: Zeroizing<Vec<u8>>,
        peer: &Peer,
    ) -> Result<Response, Refusal> {
        let hash = spawn_blocking(move || LockHash::new(&passphrase))
            .await
            .map_err(|e| format!("lock failed: {e}"))?;
        if guard(&self.lock).lock(hash) {
            self.log.audit(&format!("locked by {}", peer.describe()));
            Ok(Response::Success)
        } else {
            Err(Refusal::Request("already locked".to_owned()))
        }
    }

    /// `ssh-add -X`: unlock, one attempt at a time, slower after each wrong passphrase.
    pub(super) async fn unlock(&self, passphrase: Zeroizing<Vec<u8>>) -> Result<Response, Refusal> {
        // One attempt at a time, agent-wide: a guess waits here for the ones before it, and
        // their delays, to finish. Only unlock attempts queue; other requests go on.
        let turn = self.unlocks.turn().await;
        // Read after the wait: an attempt queued behind the right passphrase finds it unlocked.
        // The hash cannot change during the turn: a locked agent refuses to lock again.
        let Some(hash) = guard(&self.lock).hash().cloned() else {
            return Err(Refusal::NotLocked);
        };
        // Hashing takes the salt from the stored hash; the check runs off the async threads.
        let ok = spawn_blocking(move || hash.matches(&passphrase))
            .await
            .map_err(|e| format!("unlock failed: {e}"))?;
        if ok {
            guard(&self.lock).unlock();
            turn.succeeded();
            self.log.audit("unlocked");
            Ok(Response::Success)
        } else {
            let delay = turn.failed().await;
            Err(Refusal::Passphrase(format!(
                "wrong passphrase (answered after {delay:?})"
            )))
        }
    }
}
