//! mfa-agent: hold CloudHSM MFA keys in memory and serve them on a local socket.

mod cli;

use std::process::ExitCode;

use cloudhsm_mfa_agent::{daemon, parse_args, report};

fn main() -> ExitCode {
    let args = match parse_args::<cli::Args>("mfa-agent") {
        Ok(args) => args,
        Err(status) => return status,
    };
    let result = cli::Config::from_args(args).and_then(|c| daemon::run(c.mode, &c.settings));
    match result {
        Ok(status) => ExitCode::from(status),
        Err(e) => report("mfa-agent", &e),
    }
}
