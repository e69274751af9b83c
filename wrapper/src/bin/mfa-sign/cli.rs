//! mfa-sign's command line, read into a [`Request`] (the signing is `cloudhsm_mfa_wrapper::sign`).

use std::path::PathBuf;
use std::time::Duration;

use cloudhsm_mfa_wrapper::login::AGENT_TIMEOUT;
use cloudhsm_mfa_wrapper::sign::Request;

const AFTER_HELP: &str = "\
Signs every token of FILE with the agent's key, by the CloudHSM rule (the same bytes as
`openssl pkeyutl -sign -pkeyopt digest:sha256`), and rewrites FILE in place (or writes OUT,
a new one 0600), atomically and with its permissions kept (less group/other write). FILE must
be your own regular file, not a link, not writable by others, in folders only you (or root)
can write: anything else is refused before the agent is asked. Handles the MFA login / change-mfa token file, the
quorum registration and quorum approval token files, and cloudhsm_mgmt_util authdata files.
A quorum approval needs --approver; on a terminal the approval data is shown first.

The agent is found through MFA_AUTH_SOCK, else through SSH_AUTH_SOCK when that agent is a
forwarded mfa-agent.

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

impl Args {
    pub fn request(self) -> Request {
        Request {
            key: self.key,
            output: self.output,
            approver: self.approver,
            force: self.force,
            yes: self.yes,
            timeout: self.timeout.map_or(AGENT_TIMEOUT, Duration::from_secs),
            file: self.file,
        }
    }
}
