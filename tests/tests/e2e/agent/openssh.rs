//! OpenSSH's own tools against mfa-agent: ssh-add adds, lists, removes, locks and unlocks,
//! times out and confirms keys; ssh-keygen -Y signs through the agent; query, unknown keys,
//! SHA-1 and non-RSA keys.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, random_token};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use proto::message::{Request, Response, TOKEN_SIGN_EXTENSION};

use super::{
    agent_holding, assert_signs_like_openssl, call, first_two_fields, identities, only_key,
    path_str, run_with_agent, ssh_keygen_fingerprint, stderr, stdout, token_sign,
    write_ssh_public_key, DEADLINE,
};

#[test]
fn ssh_add_adds_lists_and_removes() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "sshadd.key", 2048);
    let other = genrsa(dir.path(), "sshadd-other.key", 2048);
    // ssh-add -d reads the public key from KEY.pub.
    for k in [&key, &other] {
        write_ssh_public_key(k);
    }
    let agent = Agent::start(dir.path());
    for k in [&key, &other] {
        let out = run_with_agent(&agent, "ssh-add", &[path_str(k)]);
        assert!(out.status.success(), "ssh-add: {}", stderr(&out));
    }
    let list = run_with_agent(&agent, "ssh-add", &["-l"]);
    assert!(list.status.success(), "ssh-add -l: {}", stderr(&list));
    let lines: Vec<String> = stdout(&list).lines().map(first_two_fields).collect();
    assert_eq!(
        lines,
        [ssh_keygen_fingerprint(&key), ssh_keygen_fingerprint(&other)]
    );
    // Added again with a lifetime, the first key keeps its place (ssh offers keys in this
    // order), as with OpenSSH's ssh-agent.
    let out = run_with_agent(&agent, "ssh-add", &["-t", "1h", path_str(&key)]);
    assert!(out.status.success(), "ssh-add -t: {}", stderr(&out));
    let list = run_with_agent(&agent, "ssh-add", &["-l"]);
    let lines: Vec<String> = stdout(&list).lines().map(first_two_fields).collect();
    assert_eq!(
        lines,
        [ssh_keygen_fingerprint(&key), ssh_keygen_fingerprint(&other)]
    );

    let out = run_with_agent(&agent, "ssh-add", &["-d", path_str(&key)]);
    assert!(out.status.success(), "ssh-add -d: {}", stderr(&out));
    let list = run_with_agent(&agent, "ssh-add", &["-l"]);
    let lines: Vec<String> = stdout(&list).lines().map(first_two_fields).collect();
    assert_eq!(lines, [ssh_keygen_fingerprint(&other)]);

    let out = run_with_agent(&agent, "ssh-add", &["-D"]);
    assert!(out.status.success(), "ssh-add -D: {}", stderr(&out));
    let list = run_with_agent(&agent, "ssh-add", &["-l"]);
    assert_eq!(
        list.status.code(),
        Some(1),
        "ssh-add -l after -D: {}",
        stdout(&list)
    );
}

#[test]
fn ssh_keygen_signs_through_the_agent_with_an_ssh_key_only() {
    let dir = WorkDir::new();
    let (agent, key) = agent_holding(&dir, "ysign.key");
    let pub_path = write_ssh_public_key(&key);
    let message = dir.write("message.txt", "sign me\n");
    let sign = || {
        run_with_agent(
            &agent,
            "ssh-keygen",
            &[
                "-Y",
                "sign",
                "-f",
                path_str(&pub_path),
                "-n",
                "file",
                path_str(&message),
            ],
        )
    };
    // mfa-add added it for CloudHSM tokens: no SSHSIG signature from it.
    let refused = sign();
    assert!(!refused.status.success(), "a token key signed an SSHSIG");
    assert!(
        stderr(&refused).contains("agent refused operation"),
        "{}",
        stderr(&refused)
    );
    assert!(agent
        .log_text()
        .contains("the key is for CloudHSM tokens only"));
    // Added again by ssh-add (after -D: a held key keeps its purpose), it is an SSH key.
    assert!(run_with_agent(&agent, "ssh-add", &["-D"]).status.success());
    assert!(run_with_agent(&agent, "ssh-add", &[path_str(&key)])
        .status
        .success());
    let out = sign();
    assert!(out.status.success(), "ssh-keygen -Y sign: {}", stderr(&out));
    let sig = dir.join("message.txt.sig");
    let check = Command::new("ssh-keygen")
        .args([
            "-Y",
            "check-novalidate",
            "-n",
            "file",
            "-f",
            path_str(&pub_path),
            "-s",
            path_str(&sig),
        ])
        .stdin(std::fs::File::open(&message).expect("open message"))
        .output()
        .expect("ssh-keygen -Y check-novalidate");
    assert!(
        check.status.success(),
        "check-novalidate: {}{}",
        stdout(&check),
        stderr(&check)
    );
}

/// Writes an executable shell script and returns its path.
fn write_script(dir: &WorkDir, name: &str, body: &str) -> PathBuf {
    dir.write_mode(name, format!("#!/bin/sh\n{body}\n"), 0o755)
}

/// ssh-add with SSH_ASKPASS forced (stdin is not a terminal), for -x and -X.
fn ssh_add_with_askpass(agent: &Agent, askpass: &Path, args: &[&str]) -> Output {
    Command::new("ssh-add")
        .args(args)
        .envs(agent.env())
        .env("SSH_ASKPASS", askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-add")
}

#[test]
fn ssh_add_locks_and_unlocks() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "lock.key", 2048);
    let right = write_script(&dir, "right.sh", "echo 'lock me up'");
    let wrong = write_script(&dir, "wrong.sh", "echo 'not it'");
    let agent = Agent::start(dir.path());
    agent.add_key(&key);
    let blob = only_key(&agent);

    let out = ssh_add_with_askpass(&agent, &right, &["-x"]);
    assert!(out.status.success(), "ssh-add -x: {}", stderr(&out));
    // Locked: no keys listed, nothing signs, a second lock fails.
    let list = run_with_agent(&agent, "ssh-add", &["-l"]);
    assert_eq!(list.status.code(), Some(1), "{}", stdout(&list));
    assert!(identities(&agent).is_empty());
    assert_eq!(
        token_sign(agent.socket(), &blob, &[random_token()]),
        Response::ExtensionFailure
    );
    assert!(!ssh_add_with_askpass(&agent, &right, &["-x"])
        .status
        .success());

    let out = ssh_add_with_askpass(&agent, &wrong, &["-X"]);
    assert!(
        !out.status.success(),
        "a wrong passphrase unlocked the agent"
    );
    let pass_file = dir.write("lockpass", "not it\n");
    let out = agent.mfa_add(&["-X", "--passphrase-file", path_str(&pass_file)]);
    assert!(
        !out.status.success(),
        "mfa-add -X with a wrong passphrase unlocked"
    );
    assert!(identities(&agent).is_empty());

    let out = ssh_add_with_askpass(&agent, &right, &["-X"]);
    assert!(out.status.success(), "ssh-add -X: {}", stderr(&out));
    assert_signs_like_openssl(&agent, &key);

    // mfa-add locks and unlocks the same way.
    let pass_file = dir.write("lockpass", "lock me up\n");
    let out = agent.mfa_add(&["-x", "--passphrase-file", path_str(&pass_file)]);
    assert!(out.status.success(), "mfa-add -x: {}", stderr(&out));
    assert!(identities(&agent).is_empty());
    let out = agent.mfa_add(&["-X", "--passphrase-file", path_str(&pass_file)]);
    assert!(out.status.success(), "mfa-add -X: {}", stderr(&out));
    assert_eq!(identities(&agent).len(), 1);
}

#[test]
fn key_added_with_a_lifetime_goes_away() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "lifetime.key", 2048);
    let agent = Agent::start(dir.path());
    let out = run_with_agent(&agent, "ssh-add", &["-t", "2", path_str(&key)]);
    assert!(out.status.success(), "ssh-add -t 2: {}", stderr(&out));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let list = run_with_agent(&agent, "ssh-add", &["-l"]);
        if list.status.code() == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the key is still there long after its 2 s lifetime: {}",
            stdout(&list)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The key is wiped (and logged) on the agent's next expiry tick.
    while !agent.log_text().contains("expired SHA256:") {
        assert!(
            Instant::now() < deadline,
            "no expiry in the log:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The agent's own default lifetime applies to keys added without one.
    let dir2 = WorkDir::new();
    let agent = Agent::start_with(dir2.path(), &["-t", "1s"]);
    agent.add_key(&key);
    let deadline = Instant::now() + DEADLINE;
    while !identities(&agent).is_empty() {
        assert!(Instant::now() < deadline, "the agent's -t 1s did not apply");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn confirm_on_use_asks_the_askpass_program() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "confirm.key", 2048);
    let asked = dir.join("asked.txt");
    let yes = write_script(
        &dir,
        "yes.sh",
        &format!("echo \"$1\" >> '{}'; exit 0", path_str(&asked)),
    );
    let no = write_script(&dir, "no.sh", "exit 1");

    let agent = Agent::start_with_env(dir.path(), &[], &[("MFA_ASKPASS", yes.as_os_str())]);
    let out = agent.mfa_add(&["-c", path_str(&key)]);
    assert!(out.status.success(), "mfa-add -c: {}", stderr(&out));
    assert_signs_like_openssl(&agent, &key);
    let question = std::fs::read_to_string(&asked).expect("the askpass program was not run");
    let fp = ssh_keygen_fingerprint(&key);
    let fp = fp.split_whitespace().nth(1).expect("fingerprint");
    assert!(
        question.contains(fp),
        "question does not name the key: {question}"
    );
    drop(agent);

    let dir2 = WorkDir::new();
    let agent = Agent::start_with_env(dir2.path(), &[], &[("SSH_ASKPASS", no.as_os_str())]);
    // A token key (mfa-add), so the "no" is what refuses it.
    let out = agent.mfa_add(&["-c", path_str(&key)]);
    assert!(out.status.success(), "mfa-add -c: {}", stderr(&out));
    let blob = only_key(&agent);
    assert_eq!(
        token_sign(agent.socket(), &blob, &[random_token()]),
        Response::ExtensionFailure
    );
    assert!(agent.logged("confirmation"), "{}", agent.log_text());
    drop(agent);

    // Nothing to ask: ssh-add -c is taken (as OpenSSH's agent takes it) and every use refused.
    let dir3 = WorkDir::new();
    let agent = Agent::start_with(dir3.path(), &["--approve-wait", "1"]);
    let out = run_with_agent(&agent, "ssh-add", &["-c", path_str(&key)]);
    assert!(out.status.success(), "ssh-add -c: {}", stderr(&out));
    let blob = only_key(&agent);
    let refused = call(
        agent.socket(),
        &Request::Sign {
            key_blob: blob,
            data: b"data".to_vec(),
            flags: proto::message::SIGN_RSA_SHA2_256,
        },
    );
    assert_eq!(refused, Response::Failure);
    assert!(
        agent
            .log_text()
            .contains("nobody answered with mfa-add --approve within 1 s"),
        "{}",
        agent.log_text()
    );
}

#[test]
fn agent_answers_query_and_refuses_what_it_cannot_do() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "query.key", 2048);
    let agent = Agent::start(dir.path());
    match call(agent.socket(), &Request::Query) {
        Response::Query(names) => {
            assert!(names.iter().any(|n| n == "query"), "{names:?}");
            assert!(names.iter().any(|n| n == TOKEN_SIGN_EXTENSION), "{names:?}");
        }
        other => panic!("query answered {other:?}"),
    }
    // A key for both purposes: this test judges the signatures, not the purpose.
    let added = agent.mfa_add(&["--purpose", "token,ssh", path_str(&key)]);
    assert!(added.status.success(), "{}", stderr(&added));
    let blob = only_key(&agent);
    // Unknown key for the extension.
    let mut other_blob = blob.clone();
    let last = other_blob.len() - 1;
    other_blob[last] ^= 1;
    assert_eq!(
        token_sign(agent.socket(), &other_blob, &[random_token()]),
        Response::ExtensionFailure
    );
    // SHA-1 ssh-rsa signatures are refused; SHA-2 ones are made.
    let sign = |flags| {
        call(
            agent.socket(),
            &Request::Sign {
                key_blob: blob.clone(),
                data: b"data".to_vec(),
                flags,
            },
        )
    };
    assert_eq!(sign(0), Response::Failure);
    match sign(proto::message::SIGN_RSA_SHA2_256) {
        Response::Sign { signature } => {
            assert!(signature[4..].starts_with(b"rsa-sha2-256"), "{signature:?}")
        }
        other => panic!("sign answered {other:?}"),
    }
    // Unknown extensions get FAILURE.
    assert_eq!(
        call(
            agent.socket(),
            &Request::UnknownExtension {
                name: "nope@example.com".into()
            }
        ),
        Response::Failure
    );
    // Non-RSA keys added by ssh-add are refused.
    let ed = dir.join("ed25519.key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", path_str(&ed)])
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let out = run_with_agent(&agent, "ssh-add", &[path_str(&ed)]);
    assert!(!out.status.success(), "an ed25519 key was accepted");
    assert_eq!(identities(&agent).len(), 1);
}
