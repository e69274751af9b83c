//! mfa-login: run a CloudHSM CLI login in a pseudo-terminal and answer its token-sign MFA
//! prompts with signatures from mfa-agent, like sshpass does for passwords.

use std::process::ExitCode;

use clap::Parser;
use cloudhsm_mfa_wrapper::session;

mod cli;

fn main() -> ExitCode {
    // Before the password file is read or a password typed. Core files are turned off once
    // COMMAND runs (session::run), so COMMAND keeps the limit it would have had.
    if let Err(err) = client::harden::forbid_tracing() {
        eprintln!("mfa-login: error: cannot harden the process: {err}");
        return ExitCode::from(client::exit::OWN_FAILURE);
    }
    let args = match cli::Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                client::exit::OWN_FAILURE
            } else {
                0
            });
        }
    };
    let config = match cli::validate(args) {
        Ok(config) => config,
        Err(err) => return client::report("mfa-login", &err),
    };
    client::prepare_crypto();
    ExitCode::from(u8::try_from(session::run(config)).unwrap_or(client::exit::OWN_FAILURE))
}
