//! cloudhsm-cli-sim: a stand-in for AWS cloudhsm-cli's MFA commands (see the `sim` module).

use clap::Parser;
use cloudhsm_mfa_tests::sim::{self, args::Cli, config::Config};

fn main() {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e:#}");
            eprintln!("hint: see `cloudhsm-cli-sim --help` for the CLOUDHSM_SIM_* variables");
            std::process::exit(2);
        }
    };
    std::process::exit(sim::run(config, cli.command));
}
