//! The client side of mfa-agent, shared by mfa-add, mfa-login and mfa-sign: one place that
//! finds the agent, one connection type with typed calls, one key chooser, one reader of
//! secret files, the exit-status conventions, and one function that prints every program's
//! errors the same way.
//!
//! - [`discover`]: `MFA_AUTH_SOCK`, else a forwarded mfa-agent at `SSH_AUTH_SOCK`.
//! - [`connection`]: [`Connection`], typed requests over one stream.
//! - [`keys`]: the agent's RSA keys and `--key` selection.
//! - [`pkcs11_hint`]: what to do about each PKCS#11 cause the agent names.
//! - [`secret`]: `--password-file`, `--passphrase-file`, `--pin-file`.
//! - `verify`: every token signature checked through OpenSSL before it is used.
//! - [`files`]: token, key, secret and log files opened the way OpenSSH's `safe_path()` does.
//! - [`exit`]: exit statuses shared by the programs.
//! - [`report`](mod@report): `PROG: error: ...` / `hint: ...`.
//! - `sys`: the platform parts (the socket, file modes).

pub mod connection;
pub mod discover;
pub mod error;
pub mod exit;
pub mod files;
pub mod keys;
pub mod pkcs11_hint;
pub mod report;
pub mod secret;
mod sys;
mod untrusted;
mod verify;

pub use connection::{AgentKind, Connection};

/// How long the agent waits for a person to answer a confirmation (`mfa-add -c`, `ssh-add -c`,
/// `--forwarded confirm`) before it refuses the request.
pub const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// How long a client waits for each reply of the agent when not told otherwise: any reply
/// may wait for a confirmation, so the agent's own limit and a margin to say no.
pub const AGENT_TIMEOUT: std::time::Duration =
    std::time::Duration::from_secs(CONFIRM_TIMEOUT.as_secs() + 10);
pub use discover::{Agent, SOCKET_VARIABLE, SSH_SOCKET_VARIABLE};
pub use error::{Error, Result};
pub use keys::AgentKey;
pub use report::{parse_args, report, Hinted};

/// Process hardening every program calls as it starts, before it holds a secret: other
/// processes of the same user cannot trace it or read its memory (a password, a passphrase,
/// a key), and a crash writes no core file. mfa-login calls [`harden::forbid_tracing`] first
/// and [`harden::no_core_files`] once COMMAND runs, so COMMAND keeps its core limit.
pub mod harden {
    pub use crate::sys::{forbid_tracing, no_core_files};

    /// Both, for a program that starts no other.
    pub fn all() -> std::io::Result<()> {
        forbid_tracing()?;
        no_core_files()
    }
}

/// Starts OpenSSL now (it reads its configuration and loads its default provider on first
/// use, about a millisecond) rather than at the first signature check, which a prompt would
/// wait for. mfa-login calls it as it starts.
pub fn prepare_crypto() {
    let _ = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), b"");
}

/// Sets up the check of `key`'s signatures now and keeps it with the key, so that the check
/// at the token prompt finds it ready: the first set-up in a process cost about a
/// millisecond on this project's VM, and any set-up after the machine idled about 0.3 ms, as
/// much as checking seven signatures. mfa-login calls it for the agent's keys at the
/// password prompt.
pub fn prepare_check(key: &AgentKey) {
    if let Some(mut verifier) = key.check() {
        let _ = verifier.verifies(&[0; proto::signing::TOKEN_LEN], &[]);
    }
}
