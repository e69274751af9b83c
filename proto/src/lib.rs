//! The CloudHSM MFA protocol without I/O: token files, the signing rule, and the ssh-agent
//! wire protocol with our token-signing extension.
//!
//! Everything here works on byte slices. The agent, the wrapper and the tests depend on this
//! crate and never on each other, so the format has one definition.

pub mod cert;
pub mod client;
pub mod constraint;
pub mod error;
pub mod extensions;
pub mod forwarding;
pub mod ids;
pub mod key;
pub mod message;
pub mod pkcs11;
pub mod purpose;
pub mod response;
pub mod signing;
pub mod tokenfile;
pub mod wire;

pub use error::{Error, Result};
