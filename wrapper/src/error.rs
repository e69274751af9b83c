//! The wrapper's error type: each variant is one line for the user, with a hint: for mfa-sign
//! what to do about it, for mfa-login also how to finish the login by hand.

use std::path::{Path, PathBuf};

/// Everything mfa-login and mfa-sign can fail at. The `Display` text is the one line the user
/// sees after `error: `; [`Error::hint`] says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("MFA_AUTH_SOCK is not set, so there is no agent to sign with")]
    NoAgentVariable,
    #[error("cannot reach mfa-agent at {path}: {source}")]
    NoAgent {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mfa-agent did not answer: {0}")]
    AgentIo(#[source] proto::Error),
    #[error("mfa-agent holds no RSA key")]
    NoKeys,
    #[error("mfa-agent is locked")]
    Locked,
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
    #[error("mfa-agent refused to sign the tokens")]
    AgentRefused,
    #[error("mfa-agent returned a signature that does not verify with the key")]
    BadSignature,
    #[error("cannot read the token file {path}: {source}")]
    ReadTokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    BadTokenFile { path: PathBuf, source: proto::Error },
    #[error("{path} was not written for this login (it is older than the command)")]
    StaleTokenFile { path: PathBuf },
    #[error("{path} is already signed")]
    AlreadySigned { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    WriteTokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot tell which token file to sign")]
    NoTokenFile,
    #[error("cannot write the public key file for change-mfa: {0}")]
    PublicKeyFile(#[source] std::io::Error),
    #[error(
        "the last login as {username} with key {fingerprint} was rejected; not answering again"
    )]
    LoginRejectedBefore {
        username: String,
        fingerprint: String,
    },
}

/// The prompt mfa-login left to the user, for the hint on finishing by hand.
#[derive(Debug, Clone, Copy)]
pub enum ByHand<'a> {
    /// The signed-token-file prompt, with the token file when it is known.
    SignTokens(Option<&'a Path>),
    /// change-mfa's public-key prompt.
    PublicKey,
}

impl Error {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            Error::NoAgentVariable | Error::NoAgent { .. } => {
                "start an agent with `eval $(mfa-agent)` and load your key with `mfa-add KEY`"
                    .to_owned()
            }
            Error::AgentIo(_) => "check that mfa-agent is still running".to_owned(),
            Error::NoKeys => {
                "load your MFA key first: mfa-add KEY (a locked agent lists none: mfa-add -X)"
                    .to_owned()
            }
            Error::Locked => "unlock it: mfa-add -X".to_owned(),
            Error::SeveralKeys { fingerprints, .. } => {
                format!("choose one with --key FINGERPRINT or --key COMMENT ({fingerprints})")
            }
            Error::NoSuchKey(_) | Error::AmbiguousKey(_) => {
                "list the loaded keys with `mfa-add -l`".to_owned()
            }
            Error::AgentRefused => format!(
                "the agent is locked (unlock it: mfa-add -X), the key is gone, or its use was \
                 not confirmed (a mfa-add -c key needs MFA_ASKPASS where the agent runs); \
                 {AGENT_LOG_SAYS}"
            ),
            Error::BadSignature => "restart mfa-agent and load the key again".to_owned(),
            Error::ReadTokenFile { .. } => "check the path and its permissions".to_owned(),
            Error::WriteTokenFile { .. } => "the file is rewritten through a temporary file \
                                              beside it: its folder must be writable (or write \
                                              elsewhere with -o OUT)"
                .to_owned(),
            Error::BadTokenFile { source, .. } => match source {
                proto::Error::ApproverRequired => {
                    "add --approver YOUR_CLOUDHSM_USER_NAME to approve as that user".to_owned()
                }
                proto::Error::ApprovalMismatch { .. } => {
                    "the token is not the digest of what it claims to approve: do not sign it; \
                     ask for a new token file"
                        .to_owned()
                }
                _ => "the file must be a token file written by cloudhsm-cli, unchanged".to_owned(),
            },
            Error::StaleTokenFile { .. } => {
                "it may be left from an earlier login; sign it yourself if you are sure".to_owned()
            }
            Error::AlreadySigned { .. } => {
                "it may be left from an earlier login (mfa-sign --force signs it again)".to_owned()
            }
            Error::NoTokenFile => "name it with --token-file FILE".to_owned(),
            Error::PublicKeyFile(_) => "check that the temporary folder is writable".to_owned(),
            Error::LoginRejectedBefore { .. } => "load the right key (mfa-add KEY)".to_owned(),
        }
    }
}

/// Where a forked agent's log says why it refused (the default of `mfa-agent --log-file`).
const AGENT_LOG_SAYS: &str = "the agent's log says which (by default \
                              ~/.local/state/cloudhsm-mfa/agent.log)";

impl Error {
    /// What the user can do about it at the prompt mfa-login leaves to them, ending with how
    /// to finish the login by hand: sign the token file with mfa-sign, or type the public
    /// key's path, then press Enter. One line, like every mfa-login message.
    pub fn hint_at_prompt(&self, prompt: ByHand) -> String {
        let file = match prompt {
            ByHand::SignTokens(Some(path)) => path.display().to_string(),
            _ => "FILE".to_owned(),
        };
        let finish = |key: &str| match prompt {
            ByHand::SignTokens(_) => {
                format!("sign it yourself: mfa-sign {key}{file}, and press Enter")
            }
            ByHand::PublicKey => "type the path of its public key PEM (mfa-add -L > key.pem) and \
                 press Enter"
                .to_owned(),
        };
        let then = |first: &str| format!("{first}, then {}", finish(""));
        match self {
            Error::NoAgentVariable | Error::NoAgent { .. } => then(
                "in another terminal start an agent and load your MFA key (eval $(mfa-agent); \
                 mfa-add KEY)",
            ),
            Error::AgentIo(_) => then("check that mfa-agent is still running"),
            Error::NoKeys => {
                then("load your MFA key (mfa-add KEY; a locked agent lists none: mfa-add -X)")
            }
            Error::Locked => then("unlock it in another terminal (mfa-add -X)"),
            Error::SeveralKeys { fingerprints, .. } => format!(
                "choose the right key ({fingerprints}): {}; next time run \
                 mfa-login --key FP",
                finish("--key FP ")
            ),
            Error::NoSuchKey(_) | Error::AmbiguousKey(_) => format!(
                "list the loaded keys with mfa-add -l, then {}",
                finish("--key FP ")
            ),
            Error::AgentRefused => then(&format!(
                "unlock the agent (mfa-add -X), load the key again, or confirm its use; \
                 {AGENT_LOG_SAYS}"
            )),
            Error::BadSignature => then("restart mfa-agent and load the key again (mfa-add KEY)"),
            Error::ReadTokenFile { .. } => then("check the path and its permissions"),
            Error::WriteTokenFile { .. } if matches!(prompt, ByHand::SignTokens(_)) => {
                let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
                format!(
                    "{}; or sign a copy elsewhere: mfa-sign -o {home}/signed.json {file}, then \
                     type {home}/signed.json and press Enter",
                    then("it is rewritten beside itself, so make its folder writable")
                )
            }
            Error::WriteTokenFile { .. } => then("check the path and its permissions"),
            Error::BadTokenFile { .. } => {
                "it is not a token file as cloudhsm-cli writes it: press ^C and start the login \
                 again"
                    .to_owned()
            }
            Error::StaleTokenFile { .. } => format!(
                "it may be left from an earlier login; if it is this login's, {}",
                finish("")
            ),
            Error::AlreadySigned { .. } => format!(
                "it may be left from an earlier login; if it is this login's, {}",
                finish("--force ")
            ),
            Error::NoTokenFile => format!(
                "{} (FILE is the login's --token); next time run mfa-login --token-file FILE",
                finish("")
            ),
            Error::PublicKeyFile(_) => then("check that the temporary folder is writable"),
            Error::LoginRejectedBefore { .. } => format!(
                "load the right key in place of this one (mfa-add -d KEY; mfa-add RIGHT-KEY) and \
                 log in again, or {}",
                finish("--key FP ")
            ),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> std::io::Error {
        std::io::Error::other("x")
    }

    #[test]
    fn every_hint_at_a_prompt_says_how_to_finish_by_hand_on_one_line() {
        let path = || PathBuf::from("/tmp/t.json");
        let errors = [
            Error::NoAgentVariable,
            Error::NoAgent {
                path: path(),
                source: io(),
            },
            Error::AgentIo(proto::Error::Truncated),
            Error::NoKeys,
            Error::Locked,
            Error::SeveralKeys {
                count: 2,
                fingerprints: "SHA256:a, SHA256:b".into(),
            },
            Error::NoSuchKey("x".into()),
            Error::AmbiguousKey("x".into()),
            Error::AgentRefused,
            Error::BadSignature,
            Error::ReadTokenFile {
                path: path(),
                source: io(),
            },
            Error::StaleTokenFile { path: path() },
            Error::AlreadySigned { path: path() },
            Error::WriteTokenFile {
                path: path(),
                source: io(),
            },
            Error::PublicKeyFile(io()),
            Error::LoginRejectedBefore {
                username: "u".into(),
                fingerprint: "SHA256:a".into(),
            },
        ];
        let file = path();
        for err in &errors {
            let hint = err.hint_at_prompt(ByHand::SignTokens(Some(&file)));
            assert!(!hint.contains('\n'), "{hint}");
            assert!(
                hint.contains("mfa-sign ") && hint.contains("/tmp/t.json, and press Enter"),
                "{err}: {hint}"
            );
            let hint = err.hint_at_prompt(ByHand::PublicKey);
            assert!(hint.contains("public key PEM"), "{err}: {hint}");
        }
        let hint = Error::NoTokenFile.hint_at_prompt(ByHand::SignTokens(None));
        assert!(hint.contains("mfa-sign FILE, and press Enter"), "{hint}");
    }
}
