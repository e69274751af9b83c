//! mfa-add: load RSA keys into mfa-agent, list, remove, lock and unlock, like ssh-add.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cloudhsm_mfa_agent::{add, report};

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let result = cli::Config::from_args(args).and_then(|c| add::run(&c.action, &c.passphrases));
    match result {
        Ok(status) => ExitCode::from(status),
        Err(e) => report(&e),
    }
}
