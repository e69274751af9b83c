//! mfa-sign's command line and what it does with it: sign one token file through the agent.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use cloudhsm_mfa_wrapper::login::AGENT_TIMEOUT;
use cloudhsm_mfa_wrapper::token_sign::{Durability, Fill, LoadedTokenFile};
use cloudhsm_mfa_wrapper::Error;
use proto::tokenfile::TokenFileKind;

const AFTER_HELP: &str = "\
Signs every token of FILE with the agent's key, by the CloudHSM rule (the same bytes as
`openssl pkeyutl -sign -pkeyopt digest:sha256`), and rewrites FILE in place (or writes OUT,
a new one 0600), atomically and with its permissions kept (less group/other write). FILE must
be your own regular file, not a link, not writable by others, in folders only you (or root)
can write: anything else is refused before the agent is asked. Handles the MFA login / change-mfa token file, the
quorum registration and quorum approval token files, and cloudhsm_mgmt_util authdata files.
A quorum approval needs --approver; on a terminal the approval data is shown first.

The agent is found through $MFA_AUTH_SOCK.

Exit status: 0 signed; 1 nothing was written (the error says why); 2 bad arguments.";

#[derive(clap::Parser, Debug)]
#[command(name = "mfa-sign", version = cloudhsm_mfa_wrapper::VERSION, about = "Sign a CloudHSM token file through mfa-agent", after_help = AFTER_HELP)]
pub struct Args {
    /// The agent key to sign with: a SHA256: fingerprint (or a prefix of one) or its comment.
    /// Needed when the agent holds more than one key.
    #[arg(long, value_name = "FP")]
    key: Option<String>,
    /// Write the signed file here instead of rewriting FILE.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
    /// Your user name, for a quorum approval token file.
    #[arg(long, value_name = "USERNAME")]
    approver: Option<String>,
    /// Sign a file whose tokens already carry signatures, replacing them.
    #[arg(long)]
    force: bool,
    /// Do not ask before signing a quorum approval.
    #[arg(short = 'y', long)]
    yes: bool,
    /// Seconds to wait for the agent's answer.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// The token file.
    file: PathBuf,
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
pub fn run(args: &Args) -> Result<String, SignError> {
    let timeout = args.timeout.map_or(AGENT_TIMEOUT, Duration::from_secs);
    let mut agent = client::Agent::from_env(timeout)?.connect()?;
    let loaded = LoadedTokenFile::read(&args.file)?;
    if !args.force {
        loaded.check_unsigned()?;
    }
    let key = agent.choose_key(args.key.as_deref())?;
    if loaded.file.kind() == TokenFileKind::QuorumApproval {
        if args.approver.is_none() {
            return Err(Error::BadTokenFile {
                path: args.file.clone(),
                source: proto::Error::ApproverRequired,
            }
            .into());
        }
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
        },
        args.output.as_deref(),
        Durability::Synced,
    )?;
    Ok(format!(
        "mfa-sign: signed {} of the {} with {}; wrote {}",
        cloudhsm_mfa_wrapper::text::count(signed.tokens, "token"),
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
