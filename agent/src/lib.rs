//! mfa-agent and mfa-add: the agent keeps unlocked RSA keys in memory and serves them over the
//! ssh-agent protocol (plus the CloudHSM token-sign extension) on a local socket; mfa-add loads
//! keys from files and manages the agent, as ssh-add does.
//!
//! The two programs' command lines live with their binaries (`src/bin/NAME/cli.rs`); this
//! library is what they run. Everything platform-specific sits under `sys/`, one file per
//! concern, so a port adds files there and keeps the rest.

// mfa-add: key files, passphrases, and its calls to the agent.
pub mod add;
// mfa-agent's modes: foreground, fork, `-- CMD`, `-k`.
pub mod daemon;
// The agent itself: state, requests, keys, lock, confirm, audit, lifetimes.
pub mod server;
// Sockets, peer credentials, hardening, processes, signals, terminal and file modes.
pub(crate) mod sys;
// `--version`: the package version and the crypto backend in use.
pub mod version;

mod error;
// OpenSSL RSA keys and the ssh-agent key fields.
mod rsa_key;

pub use error::{print, Error, Result};

/// One RSA-2048 key per test run.
#[cfg(test)]
pub(crate) fn test_key() -> openssl::rsa::Rsa<openssl::pkey::Private> {
    static KEY: std::sync::OnceLock<openssl::rsa::Rsa<openssl::pkey::Private>> =
        std::sync::OnceLock::new();
    KEY.get_or_init(|| openssl::rsa::Rsa::generate(2048).expect("key"))
        .clone()
}
