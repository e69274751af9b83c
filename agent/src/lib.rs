//! mfa-agent and mfa-add: the agent keeps unlocked RSA keys in memory and serves them over the
//! ssh-agent protocol (plus the CloudHSM token-sign extension) on a local socket; mfa-add loads
//! keys from files and manages the agent, as ssh-add does.
//!
//! Platform code sits in one module per concern (`socket`, `hardening`, `daemon`), so a port
//! swaps those and keeps the logic.

// The agent.
pub mod activation;
pub mod audit;
pub mod config;
pub mod confirm;
pub mod daemon;
pub mod handler;
pub mod hardening;
pub mod keystore;
pub mod lifetime;
pub mod lock;
pub mod server;
pub mod socket;

// mfa-add.
pub mod add;
pub mod client;
pub mod keyfile;
pub mod legacy_pem;
pub mod passphrase;

mod error;

pub use error::{Error, Result};

/// One RSA-2048 key per test run: generating keys in debug builds is slow.
#[cfg(test)]
pub(crate) fn test_key() -> rsa::RsaPrivateKey {
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("key"))
        .clone()
}
