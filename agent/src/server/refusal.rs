//! Why the agent refused a request: one typed cause each. The agent logs its words and answers
//! FAILURE (the ssh-agent protocol carries no reason); our own clients then ask on the same
//! connection (`why@cloudhsm-mfa`) and say the cause, with the hint that fits it, instead of
//! guessing among five.

use std::fmt;

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
    /// A PKCS#11 provider that may not be loaded, or failed to load.
    Provider(String),
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
            Refusal::Provider(why) => Refusal::Provider(said(why)),
            Refusal::Passphrase(why) => Refusal::Passphrase(said(why)),
            Refusal::Request(why) => Refusal::Request(said(why)),
            other => other,
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
            Refusal::Provider(_) => "provider",
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
            | Refusal::Provider(why)
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
