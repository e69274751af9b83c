//! mfa-sign: sign any CloudHSM token file through mfa-agent, like `openssl pkeyutl` but with
//! the key kept in the agent.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    if let Err(err) = client::harden::all() {
        eprintln!("mfa-sign: error: cannot harden the process: {err}");
        return ExitCode::from(client::exit::OWN_FAILURE);
    }
    let args = cli::Args::parse();
    match cli::run(&args) {
        Ok(done) => {
            eprintln!("{done}");
            ExitCode::SUCCESS
        }
        Err(err) => client::report("mfa-sign", &err),
    }
}
