//! mfa-sign: sign any CloudHSM token file through mfa-agent, like `openssl pkeyutl` but with
//! the key kept in the agent.

use std::process::ExitCode;

use client::exit::Status;

mod cli;

fn main() -> ExitCode {
    if let Err(err) = client::harden::all() {
        eprintln!("mfa-sign: error: cannot harden the process: {err}");
        return Status::OWN_FAILURE.into();
    }
    let args = match client::parse_args::<cli::Args>("mfa-sign", Status::USAGE) {
        Ok(args) => args,
        Err(status) => return status,
    };
    match cloudhsm_mfa_wrapper::sign::run(&args.request()) {
        Ok(done) => {
            eprintln!("{done}");
            ExitCode::SUCCESS
        }
        Err(err) => client::report("mfa-sign", &err),
    }
}
