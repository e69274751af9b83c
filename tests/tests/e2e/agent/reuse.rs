//! `mfa-agent --reuse`: one agent per user on a fixed socket, found again by every shell;
//! and the warning when a plain `mfa-agent` would leave the running agent behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use cloudhsm_mfa_tests::harness::agent::{Agent, PlainAgent};
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::genrsa;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{stderr, stdout, DEADLINE};

/// `mfa-agent ARGS` with its runtime and state folders in `dir` (none when `runtime` is
/// false: HOME's `.mfa-agent` is the per-user folder then, as on macOS).
fn mfa_agent(dir: &WorkDir, runtime: bool, args: &[&str], sock: Option<&Path>) -> Output {
    let mut command = Command::new(bin("mfa-agent"));
    command
        .args(args)
        .env("HOME", dir.join("home"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("MFA_AUTH_SOCK")
        .env_remove("MFA_AGENT_PID")
        .stdin(Stdio::null());
    if runtime {
        command.env("XDG_RUNTIME_DIR", dir.path());
    } else {
        command.env_remove("XDG_RUNTIME_DIR");
    }
    if let Some(sock) = sock {
        command.env("MFA_AUTH_SOCK", sock);
    }
    command.output().expect("run mfa-agent")
}

/// The socket and pid the eval lines set, and whether they say the agent was reused.
fn eval_lines(out: &Output) -> (PathBuf, u32, bool) {
    assert!(out.status.success(), "mfa-agent failed: {}", stderr(out));
    let text = stdout(out);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .and_then(|l| l.split(';').next())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_owned()
    };
    let pid = value("MFA_AGENT_PID").parse().expect("a pid");
    (
        PathBuf::from(value("MFA_AUTH_SOCK")),
        pid,
        text.contains(&format!("echo Agent pid {pid}, reused;")),
    )
}

/// Kills the agent and waits until it is gone (a zombie nobody reaped counts as gone). The
/// thread listed first turns zombie while the agent's other threads may still hold its
/// files, the listening socket among them: gone means no thread is left.
fn kill_hard(pid: u32) {
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    let alive = || {
        let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        threads.flatten().any(|thread| {
            std::fs::read_to_string(thread.path().join("stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
            })
        })
    };
    let deadline = Instant::now() + DEADLINE;
    while alive() {
        assert!(Instant::now() < deadline, "the agent did not die");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn reuse_starts_one_agent_per_user_and_every_shell_finds_it_with_its_keys() {
    let dir = WorkDir::new();
    let (socket, pid, reused) = eval_lines(&mfa_agent(&dir, true, &["--reuse", "-s"], None));
    assert_eq!(socket, dir.join("mfa-agent/agent.sock"));
    assert!(!reused, "nothing ran: a new agent");
    let key = genrsa(dir.path(), "officer.key", 2048);
    let added = Command::new(bin("mfa-add"))
        .arg(&key)
        .env("MFA_AUTH_SOCK", &socket)
        .output()
        .expect("mfa-add");
    assert!(added.status.success(), "{}", stderr(&added));

    let (again, same_pid, reused) = eval_lines(&mfa_agent(&dir, true, &["--reuse"], None));
    assert_eq!(
        (again.as_path(), same_pid, reused),
        (socket.as_path(), pid, true)
    );
    let listed = Command::new(bin("mfa-add"))
        .arg("-l")
        .env("MFA_AUTH_SOCK", &again)
        .output()
        .expect("mfa-add -l");
    assert!(
        stdout(&listed).contains("officer.key"),
        "the key is still there"
    );

    // An agent killed outright leaves its socket: the next --reuse starts a fresh one there.
    kill_hard(pid);
    let (fresh, new_pid, reused) = eval_lines(&mfa_agent(&dir, true, &["--reuse"], None));
    assert_eq!(fresh, socket);
    assert!(!reused && new_pid != pid);
    kill_hard(new_pid);
}

#[test]
fn without_a_runtime_folder_the_per_user_socket_is_the_one_the_launchd_plist_serves() {
    let dir = WorkDir::new();
    dir.mkdir("home", 0o700);
    let (socket, pid, _) = eval_lines(&mfa_agent(&dir, false, &["--reuse"], None));
    kill_hard(pid);
    assert_eq!(socket, dir.join("home/.mfa-agent/agent.sock"));
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/contrib");
    let plist = std::fs::read_to_string(contrib.join("org.cloudhsm-mfa.mfa-agent.plist"))
        .expect("the plist");
    assert!(
        plist.contains(r#"-a "$HOME/.mfa-agent/agent.sock""#),
        "{plist}"
    );
    let unit = std::fs::read_to_string(contrib.join("mfa-agent.service")).expect("the unit");
    assert!(unit.contains("-a %t/mfa-agent/agent.sock"), "{unit}");
}

#[test]
fn reuse_refuses_a_socket_that_another_kind_of_agent_serves() {
    let dir = WorkDir::new();
    let socket = dir.join("ssh-agent.sock");
    let _plain = PlainAgent::start(&socket);
    let out = mfa_agent(
        &dir,
        true,
        &["--reuse", "-a", socket.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "no eval lines: {}", stdout(&out));
    assert!(
        stderr(&out).contains("is served by an agent that is not mfa-agent"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_second_plain_start_warns_that_the_agent_the_shell_names_still_runs() {
    let dir = WorkDir::new();
    let running = Agent::start(dir.path());
    let out = mfa_agent(&dir, true, &["-s"], Some(running.socket()));
    let (_, pid, _) = eval_lines(&out);
    kill_hard(pid);
    let text = stderr(&out);
    assert!(
        text.contains(&format!("(pid {}) still runs", running.pid())),
        "{text}"
    );
    assert!(text.contains("mfa-agent --reuse"), "{text}");
    // Nothing to warn about when the named agent is gone.
    let gone = mfa_agent(&dir, true, &["-s"], Some(&dir.join("gone.sock")));
    let (_, pid, _) = eval_lines(&gone);
    kill_hard(pid);
    assert!(!stderr(&gone).contains("warning"), "{}", stderr(&gone));
}
