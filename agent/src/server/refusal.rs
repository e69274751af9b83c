//! Why the agent refused a request: one typed cause each. The agent logs its words and answers
//! FAILURE (the ssh-agent protocol carries no reason); our own clients then ask on the same
//! connection (`why@cloudhsm-mfa`) and say the cause, with the hint that fits it, instead of
//! guessing among five.

use std::fmt;

use proto::pkcs11::Pkcs11Cause;

use crate::backend::{KeyBackend, SignError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The agent is locked.
    Locked,
    /// An unlock of an agent that is not locked.
    NotLocked,
    /// The key is not (or no longer) held.
    NoKey(String),
    /// The key's purpose forbids this use (a token key asked for SSH, or the reverse).
    Purpose(String),
    /// Where the request came from forbids it (`--forwarded deny`, `ssh-add -h`).
    Forwarding(String),
    /// The use needed a confirmation that was declined, not given in time, or cannot be asked.
    Confirmation(String),
    /// The key's device or backend failed to sign (a token removed, say).
    Signing(String),
    /// A PKCS#11 provider or token failed (or may not be loaded): its cause is the code, so
    /// that clients name it; `provider` is its real path.
    Pkcs11 {
        cause: Pkcs11Cause,
        text: String,
        provider: String,
    },
    /// A wrong unlock passphrase.
    Passphrase(String),
    /// Anything else wrong with the request.
    Request(String),
}

impl Refusal {
    /// The same cause, its words prefixed with the key it is about.
    pub(crate) fn about(self, fingerprint: &str) -> Refusal {
        let said = |why: String| format!("{fingerprint}: {why}");
        match self {
            Refusal::NoKey(why) => Refusal::NoKey(said(why)),
            Refusal::Purpose(why) => Refusal::Purpose(said(why)),
            Refusal::Forwarding(why) => Refusal::Forwarding(said(why)),
            Refusal::Confirmation(why) => Refusal::Confirmation(said(why)),
            Refusal::Signing(why) => Refusal::Signing(said(why)),
            Refusal::Pkcs11 {
                cause,
                text,
                provider,
            } => Refusal::Pkcs11 {
                cause,
                text: said(text),
                provider,
            },
            Refusal::Passphrase(why) => Refusal::Passphrase(said(why)),
            Refusal::Request(why) => Refusal::Request(said(why)),
            other => other,
        }
    }

    /// A signature that failed: a token's cause stays typed.
    pub(crate) fn signing(e: SignError, signer: &dyn KeyBackend) -> Refusal {
        match e {
            SignError::Token(failure) => Refusal::Pkcs11 {
                cause: failure.cause,
                text: format!("signing failed: {}", failure.text),
                provider: signer
                    .provider()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            },
            other => Refusal::Signing(format!("signing failed: {other}")),
        }
    }

    /// The provider a PKCS#11 cause is about; empty for other causes.
    pub(crate) fn provider(&self) -> &str {
        match self {
            Refusal::Pkcs11 { provider, .. } => provider,
            _ => "",
        }
    }

    /// The cause's name for our clients (see `client::Refusal`).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Refusal::Locked => "locked",
            Refusal::NotLocked => "not-locked",
            Refusal::NoKey(_) => "no-key",
            Refusal::Purpose(_) => "purpose",
            Refusal::Forwarding(_) => "forwarding",
            Refusal::Confirmation(_) => "confirmation",
            Refusal::Signing(_) => "signing",
            Refusal::Pkcs11 { cause, .. } => cause.as_str(),
            Refusal::Passphrase(_) => "passphrase",
            Refusal::Request(_) => "request",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Locked => f.write_str("the agent is locked"),
            Refusal::NotLocked => f.write_str("the agent is not locked"),
            Refusal::NoKey(why)
            | Refusal::Purpose(why)
            | Refusal::Forwarding(why)
            | Refusal::Confirmation(why)
            | Refusal::Signing(why)
            | Refusal::Pkcs11 { text: why, .. }
            | Refusal::Passphrase(why)
            | Refusal::Request(why) => f.write_str(why),
        }
    }
}

/// A request's own problem, in words (a malformed binding, a bad key, ...).
impl From<String> for Refusal {
    fn from(why: String) -> Self {
        Refusal::Request(why)
    }
}
