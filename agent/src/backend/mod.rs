//! The keys the agent signs with, whatever holds their private half: the backend seam every
//! key sits behind (`KeyBackend`), software keys in the agent's memory (OpenSSL), and
//! PKCS#11 providers and the keys on their tokens.

// The seam: what the agent needs of a key, and which thread signs.
mod key_backend;
// PKCS#11 providers: the `-P` allowlist, helper processes, tokens and their keys.
pub mod pkcs11;
// An RSA key unlocked into the agent's memory, signing through OpenSSL.
mod software_key;

pub(crate) use key_backend::{sign_ssh, sign_tokens, KeyBackend, SignError, SshHash};
pub(crate) use pkcs11::provider_allowed;
pub use pkcs11::DEFAULT_PROVIDER_ALLOWLIST;
pub(crate) use software_key::SoftwareKey;
