//! mfa-login and mfa-sign: answer CloudHSM's token-sign MFA prompts with signatures made by
//! mfa-agent, so a login needs no private key on disk and no copy and paste.
//!
//! The binaries in `src/bin/` only parse arguments; the logic lives here.
//!
//! - [`token_sign`]: reads a token file, signs it through the agent, rewrites it atomically.
//! - [`prompt`]: recognises the CLI's prompts in a stream of terminal output.
//! - [`command`]: the CloudHSM command a line or COMMAND's arguments ask for, and its
//!   `--token`; `line_tracker` rebuilds the command line a user typed.
//! - [`session`]: mfa-login's session: a core with no I/O deciding, a loop carrying it out
//!   (`session::answers`: what it types); [`login`]: its configuration.
//! - [`sign`]: mfa-sign's work, one token file signed.
//! - [`doctor`]: mfa-doctor's findings: would a login work here, and if not, why.
//! - [`transcript`]: the `--debug` transcript, with typed secrets redacted.
//! - `sys`: the platform boundary (PTY, terminal modes, signals, file modes), the only place
//!   that speaks Unix.
//!
//! [`prompt`] and [`command`] are public for the fuzz targets (`fuzz/`), which feed them
//! arbitrary bytes.

pub mod command;
pub mod config;
pub mod doctor;
mod error;
pub(crate) mod line_tracker;
pub mod login;
pub mod prompt;
pub mod session;
pub mod sign;
pub(crate) mod sys;
pub mod text;
pub mod token_sign;
pub mod transcript;

pub use error::{Error, Result};

/// What `--version` prints after the program's name. mfa-login and mfa-sign make no signature
/// themselves: the agent does, and `mfa-agent --version` names its crypto backend.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (signing: by mfa-agent, see mfa-agent --version)"
);
