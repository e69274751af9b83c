//! mfa-agent and mfa-add, judged by OpenSSH's ssh-add and ssh-keygen and by openssl: keys in
//! every format sign tokens byte-identically to `openssl pkeyutl`; ssh-add lists, removes,
//! locks and times out keys; `ssh-keygen -Y sign` works through the agent; the socket is
//! private, other uids are refused, and broken or hostile clients never stop the agent.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, openssl, random_token, sign_token_openssl};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use proto::message::{Identity, Request, Response, TokenSignRequest};

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
