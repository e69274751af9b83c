//! mfa-agent: hold CloudHSM MFA keys in memory and serve them on a local socket.

use std::process::ExitCode;

use clap::Parser;

use cloudhsm_mfa_agent::config::{Args, Config};
use cloudhsm_mfa_agent::daemon;

fn main() -> ExitCode {
    let args = Args::parse();
    let result = Config::from_args(args).and_then(daemon::run);
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
