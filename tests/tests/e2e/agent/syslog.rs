//! `mfa-agent --log syslog`: the audit trail in the system log, as OpenSSH's agent writes it
//! (facility auth, tag `mfa-agent[PID]`), for a foreground agent and a forked one; a missing
//! log daemon is an error at start; `--log` combinations that cannot work are usage errors.
//! A datagram socket in the test's folder stands in for `/dev/log`.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, random_token};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use proto::message::Response;

use super::{only_key, path_str, stderr, token_sign, DEADLINE};

/// A stand-in for `/dev/log` at `path`.
fn log_daemon(path: &Path) -> UnixDatagram {
    let daemon = UnixDatagram::bind(path).expect("bind the log socket");
    daemon
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    daemon
}

/// Datagrams received until one contains `wanted` (or the deadline passes).
fn receive_until(daemon: &UnixDatagram, wanted: &str) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 4096];
    while Instant::now() < deadline && !lines.iter().any(|l: &String| l.contains(wanted)) {
        if let Ok(n) = daemon.recv(&mut buf) {
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    lines
}

#[test]
fn a_foreground_agent_sends_each_signature_to_the_system_log_and_not_to_stderr() {
    let dir = WorkDir::new();
    let log_socket = dir.join("dev-log");
    let daemon = log_daemon(&log_socket);
    let agent = Agent::start_with(
        dir.path(),
        &["--log", "syslog", "--syslog-socket", path_str(&log_socket)],
    );
    let key = genrsa(dir.path(), "syslog.key", 2048);
    agent.add_key(&key);
    let blob = only_key(&agent);
    let signed = token_sign(agent.socket(), &blob, &[random_token(), random_token()]);
    assert!(matches!(signed, Response::TokenSign(_)), "{signed:?}");

    let lines = receive_until(&daemon, "sign token");
    let tag = format!("mfa-agent[{}]: ", agent.pid());
    let sign = lines
        .iter()
        .find(|l| l.contains("sign token"))
        .unwrap_or_else(|| panic!("no signature line in the system log: {lines:#?}"));
    // <38>: facility auth (4) * 8 + severity info (6), as OpenSSH's agent logs.
    assert!(
        sign.starts_with(&format!("<38>{tag}sign token key=SHA256:")),
        "{sign}"
    );
    assert!(sign.contains(" tokens=2 "), "{sign}");
    assert!(
        lines.iter().any(|l| l.contains("listening on")),
        "{lines:#?}"
    );
    // The harness runs the agent with -d: debug lines are severity debug (7).
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("<39>{tag}debug: "))),
        "{lines:#?}"
    );
    let text = agent.log_text();
    assert!(
        !text.contains("sign token"),
        "the audit line also went to stderr:\n{text}"
    );
}

#[test]
fn a_forked_agent_logs_to_the_system_log_and_writes_no_log_file() {
    let dir = WorkDir::new();
    let log_socket = dir.join("dev-log");
    let daemon = log_daemon(&log_socket);
    let out = Command::new(bin("mfa-agent"))
        .args([
            "-s",
            "--log",
            "syslog",
            "--syslog-socket",
            path_str(&log_socket),
        ])
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("XDG_STATE_HOME", dir.join("state"))
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-agent");
    assert!(out.status.success(), "mfa-agent -s: {}", stderr(&out));
    let eval = String::from_utf8_lossy(&out.stdout).into_owned();
    let pid = eval
        .split(';')
        .find_map(|part| part.trim().strip_prefix("MFA_AGENT_PID="))
        .unwrap_or_else(|| panic!("no MFA_AGENT_PID in {eval}"))
        .to_owned();
    let lines = receive_until(&daemon, "listening on");
    let kill = Command::new(bin("mfa-agent"))
        .arg("-k")
        .env("MFA_AGENT_PID", &pid)
        .output()
        .expect("mfa-agent -k");
    assert!(kill.status.success(), "mfa-agent -k: {}", stderr(&kill));
    assert!(
        lines.iter().any(
            |l| l.starts_with(&format!("<38>mfa-agent[{pid}]: mfa-agent "))
                && l.contains("listening on")
        ),
        "{lines:#?}"
    );
    let stopped = receive_until(&daemon, "stopping on SIGTERM");
    assert!(
        stopped.iter().any(|l| l.contains("stopping on SIGTERM")),
        "{stopped:#?}"
    );
    assert!(
        !dir.join("state/cloudhsm-mfa/agent.log").exists(),
        "a log file was written too"
    );
}

#[test]
fn no_log_daemon_is_an_error_at_start_and_bad_combinations_are_usage_errors() {
    let dir = WorkDir::new();
    let socket = dir.join("agent.sock");
    let run = |args: &[&str]| {
        Command::new(bin("mfa-agent"))
            .args(args)
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("XDG_STATE_HOME", dir.join("state"))
            .stdin(Stdio::null())
            .output()
            .expect("run mfa-agent")
    };
    let missing = path_str(&dir.join("no-log-here")).to_owned();
    let out = run(&[
        "-D",
        "-a",
        path_str(&socket),
        "--log",
        "syslog",
        "--syslog-socket",
        &missing,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("mfa-agent: error: cannot reach the system log at "),
        "{}",
        stderr(&out)
    );
    assert!(!socket.exists(), "the agent bound its socket without a log");

    for args in [
        &["--log", "stderr"][..],
        &["-D", "--log", "syslog", "--log-file", "x.log"][..],
        &["-D", "--log", "journal"][..],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn log_file_makes_a_foreground_agent_write_the_file_instead_of_stderr() {
    let dir = WorkDir::new();
    let file = dir.join("logs/agent.log");
    // A --log-file folder is not created: only the default state folder is ours to make.
    let out = Command::new(bin("mfa-agent"))
        .args(["-D", "--log", "file", "--log-file", path_str(&file)])
        .args(["-a", path_str(&dir.join("a.sock"))])
        .output()
        .expect("run mfa-agent");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("logs: No such file or directory"), "{err}");
    assert!(!dir.join("logs").exists());
    dir.mkdir("logs", 0o700);
    let mut agent = Agent::start_with(
        dir.path(),
        &["--log", "file", "--log-file", path_str(&file)],
    );
    assert!(agent.stop(), "the agent did not stop on SIGTERM");
    let text = dir.read_string(&file);
    assert!(text.contains("listening on"), "{text}");
    assert!(text.contains("stopping on SIGTERM"), "{text}");
    assert!(
        !agent.log_text().contains("listening on"),
        "{}",
        agent.log_text()
    );
}
