//! mfa-login: run a CloudHSM CLI login in a pseudo-terminal and answer its token-sign MFA
//! prompts with signatures from mfa-agent, like sshpass does for passwords.

use std::process::ExitCode;

use client::exit::Status;
use cloudhsm_mfa_wrapper::session;

mod cli;

fn main() -> ExitCode {
    // Before the password file is read or a password typed. Core files are turned off once
    // COMMAND runs (session::run), so COMMAND keeps the limit it would have had.
    if let Err(err) = client::harden::forbid_tracing() {
        eprintln!("mfa-login: error: cannot harden the process: {err}");
        return Status::OWN_FAILURE.into();
    }
    let args = match client::parse_args::<cli::Args>("mfa-login", Status::OWN_FAILURE) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let config = match cli::validate(args) {
        Ok(config) => config,
        Err(err) => return client::report("mfa-login", &err),
    };
    client::prepare_crypto();
    session::run(config).into()
}
