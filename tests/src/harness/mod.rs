//! Pieces every end-to-end test uses: a temporary folder, keys and tokens made with openssl,
//! commands spawned in a PTY, a running mfa-agent, the workspace's binaries,
//! cloudhsm_mgmt_util authdata files signed by hand with openssl, SoftHSM2 tokens, a software
//! TPM with tpm2-pkcs11 tokens, a PKCS#11 provider that crashes when it signs, a real
//! sshd on 127.0.0.1 to forward the agent through, and a second local user for attacks.

pub mod agent;
pub mod authdata;
pub mod bins;
pub mod crash;
pub mod openssl;
pub mod output;
pub mod pty;
pub mod softhsm;
pub mod sshd;
pub mod tpm;
pub mod users;
pub mod workdir;

/// Says why a test (or a part of it) does not run on this machine. Under CI (`CI` set) that is
/// a failure instead: `.ci/run` installs everything the tests need and runs as root, so a skip
/// there would be a test that passes without running.
pub fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but a test would be skipped: {why} (.ci/run must provide it)"
    );
    eprintln!("skipped: {why}");
}
