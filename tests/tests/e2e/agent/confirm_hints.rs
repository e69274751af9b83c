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
use cloudhsm_mfa_tests::harness::pty::Pty;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::{identities, path_str, stderr};

#[test]
fn without_askpass_mfa_add_c_says_so_and_mfa_add_approve_answers_from_another_terminal() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "confirm.key", 2048);
    let public = public_key_pem(&key, &dir.join("confirm.pub"));
    let agent = Agent::start_with(dir.path(), &["--approve-wait", "60"]);
    let added = agent.mfa_add(&["-c", path_str(&key)]);
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(
        stderr(&added).contains("confirm each use with mfa-add --approve in another terminal"),
        "{}",
        stderr(&added)
    );
    // A signature waits for the approval...
    let file = dir.join("t.json");
    write_token_file(&file, 3);
    let signer = {
        let (file, socket) = (file.clone(), agent.socket().to_path_buf());
        std::thread::spawn(move || {
            Command::new(bin("mfa-sign"))
                .arg(&file)
                .env("MFA_AUTH_SOCK", &socket)
                .output()
                .expect("mfa-sign")
        })
    };
    // ...which mfa-add --approve gives at a terminal of its own, once the request waits.
    let deadline = std::time::Instant::now() + super::DEADLINE;
    loop {
        let waiting = super::call(agent.socket(), &proto::message::Request::Approvals);
        if matches!(&waiting, proto::message::Response::Approvals(w) if !w.is_empty()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request came to approve"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut command = Command::new(bin("mfa-add"));
    command
        .arg("--approve")
        .env("MFA_AUTH_SOCK", agent.socket());
    let mut pty = Pty::spawn(command);
    pty.expect("Approve? [y/N]");
    assert!(
        pty.transcript()
            .contains("to sign 3 CloudHSM tokens for mfa-sign: the MFA token file"),
        "{}",
        pty.transcript()
    );
    pty.send_line("y");
    let (answered, _) = pty.expect_any(&["Approved.", "no longer waits"]);
    assert_eq!(answered, 0, "{}", agent.log_text());
    pty.wait();
    let out = signer.join().expect("the signer");
    assert!(out.status.success(), "{}", stderr(&out));
    let tokens = read_unsigned_tokens(&file);
    for (token, signature) in tokens.iter().zip(read_signatures(&file)) {
        assert!(verify_openssl(&public, token, &signature));
    }
    assert!(agent.logged("approved confirmation"));
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
