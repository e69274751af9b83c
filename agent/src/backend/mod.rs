//! The keys the agent signs with, whatever holds their private half: the backend seam every
//! key sits behind (`KeyBackend`), software keys in the agent's memory (OpenSSL), and
//! PKCS#11 providers and the keys on their tokens.

// The seam: what the agent needs of a key, and which thread signs.
mod key_backend;
// PKCS#11 providers: the `-P` allowlist, opening tokens, finding their RSA keys.
mod provider;
// An RSA key unlocked into the agent's memory, signing through OpenSSL.
mod software_key;
// A key inside a PKCS#11 token, and the token's logged-in session.
mod token_key;

pub(crate) use key_backend::{sign_ssh, sign_tokens, KeyBackend, SshHash};
pub use provider::DEFAULT_PROVIDER_ALLOWLIST;
pub(crate) use provider::{provider_allowed, Providers};
pub(crate) use software_key::SoftwareKey;
