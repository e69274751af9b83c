//! mfa-agent and mfa-add: the agent keeps unlocked RSA keys in memory and serves them over the
//! ssh-agent protocol (plus the CloudHSM token-sign extension) on a local socket; mfa-add loads
//! keys from files and manages the agent, as ssh-add does.
//!
//! The two programs' command lines live with their binaries (`src/bin/NAME/cli.rs`); this
//! library is what they run. Everything platform-specific sits under `sys/`, one file per
//! concern, so a port adds files there and keeps the rest.

// The keys the agent signs with: the backend seam, software keys, PKCS#11 providers.
pub mod backend;
// mfa-add: key files, passphrases, and its calls to the agent.
pub mod add;
// mfa-agent's modes: foreground, fork, `-- CMD`, `-k`.
pub mod daemon;
// OpenSSH's `match_pattern`: destination constraints' names and the provider allowlist.
mod glob;
// Key lifetimes (`-t`) in OpenSSH's time format, for both programs.
pub mod lifetime;
// The agent's log: lines, destinations, the bounded queue and its writer.
pub(crate) mod log;
// The agent itself: state, requests, keys, lock, confirm, the accept loop.
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
