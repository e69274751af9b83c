//! mfa-agent forwarded by OpenSSH to a real sshd on 127.0.0.1 (issue 14): on the far side
//! mfa-sign, mfa-login and ssh-add find it through `SSH_AUTH_SOCK` alone; the agent verifies
//! ssh's session binding and its audit line names the host key; `--forwarded deny|confirm`
//! and `ssh-add -h` hold through the hop; `ssh -R` forwards the socket; a forwarded plain
//! ssh-agent gives the one-line hint. Each test skips, saying why, where sshd cannot run.

mod constraints;
mod locked;

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cloudhsm_mfa_tests::harness::agent::{Agent, PlainAgent};
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, public_key_pem, write_token_file};
use cloudhsm_mfa_tests::harness::output::{assert_ok, text};
use cloudhsm_mfa_tests::harness::skip;
use cloudhsm_mfa_tests::harness::sshd::{remote_line, Sshd};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::login::{assert_signed_by, login_args, Setup, SUCCESS};

/// The sshd for this test, or None after printing why the test is skipped.
fn sshd(dir: &WorkDir) -> Option<Sshd> {
    match Sshd::start(dir.path()) {
        Ok(sshd) => Some(sshd),
        Err(why) => {
            skip(&format!("sshd cannot run here: {why}"));
            None
        }
    }
}

/// `ssh -o 'ForwardAgent=${MFA_AUTH_SOCK}' 127.0.0.1 REMOTE`, as the README tells an
/// officer. OpenSSH 9.2 takes `${VAR}` (a bare `$VAR` is read as a path, fails, and ssh
/// forwards `SSH_AUTH_SOCK` instead), and forwards nothing unless an agent answers at
/// `SSH_AUTH_SOCK`, so that is set too (ssh also binds that connection for authentication,
/// but offers none of its keys: IdentitiesOnly).
fn forwarded(sshd: &Sshd, agent: &Agent, extra: &[&str], remote: &str) -> Output {
    let mut ssh = sshd.ssh();
    ssh.env("MFA_AUTH_SOCK", agent.socket())
        .env("SSH_AUTH_SOCK", agent.socket())
        .args(["-o", "ForwardAgent=${MFA_AUTH_SOCK}"])
        .args(extra)
        .arg("127.0.0.1")
        .arg(remote);
    ssh.output().expect("run ssh")
}

/// `mfa-sign FILE` on the far side, with no MFA_AUTH_SOCK: only sshd's SSH_AUTH_SOCK.
fn remote_mfa_sign(file: &Path) -> String {
    let mut command = Command::new(bin("mfa-sign"));
    command.arg(file).env_remove("MFA_AUTH_SOCK");
    remote_line(&command)
}

/// The agent's audit lines for signatures.
fn sign_lines(agent: &Agent) -> Vec<String> {
    agent
        .log_text()
        .lines()
        .filter(|l| l.contains(" sign "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn forwarded_mfa_sign_mfa_login_and_ssh_add_work_and_the_audit_names_the_host() {
    let setup = Setup::new();
    let dir = &setup.dir;
    let Some(sshd) = sshd(dir) else { return };
    let host = sshd.host_key_fingerprint("ed25519").to_owned();

    // mfa-sign on the far side, found through SSH_AUTH_SOCK alone; openssl judges.
    let file = dir.join("remote.json");
    write_token_file(&file, 3);
    let out = forwarded(&sshd, &setup.agent, &[], &remote_mfa_sign(&file));
    assert_ok(&out, "mfa-sign through ssh");
    assert_signed_by(&setup.public, &file, 3);
    let lines = sign_lines(&setup.agent);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("sign token") && lines[0].contains(&format!("via={host} forwarded")),
        "audit line: {}",
        lines[0]
    );

    // A hands-free login against the simulator, mfa-login on the far side.
    let mut login = setup.mfa_login(
        &setup.cluster,
        &setup.password_option(),
        &login_args("login.json"),
    );
    login.env_remove("MFA_AUTH_SOCK");
    let out = forwarded(&sshd, &setup.agent, &[], &remote_line(&login));
    assert_ok(&out, "mfa-login through ssh");
    assert!(text(&out.stdout).contains(SUCCESS), "{}", text(&out.stdout));
    assert_signed_by(&setup.public, &dir.join("login.json"), 3);

    // ssh-add on the far side lists the key.
    let out = forwarded(&sshd, &setup.agent, &[], "ssh-add -l");
    assert_ok(&out, "ssh-add -l through ssh");
    let local = text(&setup.agent.mfa_add(&["-l"]).stdout);
    let fingerprint = local.split_whitespace().nth(1).expect("a fingerprint");
    assert!(
        text(&out.stdout).contains(fingerprint),
        "{}",
        text(&out.stdout)
    );

    // With the RSA host key: the binding's rsa-sha2-512 signature verifies too.
    let rsa_host = sshd.host_key_fingerprint("rsa").to_owned();
    write_token_file(&file, 1);
    let out = forwarded(
        &sshd,
        &setup.agent,
        &["-o", "HostKeyAlgorithms=rsa-sha2-512"],
        &remote_mfa_sign(&file),
    );
    assert_ok(&out, "mfa-sign through ssh to the RSA host key");
    assert!(sign_lines(&setup.agent)
        .last()
        .is_some_and(|l| l.contains(&format!("via={rsa_host} forwarded"))));

    // The officer's own ssh-agent at SSH_AUTH_SOCK, as on a desktop: the README's command
    // forwards mfa-agent, not it.
    let desktop = dir.join("desktop-agent.sock");
    let _desktop = PlainAgent::start(&desktop);
    write_token_file(&file, 2);
    let out = sshd
        .ssh()
        .env("MFA_AUTH_SOCK", setup.agent.socket())
        .env("SSH_AUTH_SOCK", &desktop)
        .args(["-o", "ForwardAgent=${MFA_AUTH_SOCK}", "127.0.0.1"])
        .arg(remote_mfa_sign(&file))
        .output()
        .expect("ssh");
    assert_ok(&out, "mfa-sign through ssh beside a desktop ssh-agent");
    assert_signed_by(&setup.public, &file, 2);

    // Locally, the same key's audit line says local.
    write_token_file(&file, 1);
    let out = Command::new(bin("mfa-sign"))
        .arg(&file)
        .env("MFA_AUTH_SOCK", setup.agent.socket())
        .output()
        .expect("mfa-sign");
    assert_ok(&out, "local mfa-sign");
    let last = sign_lines(&setup.agent).pop().expect("a line");
    assert!(last.split_whitespace().any(|w| w == "local"), "{last}");
    let log = setup.agent.log_text();
    assert!(!log.contains("unknown extension"), "{log}");
    assert!(
        log.contains(&format!("bound to host key {host} for forwarding")),
        "{log}"
    );
}

#[test]
fn forwarded_deny_refuses_through_the_hop_and_confirm_asks_naming_the_host() {
    let dir = WorkDir::new();
    let Some(sshd) = sshd(&dir) else { return };
    let host = sshd.host_key_fingerprint("ed25519").to_owned();
    let asked = dir.join("asked.txt");
    let askpass = dir.write_mode(
        "askpass.sh",
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            asked.display()
        ),
        0o700,
    );
    let agent = Agent::start_with_env(
        &dir.mkdir("agent", 0o700),
        &[],
        &[("MFA_ASKPASS", askpass.as_os_str())],
    );
    let key = genrsa(dir.path(), "forwarded-policy.key", 2048);
    let public = public_key_pem(&key, &dir.join("forwarded-policy.pub"));
    let key_arg = key.to_str().expect("UTF-8");
    let added = agent.mfa_add(&["--forwarded", "deny", key_arg]);
    assert_ok(&added, "mfa-add --forwarded deny");

    let file = dir.join("t.json");
    write_token_file(&file, 2);
    let before = std::fs::read(&file).expect("read");
    let out = forwarded(&sshd, &agent, &[], &remote_mfa_sign(&file));
    assert!(!out.status.success(), "deny signed through ssh");
    assert!(
        text(&out.stderr).contains("refused"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&file).expect("read"),
        before,
        "file untouched"
    );
    assert!(agent.logged(&format!(
        "--forwarded deny and the request came through an agent forwarded to host key {host}"
    )));
    // Locally the same key signs.
    let out = Command::new(bin("mfa-sign"))
        .arg(&file)
        .env("MFA_AUTH_SOCK", agent.socket())
        .output()
        .expect("mfa-sign");
    assert_ok(&out, "local mfa-sign of a deny key");
    assert_signed_by(&public, &file, 2);
    assert!(!asked.exists(), "deny never asks");

    // Re-added with confirm: asked once through the hop, naming the host; never locally.
    assert_ok(
        &agent.mfa_add(&["--forwarded", "confirm", key_arg]),
        "re-add",
    );
    write_token_file(&file, 1);
    let out = forwarded(&sshd, &agent, &[], &remote_mfa_sign(&file));
    assert_ok(&out, "mfa-sign through ssh with a confirm key");
    let question = std::fs::read_to_string(&asked).expect("the askpass ran");
    assert!(question.contains(&host), "{question}");
    assert!(question.contains("forwarded"), "{question}");
    write_token_file(&file, 1);
    let out = Command::new(bin("mfa-sign"))
        .arg(&file)
        .env("MFA_AUTH_SOCK", agent.socket())
        .output()
        .expect("mfa-sign");
    assert_ok(&out, "local mfa-sign of a confirm key");
    assert_eq!(
        std::fs::read_to_string(&asked).expect("asked"),
        question,
        "no question for a local request"
    );
}

#[test]
fn ssh_dash_r_forwards_the_socket_and_counts_as_forwarded_from_an_unknown_host() {
    let dir = WorkDir::new();
    let Some(sshd) = sshd(&dir) else { return };
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = genrsa(dir.path(), "dash-r.key", 2048);
    let public = public_key_pem(&key, &dir.join("dash-r.pub"));
    agent.add_key(&key);
    let remote_socket = dir.join("remote.sock");
    let file = dir.join("t.json");
    write_token_file(&file, 2);
    let mut command = Command::new(bin("mfa-sign"));
    command
        .arg(&file)
        .env_remove("SSH_AUTH_SOCK")
        .env("MFA_AUTH_SOCK", &remote_socket);
    let mut forward = OsString::from(&remote_socket);
    forward.push(":");
    forward.push(agent.socket());
    let options: [&OsStr; 6] = [
        "-o".as_ref(),
        "StreamLocalBindUnlink=yes".as_ref(),
        "-o".as_ref(),
        "ExitOnForwardFailure=yes".as_ref(),
        "-R".as_ref(),
        &forward,
    ];
    let out = sshd.run(&options, &remote_line(&command));
    assert_ok(&out, "mfa-sign through ssh -R");
    assert_signed_by(&public, &file, 2);
    // A bare socket forward carries no session binding: the agent sees ssh itself, unbound,
    // and counts the request as forwarded from a host it does not know.
    let last = sign_lines(&agent).pop().expect("an audit line");
    assert!(
        last.contains("via=unbound-ssh") && last.contains("ssh"),
        "{last}"
    );
    // So --forwarded deny holds through -R too (it was signed silently before).
    let key_path = key.to_str().expect("UTF-8");
    let out = agent.mfa_add(&["--forwarded", "deny", key_path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write_token_file(&file, 2);
    let out = sshd.run(&options, &remote_line(&command));
    assert!(!out.status.success(), "a deny key signed through ssh -R");
    assert_eq!(sign_lines(&agent).len(), 1, "{}", agent.log_text());
    assert!(
        agent.logged("--forwarded deny and the request came through ssh without a session binding"),
        "{}",
        agent.log_text()
    );
}

#[test]
fn a_forwarded_plain_ssh_agent_gives_the_one_line_hint() {
    let dir = WorkDir::new();
    let Some(sshd) = sshd(&dir) else { return };
    let socket = dir.join("plain.sock");
    let _plain = PlainAgent::start(&socket);
    let file = dir.join("t.json");
    write_token_file(&file, 1);
    let mut ssh = sshd.ssh();
    ssh.env("SSH_AUTH_SOCK", &socket)
        .args(["-o", "ForwardAgent=yes", "127.0.0.1"])
        .arg(remote_mfa_sign(&file));
    let out = ssh.output().expect("ssh");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "an error line and a hint: {stderr}");
    assert!(
        lines[0].starts_with("mfa-sign: error: ") && lines[0].contains("is not mfa-agent"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("hint: ") && lines[1].contains("ForwardAgent"),
        "{stderr}"
    );

    // mfa-login says the same at the token prompt, types nothing, and (stdin not a
    // terminal) ends the CLI with 125.
    let setup = Setup::new();
    let mut login = setup.mfa_login(
        &setup.cluster,
        &setup.password_option(),
        &login_args("login.json"),
    );
    login.env_remove("MFA_AUTH_SOCK");
    let mut ssh = sshd.ssh();
    ssh.env("SSH_AUTH_SOCK", &socket)
        .args(["-o", "ForwardAgent=yes", "127.0.0.1"])
        .arg(remote_line(&login));
    let out = ssh.output().expect("ssh");
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is not mfa-agent"), "{stderr}");
    assert!(!text(&out.stdout).contains(SUCCESS));
}

#[test]
fn a_token_key_logs_in_nowhere_and_an_ssh_key_signs_no_token() {
    let dir = WorkDir::new();
    let Some(sshd) = sshd(&dir) else { return };
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = genrsa(dir.path(), "purpose.key", 2048);
    let public = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&key)
        .output()
        .expect("ssh-keygen -y");
    assert_ok(&public, "ssh-keygen -y");
    // Only this RSA key may log in; ssh asks the agent for its signature.
    let public_file = dir.write("purpose.key.pub", &public.stdout);
    std::fs::write(dir.join("sshd/authorized_keys"), &public.stdout).expect("authorized_keys");
    let login = || {
        sshd.ssh()
            .arg("-o")
            .arg(format!("IdentityFile={}", public_file.display()))
            .env("SSH_AUTH_SOCK", agent.socket())
            .args(["127.0.0.1", "true"])
            .output()
            .expect("ssh")
    };

    agent.add_key(&key);
    let out = login();
    assert!(
        !out.status.success(),
        "a CloudHSM token key logged in over ssh"
    );
    assert!(
        agent
            .log_text()
            .contains("the key is for CloudHSM tokens only"),
        "{}",
        agent.log_text()
    );

    // Added by ssh-add instead (after -D: a held key keeps its purpose): it logs in, and
    // signs no token.
    let ssh_add = |args: &[&OsStr]| {
        Command::new("ssh-add")
            .args(args)
            .env("SSH_AUTH_SOCK", agent.socket())
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add")
    };
    assert_ok(&ssh_add(&["-D".as_ref()]), "ssh-add -D");
    assert_ok(&ssh_add(&[key.as_os_str()]), "ssh-add");
    assert_ok(&login(), "ssh login with an SSH key through the agent");
    let file = dir.join("t.json");
    write_token_file(&file, 1);
    let out = Command::new(bin("mfa-sign"))
        .arg(&file)
        .env("MFA_AUTH_SOCK", agent.socket())
        .output()
        .expect("mfa-sign");
    assert!(!out.status.success(), "an SSH key signed a token");
    assert!(
        text(&out.stderr).contains("no key for CloudHSM tokens, only 1 SSH key"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_confirm_for_yes_stands_for_local_requests_and_never_through_a_hop() {
    let dir = WorkDir::new();
    let Some(sshd) = sshd(&dir) else { return };
    let asked = dir.join("asked.txt");
    let askpass = dir.write_mode(
        "askpass",
        format!("#!/bin/sh\necho asked >> '{}'\nexit 0\n", asked.display()),
        0o755,
    );
    let agent = Agent::start_with_env(
        &dir.mkdir("agent", 0o700),
        &[],
        &[("MFA_ASKPASS", askpass.as_os_str())],
    );
    let key = genrsa(dir.path(), "cached.key", 2048);
    let added = agent.mfa_add(&["--confirm-for", "5m", key.to_str().expect("utf-8")]);
    assert_ok(&added, "mfa-add --confirm-for 5m");
    let questions = || {
        std::fs::read_to_string(&asked)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let file = dir.join("t.json");
    for round in 0..3 {
        write_token_file(&file, 7);
        let out = Command::new(bin("mfa-sign"))
            .arg(&file)
            .env("MFA_AUTH_SOCK", agent.socket())
            .output()
            .expect("mfa-sign");
        assert_ok(&out, &format!("local mfa-sign {round}"));
    }
    assert_eq!(questions(), 1, "one question for three local signings");
    write_token_file(&file, 7);
    let out = forwarded(&sshd, &agent, &[], &remote_mfa_sign(&file));
    assert_ok(&out, "mfa-sign through the hop");
    assert_eq!(
        questions(),
        2,
        "a request through a forwarded agent is always asked"
    );
}

#[test]
fn no_forwarded_agent_under_a_home_too_long_for_openssh_10_1_sockets_is_named() {
    // OpenSSH 10.1+ sshd makes a forwarded agent's socket at ~/.ssh/agent/s.HASH.sshd.RANDOM
    // and cannot past 107 bytes (Linux), so a home over 67 bytes gets no SSH_AUTH_SOCK. The
    // installed sshd may be older: the session here has no forwarding, as there.
    let dir = WorkDir::new();
    let Some(sshd) = sshd(&dir) else { return };
    let file = dir.join("t.json");
    write_token_file(&file, 1);
    let long_home = format!("/home/{}", "h".repeat(62));
    assert_eq!(long_home.len(), 68);
    let mut command = Command::new(bin("mfa-sign"));
    command
        .arg(&file)
        .env_remove("MFA_AUTH_SOCK")
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", &long_home);
    let out = sshd.run(&[], &remote_line(&command));
    assert!(!out.status.success(), "signed without an agent");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("the home folder {long_home} is 68 bytes"))
            && stderr.contains("at most 67 bytes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: forward mfa-agent with ssh -R"),
        "{stderr}"
    );
    // A home that fits: the usual line.
    command.env("HOME", "/root");
    let out = sshd.run(&[], &remote_line(&command));
    assert!(
        text(&out.stderr).contains("MFA_AUTH_SOCK is not set"),
        "{}",
        text(&out.stderr)
    );
}
