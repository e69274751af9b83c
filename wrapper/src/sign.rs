//! mfa-sign: one token file signed through the agent, by the CloudHSM rule, and rewritten
//! (or written to a new file); a quorum approval shown and confirmed on a terminal first.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use proto::tokenfile::TokenFileKind;

use crate::token_sign::{Durability, Fill, LoadedTokenFile};
use crate::Error;

/// What to sign, and how.
#[derive(Debug, Clone)]
pub struct Request {
    /// The agent key: a fingerprint (or a prefix of one) or its comment.
    pub key: Option<String>,
    /// A new file to write instead of rewriting `file`.
    pub output: Option<PathBuf>,
    /// The approver's user name, for a quorum approval token file.
    pub approver: Option<String>,
    /// Sign a file whose tokens already carry signatures.
    pub force: bool,
    /// Do not ask before signing a quorum approval.
    pub yes: bool,
    /// How long to wait for the agent's answer.
    pub timeout: Duration,
    pub file: PathBuf,
}

/// Why nothing was signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Sign(#[from] Error),
    #[error("cannot ask about the quorum approval on the terminal: {0}")]
    Terminal(#[source] std::io::Error),
    #[error("not signed: the approval was declined")]
    Declined,
}

impl client::Hinted for SignError {
    fn hint(&self) -> Option<String> {
        match self {
            SignError::Sign(err) => Some(err.hint()),
            SignError::Terminal(_) => Some("answer with -y to sign without asking".to_owned()),
            SignError::Declined => None,
        }
    }
}

impl From<client::Error> for SignError {
    fn from(err: client::Error) -> Self {
        SignError::Sign(err.into())
    }
}

/// Signs the file; returns the line that says what was done.
pub fn run(args: &Request) -> Result<String, SignError> {
    let mut agent = client::Agent::from_env(args.timeout)?.connect()?;
    let loaded = LoadedTokenFile::read(&args.file)?;
    if !args.force {
        loaded.check_unsigned()?;
    }
    let key = agent.choose_key(args.key.as_deref())?;
    loaded.check_approver(args.approver.as_deref())?;
    if loaded.file.kind() == TokenFileKind::QuorumApproval {
        let on_terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if on_terminal && !args.yes && !confirm_approval(&loaded).map_err(SignError::Terminal)? {
            return Err(SignError::Declined);
        }
    }
    let signed = loaded.sign_and_write(
        &mut agent,
        &key,
        Fill {
            approver: args.approver.as_deref(),
            // createUser and changePswd need the new key there; a filled one is checked.
            public_key: true,
            about: &format!(
                "mfa-sign: the {} {}{}",
                loaded.file.kind().describe(),
                loaded.path.display(),
                // What a quorum approval approves, as an approver compares it.
                loaded
                    .file
                    .approval_data()
                    .map_or_else(String::new, |data| {
                        let digest = <sha2::Sha256 as sha2::Digest>::digest(&data);
                        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                        format!(" (approval data SHA-256 {hex})")
                    })
            ),
        },
        args.output.as_deref(),
        Durability::Synced,
    )?;
    Ok(format!(
        "mfa-sign: signed {} of the {} with {}; wrote {}",
        crate::text::count(signed.tokens, "token"),
        signed.kind.describe(),
        key.fingerprint,
        signed.path.display()
    ))
}

/// Shows what a quorum approval approves and asks before signing it.
fn confirm_approval(loaded: &LoadedTokenFile) -> std::io::Result<bool> {
    let data = loaded.file.approval_data().unwrap_or_default();
    let mut err = std::io::stderr().lock();
    writeln!(err, "Quorum approval data ({} bytes):", data.len())?;
    for chunk in data.chunks(16) {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(err, "  {:<48} {text}", hex.join(" "))?;
    }
    write!(err, "Sign this approval? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
