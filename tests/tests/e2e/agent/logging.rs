//! The log never stops serving and never fills the disk: with stderr on a pipe nobody reads
//! (a paused terminal, a stuck collector), a flood of bad frames leaves the agent signing, and
//! the flood shows as summary lines, not one line per frame.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::wait_until_accepting;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, random_token};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use proto::message::{Request, Response};

use super::{call, path_str, stderr, token_sign, DEADLINE};

const BAD_FRAMES: usize = 2_000;
const CONNECTIONS: usize = 4;

/// mfa-agent in the foreground with `mode` (`-D` or `-d`) and its stderr on a pipe the test
/// does not read until it says so.
fn start_on_a_stalled_pipe(socket: &Path, mode: &str) -> Child {
    let child = Command::new(bin("mfa-agent"))
        .args([mode, "-a", path_str(socket)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mfa-agent");
    wait_until_accepting(socket);
    child
}

/// Garbage bodies (a list request with trailing bytes, a truncated sign request) and unknown
/// message ids, each answered before the next is sent.
fn send_bad_frames(socket: &Path, frames: usize) {
    let bodies: [&[u8]; 3] = [&[11, 0xff, 0xfe], &[13, 0, 0], &[200, 1, 2, 3]];
    let per_connection = frames / CONNECTIONS;
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let mut stream = UnixStream::connect(socket).expect("connect");
            stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
            std::thread::spawn(move || {
                for i in 0..per_connection {
                    let body = bodies[i % bodies.len()];
                    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
                    frame.extend_from_slice(body);
                    stream.write_all(&frame).expect("send a bad frame");
                    // FAILURE: length 1, message 5.
                    let mut reply = [0u8; 5];
                    stream.read_exact(&mut reply).expect("the agent answers");
                    assert_eq!(reply, [0, 0, 0, 1, 5]);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().expect("sender");
    }
}

/// Floods a stalled agent, checks that a token still signs, then stops the agent and reads
/// what it logged.
fn flood_then_sign(mode: &str, frames: usize) -> String {
    let dir = WorkDir::new();
    let socket = dir.join("agent.sock");
    let mut agent = start_on_a_stalled_pipe(&socket, mode);
    let key = genrsa(dir.path(), "flood.key", 2048);
    let added = Command::new(bin("mfa-add"))
        .arg(&key)
        .env("MFA_AUTH_SOCK", &socket)
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-add");
    assert!(added.status.success(), "{}", stderr(&added));
    let blob = match call(&socket, &Request::RequestIdentities) {
        Response::Identities(ids) => ids[0].key_blob.clone(),
        other => panic!("{other:?}"),
    };

    send_bad_frames(&socket, frames);
    let started = Instant::now();
    let signed = token_sign(&socket, &blob, &[random_token()]);
    assert!(matches!(signed, Response::TokenSign(_)), "{signed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    kill(Pid::from_raw(agent.id() as i32), Signal::SIGTERM).expect("stop the agent");
    let mut log = String::new();
    let mut pipe = agent.stderr.take().expect("the agent's stderr");
    pipe.read_to_string(&mut log).expect("drain the log");
    assert!(agent.wait().expect("wait").success());
    log
}

#[test]
fn with_stderr_on_a_stalled_pipe_2000_bad_frames_later_a_token_still_signs() {
    let log = flood_then_sign("-D", BAD_FRAMES);
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() < 50, "{} lines:\n{log}", lines.len());
    // Four connections of one process: each logged once in full, the rest summed up.
    let summaries: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("more malformed or refused requests from pid="))
        .collect();
    assert!(!summaries.is_empty(), "{log}");
    assert!(log.contains("bad request from pid="), "{log}");
    assert!(log.contains("sign token key=SHA256:"), "{log}");
    assert!(log.contains("stopping on"), "{log}");
}

#[test]
fn a_debug_log_that_fills_the_pipe_drops_and_counts_lines_instead_of_blocking() {
    // With -d each unknown message id (a third of the frames) is a debug line: 4000 lines,
    // more than the pipe (64 KiB, some 350 lines), the queue (1024) and the batch the writer
    // is stuck writing (up to 1024 more) can hold, however the writer's turns fall.
    let log = flood_then_sign("-d", 6 * BAD_FRAMES);
    assert!(log.contains("log stalled: dropped "), "{log}");
    assert!(
        log.contains("sign token key=SHA256:") || log.contains("audit lines"),
        "the signature is logged or counted as lost:\n{log}"
    );
}

/// `mfa-add --verify-log FILE`, asking the agent at `socket` (none: no agent to compare with).
fn verify_log(file: &Path, socket: Option<&Path>) -> std::process::Output {
    let mut command = Command::new(bin("mfa-add"));
    command
        .arg("--verify-log")
        .arg(file)
        .env_remove("SSH_AUTH_SOCK");
    match socket {
        Some(socket) => command.env("MFA_AUTH_SOCK", socket),
        None => command.env_remove("MFA_AUTH_SOCK"),
    };
    command.output().expect("mfa-add --verify-log")
}

#[test]
fn the_audit_log_is_hash_chained_and_any_change_or_rollback_is_found() {
    let dir = WorkDir::new();
    let (agent, _key) = super::agent_holding(&dir, "chain.key");
    for _ in 0..3 {
        let blob = super::only_key(&agent);
        super::token_sign(agent.socket(), &blob, &[random_token()]);
    }
    let log = dir.join("agent.log");
    let out = verify_log(&log, Some(agent.socket()));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}{said}", super::stderr(&out));
    assert!(
        said.contains("the chain holds, and it holds the running agent's last line"),
        "{said}"
    );

    // Copies changed three ways, checked alone: the first line that no longer follows.
    let text = std::fs::read_to_string(&log).expect("the log");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 6, "{text}");
    let check = |name: &str, changed: Vec<String>| {
        let copy = dir.write_mode(name, changed.join("\n") + "\n", 0o600);
        let out = verify_log(&copy, None);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: the change was not found"
        );
        super::stderr(&out)
    };
    let owned = || lines.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    let mut deleted = owned();
    deleted.remove(3);
    assert!(check("deleted.log", deleted).contains("deleted.log line 4: it does not follow"));
    let mut moved = owned();
    moved.swap(2, 3);
    assert!(check("moved.log", moved).contains("moved.log line 3: it does not follow"));
    let mut edited = owned();
    edited[4] = edited[4].replacen("uid=", "uid=1", 1);
    assert!(check("edited.log", edited).contains("edited.log line 5: it does not follow"));

    // An earlier copy of the whole log holds a good chain, but not the agent's last line.
    let earlier = dir.write_mode(
        "earlier.log",
        lines[..lines.len() - 2].join("\n") + "\n",
        0o600,
    );
    let out = verify_log(&earlier, Some(agent.socket()));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        super::stderr(&out).contains("does not hold the running mfa-agent's last log line"),
        "{}",
        super::stderr(&out)
    );
    let alone = verify_log(&earlier, None);
    assert!(alone.status.success(), "alone, the copy's chain holds");
}
