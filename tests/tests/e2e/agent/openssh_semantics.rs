//! ssh-agent semantics judged by OpenSSH's tools where no OpenSSH client makes the request
//! itself: a sign request with both SHA-2 flags (6) answered `rsa-sha2-256` as ssh-agent
//! answers it, the signature checked by `ssh-keygen -Y check-novalidate` inside an SSHSIG we
//! build; and `ssh-add -h` user names capped at 256 bytes (OpenSSH 9.8).

use std::fs;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use proto::message::{Request, Response, SIGN_RSA_SHA2_256, SIGN_RSA_SHA2_512};
use proto::wire::Writer;
use sha2::{Digest, Sha512};

use super::{call, only_key, path_str, run_with_agent, stderr, stdout};
use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::openssl::genrsa;

/// An `ssh-add`ed key (purpose ssh) and its agent.
fn ssh_key_agent(dir: &WorkDir) -> (Agent, std::path::PathBuf) {
    let key = genrsa(dir.path(), "semantics.key", 2048);
    let agent = Agent::start(dir.path());
    let out = run_with_agent(&agent, "ssh-add", &[path_str(&key)]);
    assert!(out.status.success(), "ssh-add: {}", stderr(&out));
    (agent, key)
}

#[test]
fn both_sha2_flags_sign_rsa_sha2_256_that_ssh_keygen_verifies() {
    let dir = WorkDir::new();
    let (agent, _key) = ssh_key_agent(&dir);
    let blob = only_key(&agent);
    let message = b"approve the change\n";
    let namespace = b"file";
    // PROTOCOL.sshsig: what is signed, then the signature file around it.
    let mut signed = b"SSHSIG".to_vec();
    let mut w = Writer::new();
    w.string(namespace)
        .string(b"")
        .string(b"sha512")
        .string(&Sha512::digest(message));
    signed.extend(w.into_vec());
    let request = Request::Sign {
        key_blob: blob.clone(),
        data: signed,
        flags: SIGN_RSA_SHA2_256 | SIGN_RSA_SHA2_512,
    };
    let Response::Sign { signature } = call(agent.socket(), &request) else {
        panic!("flags 6 were refused");
    };
    let mut algorithm = proto::wire::Reader::new(&signature);
    assert_eq!(algorithm.utf8().expect("an algorithm"), "rsa-sha2-256");
    let mut file = b"SSHSIG".to_vec();
    let mut w = Writer::new();
    w.u32(1)
        .string(&blob)
        .string(namespace)
        .string(b"")
        .string(b"sha512")
        .string(&signature);
    file.extend(w.into_vec());
    let encoded = STANDARD.encode(&file);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(70)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    let sig = dir.write(
        "message.sig",
        format!(
            "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
            lines.join("\n")
        ),
    );
    let msg = dir.write("message.txt", std::str::from_utf8(message).expect("text"));
    let check = Command::new("ssh-keygen")
        .args(["-Y", "check-novalidate", "-n", "file", "-s", path_str(&sig)])
        .stdin(fs::File::open(&msg).expect("open the message"))
        .output()
        .expect("run ssh-keygen -Y check-novalidate");
    assert!(
        check.status.success(),
        "check-novalidate: {}{}",
        stdout(&check),
        stderr(&check)
    );
}

#[test]
fn ssh_add_h_user_names_over_256_bytes_fail_the_add() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "cap.key", 2048);
    let agent = Agent::start(dir.path());
    let host = dir.join("host_key");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", path_str(&host)])
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {}", stderr(&out));
    let public = fs::read_to_string(host.with_extension("pub")).expect("host key");
    let known = dir.write("known_hosts", format!("client-vm {public}"));
    let add = |user: &str| {
        Command::new("ssh-add")
            .arg("-H")
            .arg(&known)
            .args(["-h", &format!("{user}@client-vm"), path_str(&key)])
            .envs(agent.env())
            .env("SSH_AUTH_SOCK", agent.socket())
            .stdin(Stdio::null())
            .output()
            .expect("run ssh-add")
    };
    let refused = add(&"u".repeat(257));
    assert!(!refused.status.success(), "a 257-byte user name was taken");
    assert!(agent.logged("longer than 256 bytes"));
    let out = add(&"u".repeat(256));
    assert!(out.status.success(), "ssh-add -h: {}", stderr(&out));
}
