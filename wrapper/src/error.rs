//! The wrapper's error type: each variant is one line for the user, with a hint: for mfa-sign
//! what to do about it, for mfa-login also how to finish the login by hand.

use std::path::{Path, PathBuf};

/// Everything mfa-login and mfa-sign can fail at. The `Display` text is the one line the user
/// sees after `error: `; [`Error::hint`] says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Finding the agent, talking to it or choosing its key.
    #[error(transparent)]
    Agent(#[from] client::Error),
    #[error("cannot read the token file {path}: {}", client::report::plain(source))]
    ReadTokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A token file, or the folder it is in, that someone else could have written.
    #[error("not signed: {0}")]
    Untrusted(#[from] client::files::Unsafe),
    #[error("{path}: {source}")]
    BadTokenFile { path: PathBuf, source: proto::Error },
    #[error("{path} was not written for this login (it is older than the command)")]
    StaleTokenFile { path: PathBuf },
    #[error("{path} is already signed")]
    AlreadySigned { path: PathBuf },
    #[error("cannot write {path}: {}", client::report::plain(source))]
    WriteTokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} names another public key than {fingerprint}, the key that would sign it")]
    AuthDataKeyMismatch { path: PathBuf, fingerprint: String },
    #[error("cannot tell which token file to sign")]
    NoTokenFile,
    #[error("cannot write the public key file for change-mfa: {}", client::report::plain(.0))]
    PublicKeyFile(#[source] std::io::Error),
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
            Error::Agent(err) => err.hint(),
            Error::ReadTokenFile { .. } => "check the path and its permissions".to_owned(),
            Error::Untrusted(err) => err.hint(),
            Error::WriteTokenFile { source, .. } if disk_full(source) => {
                "the file system is full: free some space, or write elsewhere with -o OUT (the \
                 original is untouched)"
                    .to_owned()
            }
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
            Error::AuthDataKeyMismatch { .. } => {
                "sign it with the key its PublicKey names (--key FP)".to_owned()
            }
            Error::PublicKeyFile(_) => "check that the temporary folder is writable".to_owned(),
        }
    }
}

impl Error {
    /// What the user can do about it at the prompt mfa-login leaves to them, ending with how
    /// to finish the login by hand: sign the token file with mfa-sign, or type the public
    /// key's path, then press Enter. One line, like every mfa-login message.
    pub fn hint_at_prompt(&self, prompt: ByHand, key_option: &str) -> String {
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
            Error::Agent(client::Error::SeveralKeys { fingerprints, .. }) => format!(
                "choose the right key ({fingerprints}): {}; next time run \
                 mfa-login {key_option} FP",
                finish("--key FP ")
            ),
            Error::Agent(client::Error::NoSuchKey(_) | client::Error::AmbiguousKey(_)) => {
                format!(
                    "list the loaded keys with mfa-add -l, then {}",
                    finish("--key FP ")
                )
            }
            Error::Agent(err) => then(&err.hint()),
            Error::ReadTokenFile { .. } => then("check the path and its permissions"),
            Error::Untrusted(err) => format!(
                "{}; do not sign a file you did not make: press ^C and start the login again with \
                 its --token in such a folder",
                err.hint()
            ),
            Error::WriteTokenFile { source, .. } if disk_full(source) => {
                then("the file system is full: free some space")
            }
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
            Error::AuthDataKeyMismatch { .. } => then("choose the key its PublicKey names"),
            Error::NoTokenFile => format!(
                "{} (FILE is the login's --token); next time run mfa-login --token-file FILE",
                finish("")
            ),
            Error::PublicKeyFile(_) => then("check that the temporary folder is writable"),
        }
    }
}

/// The write failed because the file system is full (ENOSPC), not for want of permission.
fn disk_full(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::StorageFull
}

impl client::Hinted for Error {
    fn hint(&self) -> Option<String> {
        Some(Error::hint(self))
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
            client::Error::NoAgentVariable.into(),
            client::Error::NoAgent {
                path: path(),
                source: io(),
            }
            .into(),
            client::Error::AgentIo(proto::Error::Truncated).into(),
            client::Error::NoKeys.into(),
            client::Error::Locked.into(),
            client::Error::SeveralKeys {
                count: 2,
                fingerprints: "SHA256:a, SHA256:b".into(),
            }
            .into(),
            client::Error::NoSuchKey("x".into()).into(),
            client::Error::AmbiguousKey("x".into()).into(),
            client::Error::SignRefused(None).into(),
            client::Error::BadSignature.into(),
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
        ];
        let file = path();
        for err in &errors {
            let hint = err.hint_at_prompt(ByHand::SignTokens(Some(&file)), "--key");
            assert!(!hint.contains('\n'), "{hint}");
            assert!(
                hint.contains("mfa-sign ") && hint.contains("/tmp/t.json, and press Enter"),
                "{err}: {hint}"
            );
            let hint = err.hint_at_prompt(ByHand::PublicKey, "--key");
            assert!(hint.contains("public key PEM"), "{err}: {hint}");
        }
        let hint = Error::NoTokenFile.hint_at_prompt(ByHand::SignTokens(None), "--key");
        assert!(hint.contains("mfa-sign FILE, and press Enter"), "{hint}");
    }
}
