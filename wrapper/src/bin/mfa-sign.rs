//! mfa-sign: sign any CloudHSM token file through mfa-agent, like `openssl pkeyutl` but with
//! the key kept in the agent.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cloudhsm_mfa_wrapper::agent_client::{AgentClient, DEFAULT_TIMEOUT};
use cloudhsm_mfa_wrapper::token_sign::LoadedTokenFile;
use cloudhsm_mfa_wrapper::Error;
use proto::tokenfile::TokenFileKind;

const AFTER_HELP: &str = "\
Signs every token of FILE with the agent's key, by the CloudHSM rule (the same bytes as
`openssl pkeyutl -sign -pkeyopt digest:sha256`), and rewrites FILE in place (or writes OUT),
atomically and with its permissions kept. Handles the MFA login / change-mfa token file, the
quorum registration and quorum approval token files, and cloudhsm_mgmt_util authdata files.
A quorum approval needs --approver; on a terminal the approval data is shown first.

The agent is found through $MFA_AUTH_SOCK.

Exit status: 0 signed; 1 nothing was written (the error says why); 2 bad arguments.";

#[derive(Parser, Debug)]
#[command(name = "mfa-sign", version, about = "Sign a CloudHSM token file through mfa-agent", after_help = AFTER_HELP)]
struct Args {
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

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mfa-sign: error: {err}");
            if let Some(err) = err.downcast_ref::<Error>() {
                eprintln!("hint: {}", err.hint());
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let timeout = args.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let agent = AgentClient::from_env(timeout)?;
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
        if on_terminal && !confirm_approval(&loaded)? {
            anyhow::bail!("not signed: the approval was declined");
        }
    }
    let signed = loaded.sign_and_write(
        &agent,
        &key,
        args.approver.as_deref(),
        args.output.as_deref(),
    )?;
    eprintln!(
        "mfa-sign: signed {} token(s) of the {} with {}; wrote {}",
        signed.tokens,
        signed.kind.describe(),
        key.fingerprint,
        signed.path.display()
    );
    Ok(())
}

/// Shows what a quorum approval approves and asks before signing it.
fn confirm_approval(loaded: &LoadedTokenFile) -> anyhow::Result<bool> {
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
