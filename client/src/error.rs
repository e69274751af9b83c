//! The client crate's one error type. Each variant's `Display` is the line after `error: `;
//! [`Error::hint`] is what the user can do about it.

use std::path::PathBuf;

use crate::discover::{SOCKET_VARIABLE, SSH_SOCKET_VARIABLE};

/// Everything finding the agent, talking to it, choosing a key and reading a secret file
/// can fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{SOCKET_VARIABLE} is not set, so there is no agent to talk to")]
    NoAgentVariable,
    #[error(
        "no agent was forwarded to this ssh session, and the home folder {} is {} bytes: \
         OpenSSH 10.1 and later make a forwarded agent's socket in ~/.ssh/agent/, which fits a \
         Unix socket's path only under a home of at most {} bytes",
        home.display(),
        home.as_os_str().len(),
        crate::discover::longest_home_for_forwarding()
    )]
    HomeTooLongToForward { home: PathBuf },
    #[error("cannot reach mfa-agent at {path}: {}", crate::report::plain(source))]
    NoAgent {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the agent socket {path} is served by {owner}, not by you or root: not talking to it")]
    ForeignAgent { path: PathBuf, owner: String },
    #[error(
        "{SOCKET_VARIABLE} is not set and the agent at {SSH_SOCKET_VARIABLE} ({path}) is not \
         mfa-agent (it does not offer token signing)"
    )]
    NotMfaAgent { path: PathBuf },
    #[error("the agent at this socket is a plain ssh-agent, not mfa-agent: it cannot sign CloudHSM tokens")]
    PlainAgent,
    #[error("mfa-agent did not answer: {}", crate::report::plain(.0))]
    AgentIo(#[source] proto::Error),
    #[error("mfa-agent holds no RSA key")]
    NoKeys,
    #[error("mfa-agent is locked")]
    Locked,
    #[error("mfa-agent holds no key for CloudHSM tokens, only {}", crate::report::count(*.0, "SSH key"))]
    OnlySshKeys(usize),
    #[error("mfa-agent holds {count} RSA keys and --key does not choose one")]
    SeveralKeys {
        count: usize,
        /// Each key's fingerprint and comment ("SHA256:... officer1.key"), comma-separated.
        fingerprints: String,
    },
    #[error("no key in mfa-agent matches --key {0}")]
    NoSuchKey(String),
    #[error("--key {0} matches more than one key in mfa-agent")]
    AmbiguousKey(String),
    #[error("mfa-agent refused to sign the tokens{}", .0.as_ref().map_or(String::new(), |r| format!(": {}", r.text)))]
    SignRefused(Option<Refusal>),
    /// The agent answered FAILURE to a request other than token signing.
    #[error("the agent refused to {0}")]
    Refused(String),
    #[error("mfa-agent returned a signature that does not verify with the key")]
    BadSignature,
    #[error("{what} {path}: {problem}")]
    SecretFile {
        what: &'static str,
        path: PathBuf,
        problem: SecretProblem,
    },
}

/// What is wrong with a secret file.
#[derive(Debug, thiserror::Error)]
pub enum SecretProblem {
    #[error("cannot read it: {}", crate::report::plain(.0))]
    Unreadable(#[source] std::io::Error),
    #[error("{0}")]
    Untrusted(#[source] crate::files::Unsafe),
    #[error("others can read it (mode {0:03o}); it must be mode 0600 or stricter")]
    OthersMayRead(u32),
    #[error("its first line is empty; it must hold the secret")]
    Empty,
    #[error("it is not a plain file of at most 64 KiB")]
    NotASmallFile,
}

/// The agent's log, named in hints with where a forked agent keeps it by default (the
/// default of `mfa-agent --log-file`).
pub const AGENT_LOG: &str = "the agent's log (by default ~/.local/state/cloudhsm-mfa/agent.log)";

impl Error {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            Error::NoAgentVariable | Error::NoAgent { .. } => {
                "start an agent and load your key: eval \"$(mfa-agent --reuse)\"; mfa-add KEY (on \
                 a remote host, forward it: ssh -o 'ForwardAgent=${MFA_AUTH_SOCK}' HOST)"
                    .to_owned()
            }
            Error::HomeTooLongToForward { .. } => "forward mfa-agent with ssh -R into a short \
                 path in a folder of yours on this host and set MFA_AUTH_SOCK to it here (see \
                 docs/remote.md), or log in as a user with a shorter home folder"
                .to_owned(),
            Error::ForeignAgent { .. } => "someone else may have taken that socket name: \
                 point MFA_AUTH_SOCK at your own agent's socket; with ssh -R, forward into a \
                 folder of yours (not /tmp) with -o ExitOnForwardFailure=yes"
                .to_owned(),
            Error::NotMfaAgent { .. } => format!(
                "forward mfa-agent instead of this agent: ssh -o 'ForwardAgent=${{{SOCKET_VARIABLE}}}' \
                 HOST, or set {SOCKET_VARIABLE} to mfa-agent's socket"
            ),
            Error::PlainAgent => format!(
                "set {SOCKET_VARIABLE} to mfa-agent's socket (eval \"$(mfa-agent)\"), or on a \
                 remote host forward mfa-agent: ssh -o 'ForwardAgent=${{{SOCKET_VARIABLE}}}' HOST"
            ),
            Error::AgentIo(_) => "check that mfa-agent is still running".to_owned(),
            Error::NoKeys => {
                "load your MFA key first: mfa-add KEY (a locked agent lists none: mfa-add -X)"
                    .to_owned()
            }
            Error::Locked => "unlock it: mfa-add -X".to_owned(),
            Error::OnlySshKeys(_) => "load your MFA key with mfa-add KEY: mfa-add adds keys for \
                                      CloudHSM tokens, ssh-add adds keys for SSH only"
                .to_owned(),
            Error::SeveralKeys { fingerprints, .. } => {
                format!("choose one with --key FINGERPRINT or --key COMMENT ({fingerprints})")
            }
            Error::NoSuchKey(_) | Error::AmbiguousKey(_) => {
                "list the loaded keys with `mfa-add -l`".to_owned()
            }
            Error::SignRefused(Some(refusal)) => refusal.hint(),
            Error::SignRefused(None) => format!(
                "the agent is locked (unlock it: mfa-add -X), the key is gone, its use was \
                 not confirmed (a mfa-add -c key needs MFA_ASKPASS where the agent runs), or it \
                 may not be used through this forwarded agent (mfa-add --forwarded, ssh-add -h); \
                 {AGENT_LOG} says which"
            ),
            Error::Refused(_) => format!("{AGENT_LOG} says why"),
            Error::BadSignature => "restart mfa-agent and load the key again".to_owned(),
            Error::SecretFile { problem, path, .. } => match problem {
                SecretProblem::OthersMayRead(_) => format!("chmod 600 {}", path.display()),
                SecretProblem::Empty => "put the secret on the file's first line".to_owned(),
                SecretProblem::Untrusted(err) => err.hint(),
                SecretProblem::Unreadable(_) | SecretProblem::NotASmallFile => {
                    "check the path and its permissions".to_owned()
                }
            },
        }
    }
}

/// Why mfa-agent refused a request, as it says when asked on the same connection
/// (`why@cloudhsm-mfa`): the cause's name and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub text: String,
    /// The PKCS#11 provider a token cause is about; empty otherwise.
    pub provider: String,
}

impl Refusal {
    /// What to do about this cause.
    pub fn hint(&self) -> String {
        match self.code.as_str() {
            "locked" => "unlock it: mfa-add -X".to_owned(),
            "no-key" => "the key is gone (removed, or its lifetime ran out): load it again with \
                         mfa-add KEY"
                .to_owned(),
            "purpose" => "that key is an SSH key (ssh-add adds keys so): load your MFA key with \
                          mfa-add KEY"
                .to_owned(),
            "forwarding" => "the key may not be used through this forwarded agent (its mfa-add \
                             --forwarded policy or ssh-add -h hosts): sign where the agent runs, \
                             or add it with the policy you need"
                .to_owned(),
            "confirmation" => "the use needed your confirmation where the agent runs: answer its \
                               askpass question (the agent needs MFA_ASKPASS or SSH_ASKPASS and \
                               a display), then try again"
                .to_owned(),
            "signing" => format!("the key could not sign: {AGENT_LOG} says which"),
            code => match proto::pkcs11::Pkcs11Cause::parse(code) {
                Some(cause) => crate::pkcs11_hint::hint(cause, &self.provider, None),
                None => format!("{AGENT_LOG} says which"),
            },
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
