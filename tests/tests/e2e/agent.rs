//! mfa-agent and mfa-add, judged by OpenSSH's ssh-add and ssh-keygen and by openssl: keys in
//! every format sign tokens byte-identically to `openssl pkeyutl`; ssh-add lists, removes,
//! locks and times out keys; `ssh-keygen -Y sign` works through the agent; the socket is
//! private, other uids are refused, and broken or hostile clients never stop the agent.

mod custody;
mod daemon;

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, openssl, random_token, sign_token_openssl};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use proto::message::{Identity, Request, Response, TokenSignRequest, TOKEN_SIGN_EXTENSION};

/// Generous limit for anything that polls, so a broken agent fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(30);

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One request over a fresh connection.
fn call(socket: &Path, request: &Request) -> Response {
    let mut stream = UnixStream::connect(socket).expect("connect to the agent");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    proto::client::call(&mut stream, request).expect("a reply from the agent")
}

fn identities(agent: &Agent) -> Vec<Identity> {
    match call(agent.socket(), &Request::RequestIdentities) {
        Response::Identities(ids) => ids,
        other => panic!("identities request answered {other:?}"),
    }
}

/// The only key in the agent.
fn only_key(agent: &Agent) -> Vec<u8> {
    let ids = identities(agent);
    assert_eq!(ids.len(), 1, "expected one key in the agent: {ids:?}");
    ids[0].key_blob.clone()
}

fn token_sign(socket: &Path, key_blob: &[u8], tokens: &[[u8; 32]]) -> Response {
    call(
        socket,
        &Request::TokenSign(TokenSignRequest {
            key_blob: key_blob.to_vec(),
            tokens: tokens.to_vec(),
        }),
    )
}

/// Signs two tokens through the extension and compares with `openssl pkeyutl` on `key`.
fn assert_signs_like_openssl(agent: &Agent, key: &Path) {
    let blob = only_key(agent);
    let tokens = [random_token(), random_token()];
    match token_sign(agent.socket(), &blob, &tokens) {
        Response::TokenSign(sigs) => {
            assert_eq!(sigs.len(), 2);
            for (token, sig) in tokens.iter().zip(&sigs) {
                assert_eq!(
                    sig,
                    &sign_token_openssl(key, token),
                    "agent signature differs from openssl pkeyutl for {}",
                    key.display()
                );
            }
        }
        other => panic!("token-sign answered {other:?}"),
    }
}

/// Runs a tool with the agent's variables, stdin closed.
fn run_with_agent(agent: &Agent, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .envs(agent.env())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// `ssh-keygen -lf KEY`'s "BITS SHA256:..." part.
fn ssh_keygen_fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-lf", path_str(key)])
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen -lf: {}", stderr(&out));
    first_two_fields(&stdout(&out))
}

fn first_two_fields(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `KEY.pub` (OpenSSH public key line, from `ssh-keygen -y`) and returns its path.
fn write_ssh_public_key(key: &Path) -> PathBuf {
    let public = Command::new("ssh-keygen")
        .args(["-y", "-f", path_str(key)])
        .output()
        .expect("ssh-keygen -y");
    assert!(
        public.status.success(),
        "ssh-keygen -y: {}",
        stderr(&public)
    );
    let mut path = key.as_os_str().to_owned();
    path.push(".pub");
    std::fs::write(&path, &public.stdout).expect("write the .pub file");
    PathBuf::from(path)
}

/// Copies `key` to `out` and converts the copy to OpenSSH format (empty passphrase or `pass`).
fn to_openssh(key: &Path, out: &Path, pass: &str) -> PathBuf {
    std::fs::copy(key, out).expect("copy the key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", "", "-N", pass, "-f", path_str(out)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run ssh-keygen -p");
    assert!(status.success(), "ssh-keygen -p failed");
    let text = std::fs::read_to_string(out).expect("read converted key");
    assert!(
        text.contains("BEGIN OPENSSH PRIVATE KEY"),
        "not converted: {text}"
    );
    out.to_path_buf()
}

#[test]
fn mfa_add_loads_every_format_and_signs_like_openssl() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "formats.key", 2048);
    let pass = "correct horse battery";
    let pass_file = dir.write("pass.txt", format!("{pass}\n"));
    let pkcs1 = dir.join("pkcs1.pem");
    openssl(
        &[
            "rsa",
            "-traditional",
            "-in",
            path_str(&key),
            "-out",
            path_str(&pkcs1),
        ],
        b"",
    );
    let passout = format!("pass:{pass}");
    let encrypted = |name: &str, args: &[&str]| -> PathBuf {
        let out = dir.join(name);
        let mut all = args.to_vec();
        all.extend([
            "-in",
            path_str(&key),
            "-out",
            path_str(&out),
            "-passout",
            &passout,
        ]);
        openssl(&all, b"");
        out
    };
    let pkcs8_enc = encrypted("pkcs8-enc.pem", &["pkcs8", "-topk8", "-v2", "aes-256-cbc"]);
    let legacy_aes256 = encrypted("legacy-aes256.pem", &["rsa", "-traditional", "-aes256"]);
    let legacy_aes128 = encrypted("legacy-aes128.pem", &["rsa", "-traditional", "-aes128"]);
    let legacy_aes192 = encrypted("legacy-aes192.pem", &["rsa", "-traditional", "-aes192"]);
    let legacy_des3 = encrypted("legacy-des3.pem", &["rsa", "-traditional", "-des3"]);
    let openssh = to_openssh(&key, &dir.join("openssh.key"), "");
    let openssh_enc = to_openssh(&key, &dir.join("openssh-enc.key"), pass);

    let agent = Agent::start(dir.path());
    let plain = [&key, &pkcs1, &openssh];
    let with_pass = [
        &pkcs8_enc,
        &legacy_aes256,
        &legacy_aes128,
        &legacy_aes192,
        &legacy_des3,
        &openssh_enc,
    ];
    for file in plain.iter().chain(&with_pass) {
        assert!(agent.mfa_add(&["-D"]).status.success());
        assert!(identities(&agent).is_empty());
        let out = agent.mfa_add(&["--passphrase-file", path_str(&pass_file), path_str(file)]);
        assert!(
            out.status.success(),
            "mfa-add {}: {}",
            file.display(),
            stderr(&out)
        );
        assert_signs_like_openssl(&agent, &key);
    }
    let text = agent.log_text();
    assert!(
        text.contains("tokens=2"),
        "no audit line in the log:\n{text}"
    );
}

#[test]
fn mfa_add_list_matches_ssh_keygen() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "list.key", 2048);
    let agent = Agent::start(dir.path());
    let empty = agent.mfa_add(&["-l"]);
    assert_eq!(empty.status.code(), Some(1));
    assert!(stdout(&empty).contains("no identities"));
    agent.add_key(&key);
    let out = agent.mfa_add(&["-l"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    assert_eq!(first_two_fields(&line), ssh_keygen_fingerprint(&key));
    assert!(line.trim_end().ends_with("(RSA)"), "{line}");
}

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
fn ssh_keygen_signs_through_the_agent() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "ysign.key", 2048);
    let agent = Agent::start(dir.path());
    agent.add_key(&key);
    let pub_path = write_ssh_public_key(&key);
    let message = dir.write("message.txt", "sign me\n");
    let out = run_with_agent(
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
    );
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
        Response::Failure
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
    let out = run_with_agent(&agent, "ssh-add", &["-c", path_str(&key)]);
    assert!(out.status.success(), "ssh-add -c: {}", stderr(&out));
    let blob = only_key(&agent);
    assert_eq!(
        token_sign(agent.socket(), &blob, &[random_token()]),
        Response::Failure
    );
    drop(agent);

    // Nothing to ask: refuse.
    let dir3 = WorkDir::new();
    let agent = Agent::start(dir3.path());
    assert!(agent.mfa_add(&["-c", path_str(&key)]).status.success());
    let blob = only_key(&agent);
    assert_eq!(
        token_sign(agent.socket(), &blob, &[random_token()]),
        Response::Failure
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
    agent.add_key(&key);
    let blob = only_key(&agent);
    // Unknown key for the extension.
    let mut other_blob = blob.clone();
    let last = other_blob.len() - 1;
    other_blob[last] ^= 1;
    assert_eq!(
        token_sign(agent.socket(), &other_blob, &[random_token()]),
        Response::Failure
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

#[test]
fn mfa_add_errors_are_one_clear_line() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "errors.key", 2048);
    let agent = Agent::start(dir.path());
    let one_error = |out: &Output, needle: &str| {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
        let err = stderr(out);
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error: ") && first.contains(needle),
            "{err}"
        );
    };

    let enc = dir.join("enc.pem");
    openssl(
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            path_str(&key),
            "-out",
            path_str(&enc),
            "-passout",
            "pass:right",
        ],
        b"",
    );
    let wrong = dir.write("wrong.txt", "wrong\n");
    one_error(
        &agent.mfa_add(&["--passphrase-file", path_str(&wrong), path_str(&enc)]),
        "wrong passphrase",
    );
    // No terminal and no passphrase file: say how to give one.
    one_error(&agent.mfa_add(&[path_str(&enc)]), "no terminal");

    let small = dir.join("small.pem");
    openssl(&["genrsa", "-out", path_str(&small), "1024"], b"");
    one_error(&agent.mfa_add(&[path_str(&small)]), "1024 bits");

    let ed = dir.join("ed.key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", path_str(&ed)])
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    one_error(&agent.mfa_add(&[path_str(&ed)]), "not an RSA key");
    let ec = dir.join("ec.pem");
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            path_str(&ec),
        ],
        b"",
    );
    one_error(&agent.mfa_add(&[path_str(&ec)]), "not an RSA key");
    assert!(identities(&agent).is_empty());

    let no_agent = Command::new(bin("mfa-add"))
        .arg("-l")
        .env_remove("MFA_AUTH_SOCK")
        .output()
        .expect("run mfa-add");
    one_error(&no_agent, "MFA_AUTH_SOCK is not set");
    assert!(stderr(&no_agent).contains("hint: "));
    let dead = Command::new(bin("mfa-add"))
        .arg("-l")
        .env("MFA_AUTH_SOCK", dir.join("nothing.sock"))
        .output()
        .expect("run mfa-add");
    one_error(&dead, "cannot connect to the agent");
}

#[test]
fn mfa_add_lists_public_keys_and_removes_by_file_or_fingerprint() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "remove.key", 2048);
    let other = genrsa(dir.path(), "remove-other.key", 2048);
    let agent = Agent::start(dir.path());
    agent.add_key(&key);
    agent.add_key(&other);
    let out = agent.mfa_add(&["-L"]);
    assert!(out.status.success());
    let expected: Vec<u8> = [&key, &other]
        .iter()
        .flat_map(|k| openssl(&["pkey", "-in", path_str(k), "-pubout"], b""))
        .collect();
    assert_eq!(stdout(&out), String::from_utf8_lossy(&expected));

    let fp = ssh_keygen_fingerprint(&other);
    let fp = fp.split_whitespace().nth(1).expect("fingerprint");
    let out = agent.mfa_add(&["-d", fp]);
    assert!(out.status.success(), "mfa-add -d FP: {}", stderr(&out));
    let out = agent.mfa_add(&["-l"]);
    assert_eq!(
        first_two_fields(&stdout(&out)),
        ssh_keygen_fingerprint(&key)
    );
    let out = agent.mfa_add(&["-d", path_str(&key)]);
    assert!(out.status.success(), "mfa-add -d FILE: {}", stderr(&out));
    assert!(identities(&agent).is_empty());
    assert!(!agent.mfa_add(&["-d", path_str(&key)]).status.success());
}
