//! mfa-sign against a real mfa-agent: each of the four token-file kinds is signed and every
//! signature verifies with `openssl pkeyutl -verify`; refusals leave the file untouched.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cloudhsm_mfa_tests::harness::agent::Agent;

use super::login::agent_in;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, openssl, public_key_pem, verify_openssl, Token,
};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::harness::workdir::{mode, set_mode, WorkDir};
use serde_json::Value;

/// The unsigned token files proto's test vectors hold, one of each kind.
fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../proto/tests/data/files")
        .join(name)
}

fn mfa_sign(agent: &Agent, args: &[&str]) -> Output {
    Command::new(bin("mfa-sign"))
        .args(args)
        .env("MFA_AUTH_SOCK", agent.socket())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run mfa-sign")
}

fn b64(value: &Value) -> Vec<u8> {
    STANDARD
        .decode(value.as_str().expect("a base64 string"))
        .expect("base64")
}

fn token(value: &Value) -> Token {
    b64(value).as_slice().try_into().expect("32 bytes")
}

/// (token, signature) pairs of a signed file of any kind, read with plain JSON.
fn signed_pairs(path: &Path, approver: &str) -> Vec<(Token, Vec<u8>)> {
    let doc: Value = serde_json::from_slice(&fs::read(path).expect("read")).expect("JSON");
    if let Some(tokens) = doc["tokens"].as_array() {
        return tokens
            .iter()
            .map(|t| (token(&t["unsigned"]), b64(&t["signed"])))
            .collect();
    }
    if let Some(data) = doc["Data"].as_array() {
        return data
            .iter()
            .map(|t| (token(&t["Digest"]), b64(&t["Signature"])))
            .collect();
    }
    let mine = doc["signatures"]
        .as_array()
        .expect("signatures")
        .iter()
        .find(|s| s["username"] == approver)
        .expect("the approver's signature");
    vec![(token(&doc["token"]), b64(&mine["signature"]))]
}

#[test]
fn every_kind_is_signed_and_openssl_verifies() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "signer.key", 2048);
    let public = public_key_pem(&key, &dir.join("signer.pub"));
    let agent = agent_in(&dir, "agent");
    agent.add_key(&key);
    for (name, count) in [
        ("mfa-login.json", 3),
        ("quorum-registration.json", 2),
        ("quorum-approval.json", 1),
        ("legacy-authdata.json", 3),
    ] {
        let path = dir.join(name);
        fs::copy(vector(name), &path).expect("copy the vector");
        if name == "legacy-authdata.json" {
            // An empty PublicKey (createUser, changePswd) is filled with the signer's.
            let mut doc: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&path).expect("read")).expect("JSON");
            doc["PublicKey"] = "".into();
            fs::write(&path, serde_json::to_string_pretty(&doc).expect("JSON")).expect("write");
        }
        set_mode(&path, 0o640);
        let output = mfa_sign(
            &agent,
            &["--approver", "officer3", path.to_str().expect("UTF-8")],
        );
        assert!(output.status.success(), "{name}: {output:?}");
        let pairs = signed_pairs(&path, "officer3");
        assert_eq!(pairs.len(), count, "{name}");
        for (token, signature) in pairs {
            assert!(
                verify_openssl(&public, &token, &signature),
                "{name}: openssl verifies"
            );
        }
        assert_eq!(mode(&path), 0o640, "{name}: permissions kept");
    }
    // The authdata file now names the signer's key, as openssl prints it.
    let authdata: serde_json::Value =
        serde_json::from_str(&dir.read_string("legacy-authdata.json")).expect("JSON");
    let filled = authdata["PublicKey"].as_str().expect("PublicKey");
    let pem_body = |pem: &str| {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    assert_eq!(
        pem_body(filled),
        pem_body(&fs::read_to_string(&public).expect("read"))
    );

    // A PublicKey of another key is refused: the signatures would not match it.
    let other = dir.join("other-key.json");
    fs::copy(vector("legacy-authdata.json"), &other).expect("copy the vector");
    let before = fs::read(&other).expect("read");
    let output = mfa_sign(&agent, &[other.to_str().expect("UTF-8")]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("names another public key"),
        "{output:?}"
    );
    assert_eq!(fs::read(&other).expect("read"), before, "left untouched");

    // The approval keeps the earlier approver's signature beside ours.
    let approval = dir.read_string("quorum-approval.json");
    assert!(approval.contains("officer2") && approval.contains("officer3"));
    // The agent's audit line says what was approved: the SHA-256 of the approval data, as
    // openssl computes it.
    let doc: serde_json::Value = serde_json::from_str(&approval).expect("JSON");
    let data = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        doc["approval_data"].as_str().expect("approval_data"),
    )
    .expect("base64");
    let digest = String::from_utf8_lossy(&openssl(&["dgst", "-sha256", "-r"], &data))
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned();
    assert!(
        agent
            .log_text()
            .contains(&format!("(approval data SHA-256 {digest})")),
        "{}",
        agent.log_text()
    );

    // -o writes elsewhere and leaves the input as it was.
    let input = dir.join("input.json");
    fs::copy(vector("mfa-login.json"), &input).expect("copy");
    let out = dir.join("out.json");
    let output = mfa_sign(
        &agent,
        &[
            "-o",
            out.to_str().expect("UTF-8"),
            input.to_str().expect("UTF-8"),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        fs::read(&input).expect("read"),
        fs::read(vector("mfa-login.json")).expect("read")
    );
    for (token, signature) in signed_pairs(&out, "") {
        assert!(verify_openssl(&public, &token, &signature));
    }
}

#[test]
fn refusals_say_why_and_leave_the_file_untouched() {
    let dir = WorkDir::new();
    let agent = agent_in(&dir, "agent");
    agent.add_key(&genrsa(dir.path(), "signer.key", 2048));
    let tampered = fs::read_to_string(vector("quorum-registration.json"))
        .expect("read")
        .replacen("cXVvcnVt", "cXVvcnVu", 1);
    let signed = fs::read(vector("mfa-login.signed.json")).expect("read");
    let cases: [(&str, Vec<u8>, &[&str], &str); 4] = [
        (
            "approval.json",
            fs::read(vector("quorum-approval.json")).expect("read"),
            &[],
            "--approver",
        ),
        (
            "tampered.json",
            tampered.into_bytes(),
            &[],
            "not the SHA-256 of its approval_data",
        ),
        ("signed.json", signed, &[], "already signed"),
        (
            "bad.json",
            b"{\"tokens\": 3}".to_vec(),
            &[],
            "unknown token file",
        ),
    ];
    for (name, contents, args, expected) in cases {
        let path = dir.write(name, &contents);
        let mut all: Vec<&str> = args.to_vec();
        all.push(path.to_str().expect("UTF-8"));
        let output = mfa_sign(&agent, &all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("mfa-sign: error:") && stderr.contains(expected),
            "{name}: {stderr}"
        );
        assert_eq!(fs::read(&path).expect("read"), contents, "{name} untouched");
    }
    // No agent at all.
    let path = dir.write(
        "lonely.json",
        fs::read(vector("mfa-login.json")).expect("read"),
    );
    let output = Command::new(bin("mfa-sign"))
        .arg(&path)
        .env_remove("MFA_AUTH_SOCK")
        .output()
        .expect("run mfa-sign");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("MFA_AUTH_SOCK is not set") && stderr.contains("hint:"),
        "{stderr}"
    );
}

#[test]
fn a_quorum_approval_on_a_terminal_is_shown_and_confirmed_first() {
    let dir = WorkDir::new();
    let agent = agent_in(&dir, "agent");
    agent.add_key(&genrsa(dir.path(), "signer.key", 2048));
    let path = dir.join("approval.json");
    fs::copy(vector("quorum-approval.json"), &path).expect("copy");
    let original = fs::read(&path).expect("read");
    for (answer, code) in [("n", 1), ("y", 0)] {
        let mut command = Command::new(bin("mfa-sign"));
        command
            .args(["--approver", "officer3"])
            .arg(&path)
            .env("MFA_AUTH_SOCK", agent.socket());
        let mut pty = Pty::spawn(command);
        pty.expect("Quorum approval data (58 bytes)");
        pty.expect("for: key-share 0");
        pty.expect("Sign this approval? [y/N]");
        pty.send_line(answer);
        assert_eq!(pty.wait(), Exit::Code(code), "answer {answer}");
        let now = fs::read(&path).expect("read");
        assert_eq!(now == original, answer == "n", "signed only after yes");
    }
}

#[test]
fn a_token_file_that_is_a_fifo_is_refused_not_waited_on() {
    // Bug: a token path naming a FIFO (or a device) was opened and read, so mfa-sign, and
    // mfa-login at the token prompt, hung until killed.
    let dir = WorkDir::new();
    let agent = agent_in(&dir, "agent");
    let fifo = dir.join("token.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let mut child = Command::new(bin("mfa-sign"))
        .arg(&fifo)
        .env("MFA_AUTH_SOCK", agent.socket())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mfa-sign");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mfa-sign is still waiting on the FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

#[test]
fn a_locked_agent_is_reported_as_locked_not_empty() {
    // Bug: a locked agent was reported as "holds no RSA key", sending the user to load a key
    // that was already loaded.
    let dir = WorkDir::new();
    let agent = agent_in(&dir, "agent");
    agent.add_key(&genrsa(dir.path(), "signer.key", 2048));
    let pass = dir.write("lock-pass", "lock-me\n");
    let locked = agent.mfa_add(&["-x", "--passphrase-file", pass.to_str().expect("UTF-8")]);
    assert!(locked.status.success());
    let contents = fs::read(vector("mfa-login.json")).expect("read");
    let path = dir.write("t.json", &contents);
    let output = mfa_sign(&agent, &[path.to_str().expect("UTF-8")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mfa-sign: error: mfa-agent is locked") && stderr.contains("mfa-add -X"),
        "{stderr}"
    );
    assert_eq!(fs::read(&path).expect("read"), contents, "untouched");
}
