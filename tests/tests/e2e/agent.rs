//! mfa-agent and mfa-add, judged by OpenSSH's ssh-add and ssh-keygen and by openssl. This
//! file: the shared helpers and mfa-add (every key format signs tokens byte-identically to
//! `openssl pkeyutl`, -l against ssh-keygen, -L against openssl, -d, passphrases at a
//! terminal, one-line errors). `openssh`: ssh-add and ssh-keygen against the agent. `custody`:
//! socket modes, other uids, hostile and concurrent clients, connection limits. `flood`: the
//! owner's ssh-add gets through while hostile connections hold every slot. `daemon`: eval
//! lines, -k, --. `lock_throttle`: unlock guesses queue agent-wide. `activation`: systemd
//! socket activation. `pkcs11`: SoftHSM2 token keys. `pkcs11_tokens`: two
//! tokens, `--token`, TOKEN/KEY names, helper processes, hints. `syslog`: `--log syslog`.
//! `tpm`: tpm2-pkcs11 keys on a software TPM, and a provider that crashes.
//! `logging`: a stalled log and a flood of bad frames.

mod activation;
mod certificates;
mod confirm_hints;
mod custody;
mod daemon;
mod flood;
mod lock_throttle;
mod logging;
mod openssh;
mod openssh_semantics;
mod pkcs11;
mod pkcs11_tokens;
mod reuse;
mod syslog;
mod tpm;

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{
    encrypt_pkcs8, encrypt_traditional, genec, genrsa, openssl, public_key_pem, random_token,
    sign_token_openssl,
};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
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

/// A 2048-bit key made by openssl in `dir` as `name`, and an agent there that holds it.
fn agent_holding(dir: &WorkDir, name: &str) -> (Agent, PathBuf) {
    let key = genrsa(dir.path(), name, 2048);
    let agent = Agent::start(dir.path());
    agent.add_key(&key);
    (agent, key)
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
            about: String::new(),
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
    assert!(line.trim_end().ends_with("(RSA) [token]"), "{line}");
    // A key ssh-add adds is an SSH key, and -l says so; ssh-add -l lists both as OpenSSH does.
    let ssh_key = genrsa(dir.path(), "ssh.key", 2048);
    let added = Command::new("ssh-add")
        .arg(&ssh_key)
        .env("SSH_AUTH_SOCK", agent.socket())
        .output()
        .expect("ssh-add");
    assert!(added.status.success(), "{}", stderr(&added));
    let out = stdout(&agent.mfa_add(&["-l"]));
    assert!(out.contains("ssh.key (RSA) [ssh]\n"), "{out}");
    let openssh = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", agent.socket())
        .output()
        .expect("ssh-add -l");
    assert_eq!(stdout(&openssh).lines().count(), 2, "{}", stdout(&openssh));
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
            first.starts_with("mfa-add: error: ") && first.contains(needle),
            "{err}"
        );
    };

    let enc = encrypt_pkcs8(&key, &dir.join("enc.pem"), "right");
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
    let ec = genec(dir.path(), "ec.pem");
    one_error(&agent.mfa_add(&[path_str(&ec)]), "not an RSA key");
    assert!(identities(&agent).is_empty());

    let no_agent = Command::new(bin("mfa-add"))
        .arg("-l")
        .env_remove("MFA_AUTH_SOCK")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run mfa-add");
    one_error(&no_agent, "MFA_AUTH_SOCK is not set");
    assert!(stderr(&no_agent).contains("hint: "));
    let dead = Command::new(bin("mfa-add"))
        .arg("-l")
        .env("MFA_AUTH_SOCK", dir.join("nothing.sock"))
        .output()
        .expect("run mfa-add");
    one_error(&dead, "cannot reach mfa-agent");
}

#[test]
fn mfa_add_of_an_endless_file_is_refused_not_read_into_memory() {
    // Bug: `mfa-add /dev/zero` read the whole "file" into memory, gigabytes a second.
    let dir = WorkDir::new();
    let agent = Agent::start(dir.path());
    let mut child = Command::new(bin("mfa-add"))
        .arg("/dev/zero")
        .env("MFA_AUTH_SOCK", agent.socket())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mfa-add");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mfa-add is still reading /dev/zero");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/dev/zero is not a regular file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn mfa_add_reports_a_bad_file_and_still_adds_the_others() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "multi.key", 2048);
    let missing = dir.join("missing.key");
    let agent = Agent::start(dir.path());
    let out = agent.mfa_add(&[path_str(&missing), path_str(&key)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("mfa-add: error: "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("Identity added"), "{}", stderr(&out));
    assert_signs_like_openssl(&agent, &key);
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

#[test]
fn mfa_add_asks_the_terminal_three_times_without_echo() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "tty.key", 2048);
    let secret = "tty-passphrase-42";
    let enc = encrypt_traditional(&key, &dir.join("tty-enc.pem"), secret);
    let agent = Agent::start(dir.path());
    let mfa_add = |args: &[&str]| {
        let mut command = Command::new(bin("mfa-add"));
        command.args(args).envs(agent.env());
        Pty::spawn(command)
    };

    // Two wrong tries, then the right one.
    let mut pty = mfa_add(&[path_str(&enc)]);
    for attempt in ["wrong-one", "wrong-two", secret] {
        pty.expect("Enter passphrase for");
        pty.expect(": ");
        assert!(pty.wait_for_echo(false), "the passphrase prompt echoes");
        pty.send_line(attempt);
        if attempt != secret {
            pty.expect("Bad passphrase, try again");
        }
    }
    pty.expect("Identity added");
    assert!(pty.wait().success(), "{}", pty.transcript());
    assert!(
        !pty.transcript().contains(secret),
        "the passphrase was echoed"
    );
    assert_signs_like_openssl(&agent, &key);

    // Three wrong tries: a one-line error, nothing added.
    assert!(agent.mfa_add(&["-D"]).status.success());
    let mut pty = mfa_add(&[path_str(&enc)]);
    for attempt in ["bad-1", "bad-2", "bad-3"] {
        pty.expect("Enter passphrase for");
        pty.send_line(attempt);
    }
    pty.expect("error: wrong passphrase for");
    assert!(!pty.wait().success());
    assert!(identities(&agent).is_empty());
}

#[test]
fn ctrl_c_at_the_passphrase_prompt_gives_the_terminal_its_echo_back() {
    // Bug: ^C at mfa-add's passphrase prompt killed it with echo still off; a shell that
    // does not restore the terminal (sh -c, a script) left the user typing blind.
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "tty.key", 2048);
    let enc = encrypt_traditional(&key, &dir.join("ctrl-c.pem"), "not-typed");
    let agent = Agent::start(dir.path());
    let mut command = Command::new(bin("mfa-add"));
    command.arg(&enc).envs(agent.env());
    let mut pty = Pty::spawn(command);
    pty.expect("Enter passphrase for");
    pty.expect(": ");
    assert!(pty.wait_for_echo(false), "the passphrase prompt echoes");
    pty.send("half-typ\x03");
    assert_eq!(pty.wait(), Exit::Signal(2), "{}", pty.transcript());
    assert!(pty.echo_enabled(), "echo is still off after ^C");
    assert!(identities(&agent).is_empty());
}

#[test]
fn mfa_add_l_on_a_locked_agent_says_it_is_locked() {
    // Bug: a locked agent's `mfa-add -l` said only "The agent has no identities.", which at
    // a login prompt reads as "the key was never loaded".
    let dir = WorkDir::new();
    let agent = Agent::start(dir.path());
    let empty = agent.mfa_add(&["-l"]);
    assert!(
        stdout(&empty).starts_with("The agent has no identities: load one with mfa-add KEY"),
        "{}",
        stdout(&empty)
    );
    agent.add_key(&genrsa(dir.path(), "locked.key", 2048));
    let pass = dir.write("lock-pass", "lock-me\n");
    let pass = path_str(&pass);
    assert!(agent
        .mfa_add(&["-x", "--passphrase-file", pass])
        .status
        .success());
    let locked = agent.mfa_add(&["-l"]);
    assert_eq!(locked.status.code(), Some(1));
    assert!(
        stdout(&locked).contains("it is locked (unlock it with mfa-add -X)"),
        "{}",
        stdout(&locked)
    );
    assert!(agent
        .mfa_add(&["-X", "--passphrase-file", pass])
        .status
        .success());
    assert!(stdout(&agent.mfa_add(&["-l"])).contains("locked.key"));
}

#[test]
fn mfa_add_d_takes_a_fingerprint_prefix_and_an_spki_pub_file_without_a_passphrase() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "prefix.key", 2048);
    let secret = "never-asked";
    let encrypted = encrypt_pkcs8(&key, &dir.join("locked.pem"), secret);
    let agent = Agent::start(dir.path());
    let pass = dir.write("pass", format!("{secret}\n"));
    let out = agent.mfa_add(&["--passphrase-file", path_str(&pass), path_str(&encrypted)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // LOCKED.pem.pub as CloudHSM keeps it (SPKI PEM): -d needs no passphrase (stdin is not a
    // terminal and no --passphrase-file: a question would fail).
    public_key_pem(&key, &dir.join("locked.pem.pub"));
    let out = agent.mfa_add(&["-d", path_str(&encrypted)]);
    assert!(out.status.success(), "mfa-add -d: {}", stderr(&out));
    assert!(identities(&agent).is_empty());
    // Nothing held: said at once, nothing asked.
    let out = agent.mfa_add(&["-d", path_str(&encrypted)]);
    assert!(
        stderr(&out).contains("the agent holds no key"),
        "{}",
        stderr(&out)
    );
    // A prefix of the fingerprint, as --key takes it.
    agent.add_key(&key);
    let fp = ssh_keygen_fingerprint(&key);
    let fp = fp.split_whitespace().nth(1).expect("fingerprint");
    let out = agent.mfa_add(&["-d", &fp[..16]]);
    assert!(out.status.success(), "mfa-add -d PREFIX: {}", stderr(&out));
    assert!(identities(&agent).is_empty());
}
