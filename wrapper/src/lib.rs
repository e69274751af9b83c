//! mfa-login and mfa-sign: answer CloudHSM's token-sign MFA prompts with signatures made by
//! mfa-agent, so a login needs no private key on disk and no copy and paste.
//!
//! The binaries in `src/bin/` only parse arguments; the logic lives here.
//!
//! - [`token_sign`]: reads a token file, signs it through the agent, rewrites it atomically.
//! - [`prompt`]: recognises the CLI's prompts in a stream of terminal output.
//! - [`line_tracker`]: rebuilds the command line a user typed, to find its `--token`.
//! - [`pty`], [`terminal`], [`signals`]: the platform parts (Unix PTY, raw mode, signals).
//! - [`session`]: mfa-login's loop tying them together (`session::answers`: what it types);
//!   [`login`]: its configuration.
//! - [`transcript`]: the `--debug` transcript, with typed secrets redacted.

pub mod command;
pub mod error;
pub mod line_tracker;
pub mod login;
pub mod prompt;
pub mod pty;
pub mod session;
pub mod signals;
pub mod terminal;
pub mod text;
pub mod token_sign;
pub mod transcript;

pub use error::{Error, Result};
