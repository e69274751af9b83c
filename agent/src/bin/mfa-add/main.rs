//! mfa-add: load RSA keys into mfa-agent, list, remove, lock and unlock, like ssh-add.

mod cli;

use std::process::ExitCode;

use client::exit::Status;
use cloudhsm_mfa_agent::add;

fn main() -> ExitCode {
    let args = match client::parse_args::<cli::Args>("mfa-add", Status::USAGE) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let result =
        cli::Config::from_args(args).and_then(|c| add::run(&c.action, &c.passphrases, c.any_agent));
    match result {
        Ok(status) => status.into(),
        Err(e) => client::report("mfa-add", &e),
    }
}
