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
