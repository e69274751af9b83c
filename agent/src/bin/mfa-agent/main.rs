//! mfa-agent: hold CloudHSM MFA keys in memory and serve them on a local socket.

mod cli;

use std::process::ExitCode;

use client::exit::Status;
use cloudhsm_mfa_agent::daemon;

fn main() -> ExitCode {
    let args = match client::parse_args::<cli::Args>("mfa-agent", Status::USAGE) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let result = cli::Config::from_args(args).and_then(|c| daemon::run(c.mode, &c.settings));
    match result {
        Ok(status) => status.into(),
        Err(e) => client::report("mfa-agent", &e),
    }
}
