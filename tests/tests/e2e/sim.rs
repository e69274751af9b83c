//! The simulator and the harness, judged by openssl: the AWS guide's manual procedure logs in,
//! wrong signatures are refused.

use std::process::Command;

use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, genrsa_traditional, public_key_pem, random_token, sign_hashed_again,
    sign_token_openssl, verify_openssl,
};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::harness::workdir::{mode, WorkDir};

#[test]
fn harness_openssl_signs_by_the_token_rule() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "officer1.key", 2048);
    assert_eq!(mode(&key), 0o600);
    let pem = dir.read_string("officer1.key");
    assert!(pem.contains("BEGIN PRIVATE KEY"), "{pem}");
    let traditional = genrsa_traditional(dir.path(), "officer1-rsa.key", 2048);
    let text = std::fs::read_to_string(traditional).expect("read");
    assert!(text.contains("BEGIN RSA PRIVATE KEY"), "{text}");
    let public = public_key_pem(&key, &dir.join("officer1.pub"));
    let token = random_token();
    let sig = sign_token_openssl(&key, &token);
    assert_eq!(sig.len(), 256);
    assert!(verify_openssl(&public, &token, &sig));
    assert!(verify_openssl(&key, &token, &sig));
    assert!(!verify_openssl(
        &public,
        &token,
        &sign_hashed_again(&key, &token)
    ));
}

#[test]
fn harness_pty_sees_prompts_and_echo_state() {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "printf 'name: '; read name; stty -echo; printf 'secret: '; read s; stty echo; echo; echo \"hi $name\"; exit 3",
    ]);
    let mut pty = Pty::spawn(command);
    pty.expect("name: ");
    pty.send_line("bob");
    pty.expect("secret: ");
    assert!(!pty.echo_enabled());
    pty.send_line("hunter2");
    pty.expect("hi bob");
    assert_eq!(pty.wait(), Exit::Code(3));
    pty.assert_absent("hunter2");
}
