//! mfa-add: load RSA keys into mfa-agent, list, remove, lock and unlock, like ssh-add.

use std::process::ExitCode;

use clap::Parser;

use cloudhsm_mfa_agent::add::{run, AddConfig, Args};

fn main() -> ExitCode {
    let args = Args::parse();
    let result = AddConfig::from_args(args).and_then(run);
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
