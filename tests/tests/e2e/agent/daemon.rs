//! mfa-agent as a program: eval lines in sh and csh, -k, a command run beside the agent, stop
//! signals, and stale sockets.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::genrsa;
use cloudhsm_mfa_tests::harness::workdir::{mode, WorkDir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{identities, path_str, stderr, stdout, DEADLINE};

/// A PATH with the workspace's binaries first.
fn path_with_bins() -> String {
    let bins = bin("mfa-agent");
    let dir = bins.parent().expect("bin dir");
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn sh(dir: &WorkDir, script: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", script])
        .env("PATH", path_with_bins())
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("MFA_AUTH_SOCK")
        .env_remove("MFA_AGENT_PID")
        .stdin(Stdio::null())
        .output()
        .expect("run sh")
}

#[test]
fn eval_add_and_kill_in_sh_leave_no_socket() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "eval.key", 2048);
    let script = format!(
        r#"
        eval "$(mfa-agent -s)" >/dev/null || exit 10
        s=$MFA_AUTH_SOCK
        echo "sock=$s"
        echo "modes=$(stat -c %a "$(dirname "$s")") $(stat -c %a "$s")"
        mfa-add '{key}' 2>/dev/null || exit 11
        mfa-add -l || exit 12
        eval "$(mfa-agent -k)" >/dev/null || exit 13
        [ -z "$MFA_AUTH_SOCK" ] || exit 14
        [ -e "$s" ] && exit 15
        [ -e "$(dirname "$s")" ] && exit 16
        exit 0
        "#,
        key = path_str(&key)
    );
    let out = sh(&dir, &script);
    assert!(
        out.status.success(),
        "sh exited {}: {}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    let sock = text
        .lines()
        .find_map(|l| l.strip_prefix("sock="))
        .expect("socket path printed");
    assert!(
        Path::new(sock).starts_with(dir.path()),
        "socket not under XDG_RUNTIME_DIR: {sock}"
    );
    assert!(text.contains("modes=700 600"), "{text}");
    assert!(text.contains(" (RSA)"), "{text}");
    // The forked agent logged to its private log file.
    let log = dir.join("state/cloudhsm-mfa/agent.log");
    assert_eq!(mode(&log), 0o600);
    assert_eq!(mode(log.parent().expect("log folder")), 0o700);
    let text = dir.read_string(&log);
    assert!(text.contains("listening on"), "{text}");
    // mfa-agent -k: the agent wiped the key before it exited.
    assert!(
        text.contains("stopping on SIGTERM; wiped 1 key #"),
        "{text}"
    );
}

#[test]
fn csh_lines_and_kill() {
    let dir = WorkDir::new();
    let out = sh(&dir, "mfa-agent -c");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    let sock = lines
        .next()
        .and_then(|l| l.strip_prefix("setenv MFA_AUTH_SOCK "))
        .and_then(|l| l.strip_suffix(';'))
        .expect("setenv MFA_AUTH_SOCK line")
        .to_owned();
    let pid = lines
        .next()
        .and_then(|l| l.strip_prefix("setenv MFA_AGENT_PID "))
        .and_then(|l| l.strip_suffix(';'))
        .expect("setenv MFA_AGENT_PID line")
        .to_owned();
    assert_eq!(
        lines.next(),
        Some(format!("echo Agent pid {pid};").as_str())
    );
    assert!(Path::new(&sock).exists());
    let out = Command::new(bin("mfa-agent"))
        .args(["-k", "-c"])
        .env("MFA_AGENT_PID", &pid)
        .output()
        .expect("mfa-agent -k");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("unsetenv MFA_AUTH_SOCK;"),
        "{}",
        stdout(&out)
    );
    assert!(!Path::new(&sock).exists(), "socket left after -k");
}

#[test]
fn kill_with_a_stale_pid_leaves_another_process_alone() {
    // Bug: `mfa-agent -k` sent SIGTERM to whatever process had MFA_AGENT_PID's pid, so a
    // variable left from a stopped agent could stop an unrelated process.
    let mut other = Command::new("sleep").arg("30").spawn().expect("sleep");
    let out = Command::new(bin("mfa-agent"))
        .arg("-k")
        .env("MFA_AGENT_PID", other.id().to_string())
        .output()
        .expect("mfa-agent -k");
    let alive = other.try_wait().expect("try_wait").is_none();
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(alive, "mfa-agent -k stopped a process that is not an agent");
    assert!(
        stdout(&out).is_empty(),
        "unset lines printed: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("no mfa-agent runs as pid") && stderr(&out).contains("unset"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn command_runs_beside_the_agent_and_its_status_is_returned() {
    let dir = WorkDir::new();
    let out = sh(
        &dir,
        "mfa-agent -- sh -c 'mfa-add -l; echo \"sock=$MFA_AUTH_SOCK\"; exit 3'",
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("The agent has no identities"), "{text}");
    let sock = text
        .lines()
        .find_map(|l| l.strip_prefix("sock="))
        .expect("socket path printed");
    assert!(
        !Path::new(sock).exists(),
        "socket left after the command ended"
    );
    let out = sh(&dir, "mfa-agent -- no-such-command-here");
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
}

#[test]
fn stop_signals_wipe_the_keys_and_remove_the_socket_and_a_stale_socket_is_replaced() {
    for signal in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
        let dir = WorkDir::new();
        let key = genrsa(dir.path(), "signal.key", 2048);
        let mut agent = Agent::start(dir.path());
        agent.add_key(&key);
        kill(Pid::from_raw(agent.pid() as i32), signal).expect("signal the agent");
        assert!(agent.stop(), "the agent did not exit on {signal}");
        assert!(!agent.socket().exists(), "socket left after {signal}");
        let log = agent.log_text();
        assert!(log.contains("wiped 1 key #"), "{signal}:\n{log}");
    }

    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "stale.key", 2048);
    let first = Agent::start(dir.path());
    // A second agent on a live socket refuses to start.
    let out = Command::new(bin("mfa-agent"))
        .args(["-D", "-a", path_str(first.socket())])
        .output()
        .expect("run mfa-agent");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already listening"),
        "{}",
        stderr(&out)
    );
    // A dead agent's socket is replaced.
    kill(Pid::from_raw(first.pid() as i32), Signal::SIGKILL).expect("kill");
    let deadline = Instant::now() + DEADLINE;
    while std::os::unix::net::UnixStream::connect(first.socket()).is_ok() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(first.socket().exists(), "SIGKILL cannot remove the socket");
    let second = Agent::start(dir.path());
    second.add_key(&key);
    assert_eq!(identities(&second).len(), 1);
    drop(first);
}

/// `mfa-agent -- sh -c 'echo SOCK PID; exec sleep 60'`: returns the child and the line.
fn start_with_sleeping_command(dir: &WorkDir) -> (std::process::Child, String, i32) {
    use std::io::BufRead;
    let mut child = Command::new(bin("mfa-agent"))
        .args([
            "--",
            "sh",
            "-c",
            "echo \"$MFA_AUTH_SOCK $$\"; exec sleep 60",
        ])
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("XDG_STATE_HOME", dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn mfa-agent -- sh");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the command's line");
    let (sock, pid) = line.trim().rsplit_once(' ').expect("SOCK PID");
    assert!(Path::new(sock).exists(), "no socket while the command runs");
    (child, sock.to_owned(), pid.parse().expect("pid"))
}

#[test]
fn command_mode_passes_sigterm_on_and_the_agent_never_outlives_it() {
    let dir = WorkDir::new();
    // SIGTERM to mfa-agent reaches the command; mfa-agent exits 128+15 and the agent is gone.
    let (mut child, sock, _) = start_with_sleeping_command(&dir);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(143), "{status}");
    assert!(
        !Path::new(&sock).exists(),
        "socket left after the command ended"
    );

    // Even when mfa-agent itself is killed outright, the agent notices and stops.
    let (mut child, sock, sleeper) = start_with_sleeping_command(&dir);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).expect("SIGKILL");
    let _ = child.wait();
    let deadline = Instant::now() + DEADLINE;
    while Path::new(&sock).exists() {
        assert!(
            Instant::now() < deadline,
            "the agent outlived its mfa-agent"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = kill(Pid::from_raw(sleeper), Signal::SIGKILL);
}

#[test]
fn usage_errors_exit_2_with_one_error_line() {
    let run = |program: &str, args: &[&str]| {
        Command::new(bin(program))
            .args(args)
            .env("MFA_AUTH_SOCK", "/nonexistent/agent.sock")
            .stdin(Stdio::null())
            .output()
            .expect("run")
    };
    for (program, args) in [
        ("mfa-agent", &["-D", "--", "sh"][..]),
        ("mfa-agent", &["-D", "-t", "soon"][..]),
        ("mfa-agent", &["-s", "-c"][..]),
        ("mfa-add", &["-l", "some.key"][..]),
        ("mfa-add", &["-t", "0", "some.key"][..]),
        ("mfa-add", &["-d"][..]),
        ("mfa-add", &[][..]),
    ] {
        let out = run(program, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{program} {args:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).starts_with(&format!("{program}: error: ")),
            "{program} {args:?}: {}",
            stderr(&out)
        );
    }
    assert!(stderr(&run("mfa-add", &[])).contains("hint: mfa-add officer1.key"));
}

#[test]
fn sigusr1_wipes_every_key_and_the_agent_goes_on() {
    // As OpenSSH's ssh-agent: `kill -USR1` removes all keys without stopping the agent.
    let dir = WorkDir::new();
    let agent = Agent::start(dir.path());
    agent.add_key(&genrsa(dir.path(), "usr1.key", 2048));
    assert_eq!(identities(&agent).len(), 1);
    kill(Pid::from_raw(agent.pid() as i32), Signal::SIGUSR1).expect("SIGUSR1");
    let deadline = Instant::now() + DEADLINE;
    while !identities(&agent).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the key is still there after SIGUSR1"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(agent.logged("removed all 1 key on SIGUSR1"));
    // Still serving: a key can be added again.
    agent.add_key(&genrsa(dir.path(), "usr1.key", 2048));
    assert_eq!(identities(&agent).len(), 1);
}

#[test]
fn a_forked_agent_that_fails_to_start_leaves_no_folder_behind() {
    let dir = WorkDir::new();
    let base = dir.mkdir("runtime", 0o700);
    let out = Command::new(bin("mfa-agent"))
        .args(["--log", "syslog", "--syslog-socket"])
        .arg(dir.join("no-syslog-here"))
        .env_remove("XDG_RUNTIME_DIR")
        .env("TMPDIR", &base)
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-agent");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(&base).expect("ls").collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
