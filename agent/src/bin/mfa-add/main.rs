//! mfa-add: load RSA keys into mfa-agent, list, remove, lock and unlock, like ssh-add.

mod cli;

use std::process::ExitCode;

use cloudhsm_mfa_agent::{add, parse_args, report};

fn main() -> ExitCode {
    let args = match parse_args::<cli::Args>("mfa-add") {
        Ok(args) => args,
        Err(status) => return status,
    };
    let result =
        cli::Config::from_args(args).and_then(|c| add::run(&c.action, &c.passphrases, c.any_agent));
    match result {
        Ok(status) => ExitCode::from(status),
        Err(e) => report("mfa-add", &e),
    }
}
