//! Confirm-on-use keys and the person: `mfa-add -c` refuses to add a key that an agent with
//! no askpass program could never use, and a signature that waits (for a confirmation the
//! person may not see) says so after two seconds.

use std::ffi::OsStr;
use std::process::Command;

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, public_key_pem, read_signatures, read_unsigned_tokens, verify_openssl, write_token_file,
};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::{identities, path_str, stderr};

#[test]
fn mfa_add_c_says_at_add_time_that_the_agent_cannot_ask() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "confirm.key", 2048);
    let agent = Agent::start(dir.path());
    for option in [&["-c"][..], &["--forwarded", "confirm"][..]] {
        let mut args = option.to_vec();
        args.push(path_str(&key));
        let out = agent.mfa_add(&args);
        assert_eq!(out.status.code(), Some(1), "{option:?}: {}", stderr(&out));
        let text = stderr(&out);
        assert!(
            text.contains("mfa-agent has no askpass program to ask with")
                && text.contains("not added"),
            "{text}"
        );
        assert!(
            text.contains("hint: start mfa-agent with MFA_ASKPASS"),
            "{text}"
        );
        assert!(
            identities(&agent).is_empty(),
            "{option:?} added a key anyway"
        );
    }
    // OpenSSH's ssh-add -c is taken as OpenSSH's agent takes it (and refused at use).
    let added = Command::new("ssh-add")
        .arg("-c")
        .arg(&key)
        .env("SSH_AUTH_SOCK", agent.socket())
        .output()
        .expect("ssh-add -c");
    assert!(added.status.success(), "{}", stderr(&added));
}

#[test]
fn a_signature_that_waits_for_a_confirmation_says_so() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "slow.key", 2048);
    let public = public_key_pem(&key, &dir.join("slow.pub"));
    // A person who takes three seconds to say yes.
    let askpass = dir.write_mode("askpass", "#!/bin/sh\nsleep 3\nexit 0\n", 0o755);
    let agent = Agent::start_with_env(dir.path(), &[], &[("MFA_ASKPASS", askpass.as_os_str())]);
    let added = agent.mfa_add(&["-c", path_str(&key)]);
    assert!(added.status.success(), "{}", stderr(&added));
    let file = dir.join("t.json");
    write_token_file(&file, 2);
    let out = Command::new(bin("mfa-sign"))
        .arg(&file)
        .env("MFA_AUTH_SOCK", agent.socket())
        .env_remove(OsStr::new("SSH_AUTH_SOCK"))
        .output()
        .expect("mfa-sign");
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("waiting for mfa-agent: if it asks to confirm this use"),
        "{text}"
    );
    let tokens = read_unsigned_tokens(&file);
    let signatures = read_signatures(&file);
    assert_eq!(signatures.len(), 2);
    for (token, signature) in tokens.iter().zip(&signatures) {
        assert!(
            verify_openssl(&public, token, signature),
            "openssl verifies"
        );
    }
}

#[test]
fn a_refused_signature_names_its_cause_and_the_fix_for_it() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "declined.key", 2048);
    let no = dir.write_mode("no", "#!/bin/sh\nexit 1\n", 0o755);
    let agent = Agent::start_with_env(dir.path(), &[], &[("MFA_ASKPASS", no.as_os_str())]);
    assert!(agent.mfa_add(&["-c", path_str(&key)]).status.success());
    let file = dir.join("t.json");
    write_token_file(&file, 1);
    let sign = || {
        Command::new(bin("mfa-sign"))
            .arg(&file)
            .env("MFA_AUTH_SOCK", agent.socket())
            .output()
            .expect("mfa-sign")
    };
    let text = stderr(&sign());
    assert!(
        text.contains(
            "mfa-sign: error: mfa-agent refused to sign the tokens: confirmation for SHA256:"
        ) && text.contains("the user declined"),
        "the agent's own cause: {text}"
    );
    assert!(
        text.contains("hint: the use needed your confirmation where the agent runs"),
        "{text}"
    );
    assert!(read_signatures(&file).iter().all(Vec::is_empty));

    // An SSH key (ssh-add) beside a token key that is gone: the cause is the purpose.
    let plain = WorkDir::new();
    let agent2 = Agent::start(plain.path());
    let ssh_key = genrsa(plain.path(), "ssh.key", 2048);
    let added = Command::new("ssh-add")
        .arg(&ssh_key)
        .env("SSH_AUTH_SOCK", agent2.socket())
        .output()
        .expect("ssh-add");
    assert!(added.status.success());
    let mut agent_conn = std::os::unix::net::UnixStream::connect(agent2.socket()).expect("connect");
    let blob = identities(&agent2)[0].key_blob.clone();
    let refused = proto::client::call(
        &mut agent_conn,
        &proto::message::Request::TokenSign(proto::message::TokenSignRequest {
            key_blob: blob,
            tokens: vec![[5; 32]],
            about: String::new(),
        }),
    )
    .expect("reply");
    assert_eq!(refused, proto::message::Response::ExtensionFailure);
    match proto::client::call(&mut agent_conn, &proto::message::Request::Why).expect("why") {
        proto::message::Response::Why { code, .. } => assert_eq!(code, "purpose"),
        other => panic!("{other:?}"),
    }
}
