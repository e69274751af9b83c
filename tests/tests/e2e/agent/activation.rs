//! systemd socket activation: `mfa-agent -d` started by `systemd-socket-activate` (else by a
//! tiny Python launcher doing the same: bind, LISTEN_FDS=1, LISTEN_PID=own pid, exec) serves
//! the passed socket to ssh-add; the fds are taken only when LISTEN_PID is the agent's pid;
//! nothing the agent runs inherits the variables.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, random_token, sign_token_openssl};
use cloudhsm_mfa_tests::harness::skip;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use proto::message::{Identity, Request, Response};

use super::{
    call, first_two_fields, path_str, ssh_keygen_fingerprint, stderr, stdout, token_sign, DEADLINE,
};

/// Binds and listens on argv[1], puts the socket at fd 3, sets LISTEN_FDS=1 and LISTEN_PID
/// (argv[2]: "self" for its own pid, which exec keeps), and execs argv[3:].
const PYTHON_LAUNCHER: &str = r#"
import os, socket, sys
path, pid, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o600)
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid()) if pid == "self" else pid
os.execv(argv[0], argv)
"#;

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A launcher that passes `socket` as fd 3 to `mfa-agent ARGS`, with `env` for the agent;
/// `listen_pid` None means the agent's own pid.
fn launcher(
    socket: &Path,
    listen_pid: Option<&str>,
    env: &[(&str, &Path)],
    args: &[&str],
) -> Command {
    let mut command = if listen_pid.is_none() && have("systemd-socket-activate") {
        let mut c = Command::new("systemd-socket-activate");
        c.arg("-l").arg(socket);
        for (name, value) in env {
            c.arg("-E").arg(format!("{name}={}", value.display()));
        }
        c.arg(bin("mfa-agent"));
        c
    } else {
        let mut c = Command::new("python3");
        c.args(["-c", PYTHON_LAUNCHER])
            .arg(socket)
            .arg(listen_pid.unwrap_or("self"))
            .arg(bin("mfa-agent"));
        c.env_remove("MFA_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .envs(env.iter().map(|(n, v)| (n, v.as_os_str())));
        c
    };
    command.args(args);
    command
}

fn spawn(mut command: Command, log: &Path) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).expect("create the log"))
        .spawn()
        .expect("spawn the launcher")
}

fn wait_for(path: &Path, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + DEADLINE;
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "launcher exited ({status}); log:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `mfa-add ARGS` against the agent at `socket`: keys for CloudHSM tokens.
fn mfa_add(socket: &Path, args: &[&str]) -> Output {
    Command::new(bin("mfa-add"))
        .args(args)
        .env("MFA_AUTH_SOCK", socket)
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-add")
}

fn ssh_add(socket: &Path, args: &[&str]) -> Output {
    Command::new("ssh-add")
        .args(args)
        .env("SSH_AUTH_SOCK", socket)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-add")
}

fn stop(child: &mut Child) {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + DEADLINE;
    while !matches!(child.try_wait(), Ok(Some(_))) {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the agent did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn identities_at(socket: &Path) -> Vec<Identity> {
    match call(socket, &Request::RequestIdentities) {
        Response::Identities(ids) => ids,
        other => panic!("identities request answered {other:?}"),
    }
}

/// An askpass program that saves its environment to `dump` and says yes.
fn env_dumping_askpass(dir: &WorkDir) -> (PathBuf, PathBuf) {
    let dump = dir.join("askpass.env");
    let script = dir.write_mode(
        "askpass.sh",
        format!("#!/bin/sh\nenv > '{}'\nexit 0\n", path_str(&dump)),
        0o755,
    );
    (script, dump)
}

#[test]
fn socket_activated_agent_serves_ssh_add_and_hides_the_variables() {
    if !have("systemd-socket-activate") && !have("python3") {
        skip("neither systemd-socket-activate nor python3 is installed");
        return;
    }
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "activated.key", 2048);
    let (askpass, dump) = env_dumping_askpass(&dir);
    let socket = dir.join("activated.sock");
    let log = dir.join("agent.log");
    let mut child = spawn(
        launcher(&socket, None, &[("MFA_ASKPASS", &askpass)], &["-d"]),
        &log,
    );
    wait_for(&socket, &mut child, &log);

    // The first connection starts the agent (systemd-socket-activate execs it then).
    let empty = ssh_add(&socket, &["-l"]);
    assert_eq!(empty.status.code(), Some(1), "{}", stderr(&empty));
    assert!(
        stdout(&empty).contains("no identities"),
        "{}",
        stdout(&empty)
    );
    let added = mfa_add(&socket, &["-c", path_str(&key)]);
    assert!(added.status.success(), "mfa-add -c: {}", stderr(&added));
    let list = ssh_add(&socket, &["-l"]);
    assert!(list.status.success(), "{}", stderr(&list));
    assert_eq!(
        first_two_fields(&stdout(&list)),
        ssh_keygen_fingerprint(&key)
    );

    // A confirm-on-use signature runs the askpass program: it must not see LISTEN_*.
    let ids = identities_at(&socket);
    let token = random_token();
    assert_eq!(
        token_sign(&socket, &ids[0].key_blob, &[token]),
        Response::TokenSign(vec![sign_token_openssl(&key, &token)])
    );
    let env = fs::read_to_string(&dump).expect("the askpass program ran");
    assert!(env.contains("SSH_ASKPASS_PROMPT=confirm"), "{env}");
    assert!(!env.contains("LISTEN_"), "a child inherited:\n{env}");

    // exec kept the launcher's pid: the agent runs as that process, and said how it listens.
    let exe = fs::read_link(format!("/proc/{}/exe", child.id())).expect("read exe");
    assert!(exe.ends_with("mfa-agent"), "{}", exe.display());
    stop(&mut child);
    let text = fs::read_to_string(&log).expect("log");
    assert!(text.contains("(socket activation, pid"), "{text}");
    assert!(text.contains("wiped 1 key #"), "{text}");
    // The socket is systemd's (here: the launcher's): the agent leaves it in place.
    assert!(
        socket.exists(),
        "the agent removed a socket it did not bind"
    );
}

#[test]
fn fds_for_another_pid_are_not_taken_and_fork_mode_refuses_them() {
    if !have("python3") {
        skip("python3 is not installed");
        return;
    }
    let dir = WorkDir::new();
    let (askpass, dump) = env_dumping_askpass(&dir);
    let passed = dir.join("passed.sock");
    let own = dir.join("own.sock");
    let log = dir.join("agent.log");
    // LISTEN_PID names another process: the agent binds -a as usual and hides the variables.
    let mut child = spawn(
        launcher(
            &passed,
            Some("1"),
            &[("MFA_ASKPASS", &askpass)],
            &["-d", "-a", path_str(&own)],
        ),
        &log,
    );
    wait_for(&own, &mut child, &log);
    let key = genrsa(dir.path(), "notours.key", 2048);
    assert!(mfa_add(&own, &["-c", path_str(&key)]).status.success());
    let ids = identities_at(&own);
    let token = random_token();
    assert!(matches!(
        token_sign(&own, &ids[0].key_blob, &[token]),
        Response::TokenSign(_)
    ));
    let env = fs::read_to_string(&dump).expect("the askpass program ran");
    assert!(!env.contains("LISTEN_"), "a child inherited:\n{env}");
    stop(&mut child);
    let text = fs::read_to_string(&log).expect("log");
    assert!(!text.contains("socket activation"), "{text}");
    assert!(!own.exists(), "the agent's own socket was left behind");

    // Activation without -D or -d is a usage error, not a forked agent on the wrong socket.
    let out = launcher(&dir.join("fork.sock"), Some("self"), &[], &["-s"])
        .stdin(Stdio::null())
        .output()
        .expect("run the launcher");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("-D or -d"), "{}", stderr(&out));
}

#[test]
fn dash_a_must_name_the_passed_socket() {
    if !have("python3") {
        skip("python3 is not installed");
        return;
    }
    let dir = WorkDir::new();
    // The shipped .service passes -a with the .socket unit's path: the passed socket is served.
    let socket = dir.join("same.sock");
    let log = dir.join("same.log");
    let args = ["-d", "-a", path_str(&socket)];
    let mut child = spawn(launcher(&socket, Some("self"), &[], &args), &log);
    wait_for(&socket, &mut child, &log);
    let out = ssh_add(&socket, &["-l"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("no identities"), "{}", stdout(&out));
    stop(&mut child);
    let text = fs::read_to_string(&log).expect("log");
    assert!(text.contains("(socket activation, pid"), "{text}");

    // Another -a is a usage error rather than a second, unexpected socket.
    let other = dir.join("other.sock");
    let out = launcher(
        &dir.join("passed.sock"),
        Some("self"),
        &[],
        &["-D", "-a", path_str(&other)],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run the launcher");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not -a"), "{}", stderr(&out));
    assert!(!other.exists());
}
