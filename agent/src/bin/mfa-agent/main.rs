//! mfa-agent: hold CloudHSM MFA keys in memory and serve them on a local socket.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cloudhsm_mfa_agent::{daemon, report};

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let result = cli::Config::from_args(args).and_then(|c| daemon::run(c.mode, &c.settings));
    match result {
        Ok(status) => ExitCode::from(status),
        Err(e) => report(&e),
    }
}
