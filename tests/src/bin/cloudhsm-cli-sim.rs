//! cloudhsm-cli-sim: a stand-in for AWS cloudhsm-cli's MFA commands (see the `sim` module).

fn main() {
    eprintln!("cloudhsm-cli-sim: not written yet");
    std::process::exit(1);
}
