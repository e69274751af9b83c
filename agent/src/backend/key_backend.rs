//! The key backend seam: what the agent needs of a key to serve it, whatever holds the private
//! half. A software key lives in the agent's memory as an OpenSSL key
//! ([`super::software_key`]); a PKCS#11 key stays inside its token. The handler, lock,
//! lifetimes, confirm-on-use and the audit log see only this trait, and sign through
//! [`sign_tokens`] and [`sign_ssh`], which decide which thread does the work.

use std::sync::Arc;

use proto::signing::Token;
use tokio::task::spawn_blocking;

/// The hash of an SSH signature (RFC 8332), chosen by the sign request's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SshHash {
    Sha256,
    Sha512,
}

impl SshHash {
    /// The algorithm name in the signature blob.
    pub(crate) fn algorithm(self) -> &'static str {
        match self {
            SshHash::Sha256 => "rsa-sha2-256",
            SshHash::Sha512 => "rsa-sha2-512",
        }
    }
}

/// Why a backend could not sign; logged, never sent (the client gets FAILURE).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignError {
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// A PKCS#11 token, or its helper process, failed; the cause goes to our clients.
    #[error("{0}")]
    Token(super::pkcs11::TokenFailure),
    /// The blocking thread that signed panicked (a bug; the agent goes on).
    #[error("the signing thread failed: {0}")]
    Thread(#[from] tokio::task::JoinError),
}

/// A private key the agent can sign with. Signing blocks (RSA work, or a round trip to a
/// device): call it through [`sign_tokens`] and [`sign_ssh`]. Implementations are shared
/// between requests.
pub(crate) trait KeyBackend: Send + Sync {
    /// RSASSA-PKCS1-v1_5 over DigestInfo(SHA-256) || token, the token not hashed again:
    /// what `openssl pkeyutl -sign -pkeyopt digest:sha256` makes.
    fn sign_token(&self, token: &Token) -> Result<Vec<u8>, SignError>;

    /// An `rsa-sha2-256` or `rsa-sha2-512` signature over `data` (hashed here).
    fn sign_ssh(&self, hash: SshHash, data: &[u8]) -> Result<Vec<u8>, SignError>;

    /// Where the key lives, for the audit line (`software`, or a token's label and key id).
    fn origin(&self) -> String;

    /// True when a signature is only CPU work of at most a few milliseconds (a software key
    /// of up to 4096 bits), so that it may run on an async worker thread; false for a device,
    /// whose round trip can take as long as it likes.
    fn signs_quickly(&self) -> bool;

    /// The PKCS#11 provider (its real path) a token key came from, for `-e` and the hints.
    fn provider(&self) -> Option<&std::path::Path> {
        None
    }
}

/// Signs each token, in order.
///
/// A quick key ([`KeyBackend::signs_quickly`]) signs on the calling worker thread: handing a
/// 2048-bit signature to a blocking thread and back costs about a quarter as much again as
/// the signature itself on a small VM (two thread wake-ups; measured in the commit that made
/// this change). Several tokens (one per HSM of a cluster) are cut into one run per core:
/// the first run is signed here, the others on the blocking pool at the same time. A slow key
/// signs every token on the blocking pool, so a device never stalls other connections.
pub(crate) async fn sign_tokens(
    key: &Arc<dyn KeyBackend>,
    tokens: Vec<Token>,
) -> Result<Vec<Vec<u8>>, SignError> {
    let quick = key.signs_quickly();
    // One run per core for a quick key, one per token for a slow one.
    let runs = if quick { cores() } else { tokens.len() };
    let per_run = tokens.len().div_ceil(runs.max(1)).max(1);
    let mut chunks = tokens.chunks(per_run).map(<[Token]>::to_vec);
    let here = if quick { chunks.next() } else { None };
    let elsewhere: Vec<_> = chunks
        .map(|chunk| {
            let key = Arc::clone(key);
            spawn_blocking(move || sign_each(key.as_ref(), &chunk))
        })
        .collect();
    let mut signatures = match here {
        Some(chunk) => sign_each(key.as_ref(), &chunk)?,
        None => Vec::new(),
    };
    for task in elsewhere {
        signatures.extend(task.await??);
    }
    Ok(signatures)
}

/// An SSH signature over `data`, on this thread for a quick key (see [`sign_tokens`]).
pub(crate) async fn sign_ssh(
    key: &Arc<dyn KeyBackend>,
    hash: SshHash,
    data: Vec<u8>,
) -> Result<Vec<u8>, SignError> {
    if key.signs_quickly() {
        return key.sign_ssh(hash, &data);
    }
    let key = Arc::clone(key);
    spawn_blocking(move || key.sign_ssh(hash, &data)).await?
}

fn sign_each(key: &dyn KeyBackend, tokens: &[Token]) -> Result<Vec<Vec<u8>>, SignError> {
    tokens.iter().map(|token| key.sign_token(token)).collect()
}

/// The cores this process may run on (read once).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::thread::ThreadId;

    /// Signs a token as its own bytes, and notes the thread that did (by the token's first
    /// byte; an SSH signature as 255).
    struct Fake {
        quick: bool,
        threads: Mutex<Vec<(u8, ThreadId)>>,
    }

    impl KeyBackend for Fake {
        fn sign_token(&self, token: &Token) -> Result<Vec<u8>, SignError> {
            let signer = (token[0], std::thread::current().id());
            self.threads.lock().expect("lock").push(signer);
            // Long enough that the runs overlap.
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok(token.to_vec())
        }
        fn sign_ssh(&self, _: SshHash, data: &[u8]) -> Result<Vec<u8>, SignError> {
            let signer = (255, std::thread::current().id());
            self.threads.lock().expect("lock").push(signer);
            Ok(data.to_vec())
        }
        fn origin(&self) -> String {
            "fake".into()
        }
        fn signs_quickly(&self) -> bool {
            self.quick
        }
    }

    fn fake(quick: bool) -> (Arc<Fake>, Arc<dyn KeyBackend>) {
        let key = Arc::new(Fake {
            quick,
            threads: Mutex::default(),
        });
        let backend: Arc<dyn KeyBackend> = key.clone();
        (key, backend)
    }

    fn tokens(n: u8) -> Vec<Token> {
        (0..n).map(|i| [i; 32]).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_quick_key_signs_here_and_spreads_the_rest_over_the_cores_in_order() {
        let (key, backend) = fake(true);
        let here = std::thread::current().id();
        for n in [1, 2, 7, 28] {
            key.threads.lock().expect("lock").clear();
            let signed = sign_tokens(&backend, tokens(n)).await.expect("signed");
            assert_eq!(
                signed,
                tokens(n).iter().map(|t| t.to_vec()).collect::<Vec<_>>()
            );
            let threads = key.threads.lock().expect("lock").clone();
            // The first run is signed on this thread, without a hand-off.
            assert!(threads.contains(&(0, here)), "{n} tokens");
            let mut distinct: Vec<String> = threads.iter().map(|(_, t)| format!("{t:?}")).collect();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), cores().min(usize::from(n)), "{n} tokens");
        }
        assert_eq!(
            sign_ssh(&backend, SshHash::Sha256, b"x".to_vec())
                .await
                .expect("ssh"),
            b"x"
        );
        assert!(key.threads.lock().expect("lock").contains(&(255, here)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_key_never_signs_on_the_async_thread() {
        let (key, backend) = fake(false);
        let here = std::thread::current().id();
        let signed = sign_tokens(&backend, tokens(5)).await.expect("signed");
        assert_eq!(signed.len(), 5);
        assert_eq!(signed[4], [4u8; 32]);
        sign_ssh(&backend, SshHash::Sha512, b"x".to_vec())
            .await
            .expect("ssh");
        let threads = key.threads.lock().expect("lock").clone();
        assert_eq!(threads.len(), 6);
        assert!(threads.iter().all(|(_, t)| *t != here));
    }

    #[tokio::test]
    async fn no_tokens_sign_to_nothing() {
        for quick in [true, false] {
            let (_, backend) = fake(quick);
            assert!(sign_tokens(&backend, Vec::new())
                .await
                .expect("empty")
                .is_empty());
        }
    }
}
