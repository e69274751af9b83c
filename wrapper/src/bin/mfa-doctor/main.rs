//! mfa-doctor: say whether a hands-free CloudHSM login would work here, and what to fix.

use std::io::IsTerminal;
use std::process::ExitCode;

use client::exit::Status;
use cloudhsm_mfa_wrapper::doctor;

mod cli;

fn main() -> ExitCode {
    let args = match client::parse_args::<cli::Args>("mfa-doctor", Status::USAGE) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let findings = doctor::examine(args.key.as_deref());
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    for finding in &findings {
        println!("{}", finding.line(colour));
    }
    if doctor::healthy(&findings) {
        Status::SUCCESS.into()
    } else {
        Status::FAILURE.into()
    }
}
