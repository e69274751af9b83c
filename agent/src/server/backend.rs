//! The key backend seam: what the agent needs of a key to serve it, whatever holds the private
//! half. A software key lives in the agent's memory as an OpenSSL key
//! ([`super::software_key`]); a PKCS#11 key stays inside its token. The handler, lock,
//! lifetimes, confirm-on-use and the audit log see only this trait.

use proto::signing::Token;

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
    /// A PKCS#11 token is gone or refused; the text says what to do.
    #[error("{0}")]
    Device(String),
}

/// A private key the agent can sign with. Signing blocks (RSA work, or a round trip to a
/// device): call it on the blocking pool. Implementations are shared between requests.
pub(crate) trait KeyBackend: Send + Sync {
    /// RSASSA-PKCS1-v1_5 over DigestInfo(SHA-256) || token, the token not hashed again:
    /// what `openssl pkeyutl -sign -pkeyopt digest:sha256` makes.
    fn sign_token(&self, token: &Token) -> Result<Vec<u8>, SignError>;

    /// An `rsa-sha2-256` or `rsa-sha2-512` signature over `data` (hashed here).
    fn sign_ssh(&self, hash: SshHash, data: &[u8]) -> Result<Vec<u8>, SignError>;

    /// Where the key lives, for the audit line (`software`, or a token's label and key id).
    fn origin(&self) -> String;
}
