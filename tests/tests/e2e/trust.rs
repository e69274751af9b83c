//! Files that are not the officer's own are never signed or written (issue 20), and an agent
//! socket served by someone else is never talked to (issue 21), tried as a
//! second real local user would: a link or a file planted in a shared sticky folder, a
//! group-writable team folder, another user's file signed as root, a transcript or agent log
//! pointed at the officer's files by a planted link. In every case the agent signs nothing:
//! its audit log has no signature line.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::write_token_file;
use cloudhsm_mfa_tests::harness::pty::Pty;
use cloudhsm_mfa_tests::harness::skip;
use cloudhsm_mfa_tests::harness::users::OtherUser;
use cloudhsm_mfa_tests::harness::workdir::{mode, set_mode};
use cloudhsm_mfa_tests::sim::commands::{PASSWORD_PROMPT, SIGNED_TOKEN_PROMPT};

use super::login::{assert_signed_by, login_args, Setup, PASSWORD};

/// The second user, or `None` after printing why the test cannot run here.
fn mallory() -> Option<OtherUser> {
    match OtherUser::create() {
        Ok(user) => Some(user),
        Err(why) => {
            skip(&why);
            None
        }
    }
}

/// A test folder the other user can pass through, with `shared/` (1777, as /tmp) and the
/// unsigned tokens `src.json` they can read.
fn setup_with_shared_folder() -> Setup {
    let s = Setup::new();
    set_mode(s.dir.path(), 0o711);
    s.dir.mkdir("shared", 0o1777);
    write_token_file(&s.dir.join("src.json"), 2);
    set_mode(&s.dir.join("src.json"), 0o644);
    s
}

fn run(s: &Setup, program: &str, args: &[&str]) -> Output {
    Command::new(bin(program))
        .args(args)
        .current_dir(s.dir.path())
        .env("MFA_AUTH_SOCK", s.agent.socket())
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

/// A single-command MFA login of the token file `token`, stdin empty, with `env` set.
fn single_login(s: &Setup, token: &str, env: &[(&str, &std::ffi::OsStr)]) -> Output {
    s.mfa_login(&s.cluster, &[], &login_args(token))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-login")
}

/// Exit status 1 for mfa-sign, with `expected` in its error.
fn refused(out: &Output, code: i32, expected: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(expected), "expected {expected:?} in: {err}");
    assert!(err.contains("\nhint: "), "{err}");
}

fn assert_nothing_signed(s: &Setup) {
    let log = s.agent.log_text();
    assert!(!log.contains(" tokens="), "the agent signed: {log}");
}

#[test]
fn links_and_files_planted_in_a_shared_folder_are_never_signed() {
    let Some(mallory) = mallory() else { return };
    let s = setup_with_shared_folder();
    let theirs = s.dir.read("src.json");
    mallory.sh(
        &s.dir.join("shared"),
        "cp ../src.json mallory.json && chmod 666 mallory.json && ln -s mallory.json link.json \
         && cp ../src.json planted.json && mkdir inside && cp ../src.json inside/t.json \
         && ln -s inside dirlink",
    );
    let owner = format!("belongs to {} (uid {})", mallory.name, mallory.uid);
    assert!(mallory.name.len() < 32);

    let out = run(&s, "mfa-sign", &["shared/link.json"]);
    refused(&out, 1, "shared/link.json is a symbolic link");
    let out = run(&s, "mfa-sign", &["shared/planted.json"]);
    refused(&out, 1, &owner);
    let out = run(&s, "mfa-sign", &["shared/inside/t.json"]);
    refused(
        &out,
        1,
        &format!("shared/inside {owner}, not to you or root"),
    );
    let out = run(&s, "mfa-sign", &["shared/dirlink/t.json"]);
    refused(
        &out,
        1,
        "shared/dirlink is in a folder others can write, and belongs to",
    );
    // An output through their link: refused, not written into their file.
    let mine = s.dir.join("mine.json");
    write_token_file(&mine, 2);
    let out = run(&s, "mfa-sign", &["-o", "shared/link.json", "mine.json"]);
    refused(&out, 1, "shared/link.json is a symbolic link");

    // mfa-login refuses before the CLI starts: no password is asked for nothing.
    let out = single_login(&s, "shared/link.json", &[]);
    refused(
        &out,
        125,
        "will not sign the token file: shared/link.json is a symbolic link",
    );
    let out = single_login(&s, "shared/planted.json", &[]);
    refused(&out, 125, &owner);
    assert!(s.cluster.passwords().is_empty());

    for name in ["mallory.json", "planted.json", "inside/t.json"] {
        let path = s.dir.join("shared").join(name);
        assert_eq!(fs::read(&path).expect("read"), theirs, "{name} changed");
        assert_eq!(fs::metadata(&path).expect("stat").uid(), mallory.uid);
    }
    assert_nothing_signed(&s);
}

#[test]
fn root_does_not_sign_or_take_over_another_users_token_file() {
    let Some(mallory) = mallory() else { return };
    let s = setup_with_shared_folder();
    let home = s.dir.mkdir("home", 0o700);
    mallory.chown(&home);
    mallory.sh(&home, "cp ../src.json t.json && chmod 600 t.json");
    let before = fs::read(home.join("t.json")).expect("read");

    let out = run(&s, "mfa-sign", &["home/t.json"]);
    refused(&out, 1, &format!("belongs to {}", mallory.name));
    let meta = fs::metadata(home.join("t.json")).expect("stat");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (mallory.uid, 0o600));
    assert_eq!(fs::read(home.join("t.json")).expect("read"), before);
    assert_nothing_signed(&s);
}

#[test]
fn a_group_writable_team_folder_is_refused_before_the_cli_and_at_the_prompt() {
    let Some(mallory) = mallory() else { return };
    let s = setup_with_shared_folder();
    let team = s.dir.mkdir("team", 0o770);
    std::os::unix::fs::chown(&team, None, Some(mallory.gid)).expect("chgrp");
    // The officer's own file, but in a folder the team (mallory) can rename things in.
    write_token_file(&team.join("t.json"), 2);
    let out = run(&s, "mfa-sign", &["team/t.json"]);
    refused(&out, 1, "team can be changed by other users (mode 0770)");

    let out = single_login(&s, "team/t2.json", &[]);
    refused(&out, 125, "team can be changed by other users");
    assert!(s.cluster.passwords().is_empty());

    // Interactive: the login line is the CLI's business; the prompt is refused, not answered.
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, &[], &["interactive"]));
    pty.expect("aws-cloudhsm > ");
    pty.send_line(&login_args("team/t3.json").join(" "));
    pty.expect(PASSWORD_PROMPT);
    pty.send_line(PASSWORD);
    pty.expect(SIGNED_TOKEN_PROMPT);
    pty.expect("mfa-login: error: not signed: the folder ");
    pty.expect("team can be changed by other users (mode 0770)");
    pty.expect("hint: ");
    let tokens: serde_json::Value =
        serde_json::from_slice(&fs::read(team.join("t3.json")).expect("read")).expect("JSON");
    assert!(tokens["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .all(|t| t["signed"] == ""));
    assert_nothing_signed(&s);
}

#[test]
fn inputs_others_can_write_are_refused_and_outputs_are_private() {
    let s = Setup::new();
    let open = s.dir.join("open.json");
    write_token_file(&open, 1);
    set_mode(&open, 0o666);
    let out = run(&s, "mfa-sign", &["open.json"]);
    refused(
        &out,
        1,
        "open.json can be changed by other users (mode 0666)",
    );
    assert_nothing_signed(&s);

    // Readable by others, kept so in place; a new -o file is 0600; the input's mode is not
    // copied to the output.
    let readable = s.dir.join("readable.json");
    write_token_file(&readable, 2);
    set_mode(&readable, 0o644);
    let out = run(&s, "mfa-sign", &["-o", "out.json", "readable.json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&s.dir.join("out.json")), 0o600);
    assert_signed_by(&s.public, &s.dir.join("out.json"), 2);
    let out = run(&s, "mfa-sign", &["readable.json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&readable), 0o644);
    assert_signed_by(&s.public, &readable, 2);
    let leftovers: Vec<_> = fs::read_dir(s.dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn transcripts_and_agent_logs_do_not_follow_planted_links() {
    let Some(mallory) = mallory() else { return };
    let s = setup_with_shared_folder();
    let profile = s.dir.write_mode("profile", "export PATH\n", 0o644);
    let before = fs::read(&profile).expect("read");
    mallory.sh(
        &s.dir.join("shared"),
        "ln -s ../profile debug.log && ln -s ../profile agent.log && touch theirs.log",
    );
    let out = run(
        &s,
        "mfa-login",
        &["--debug", "shared/debug.log", "--", "true"],
    );
    refused(&out, 125, "shared/debug.log is a symbolic link");
    let out = run(
        &s,
        "mfa-login",
        &["--debug", "shared/theirs.log", "--", "true"],
    );
    refused(&out, 125, &format!("belongs to {}", mallory.name));
    let socket = s.dir.join("log-test.sock");
    let socket = socket.to_str().expect("UTF-8");
    let out = run(
        &s,
        "mfa-agent",
        &[
            "-D",
            "--log",
            "file",
            "--log-file",
            "shared/agent.log",
            "-a",
            socket,
        ],
    );
    refused(&out, 1, "shared/agent.log is a symbolic link");
    assert_eq!(fs::read(&profile).expect("read"), before);
    assert!(!Path::new(socket).exists());

    // A private file of the officer's own is appended to; a new one is made 0600.
    let out = run(&s, "mfa-login", &["--debug", "debug.log", "--", "true"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&s.dir.join("debug.log")), 0o600);
}

/// A stand-in agent run by another user: accepts connections on `socket` and appends every
/// byte it receives to `record`, answering nothing.
const FAKE_AGENT: &str = r#"
import os, socket, sys
path, record = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
os.chmod(path, 0o777)
server.listen(8)
open(record, "ab").close()
while True:
    conn, _ = server.accept()
    conn.settimeout(2)
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            with open(record, "ab") as f:
                f.write(data)
    except OSError:
        pass
    conn.close()
"#;

#[test]
fn a_socket_another_user_serves_gets_no_key_and_signs_nothing() {
    let Some(mallory) = mallory() else { return };
    let s = setup_with_shared_folder();
    // The name the officer's `ssh -R /tmp/...` would have bound, taken first by mallory.
    let socket = s.dir.join("shared/mfa-officer.sock");
    let record = s.dir.join("shared/received");
    let mut fake = mallory
        .command("/usr/bin/python3")
        .args(["-c", FAKE_AGENT])
        .arg(&socket)
        .arg(&record)
        .spawn()
        .expect("start the fake agent");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(socket.exists() && record.exists()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the fake agent did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let squatted = |program: &str, args: &[&str]| {
        Command::new(bin(program))
            .args(args)
            .current_dir(s.dir.path())
            .env("MFA_AUTH_SOCK", &socket)
            .stdin(Stdio::null())
            .output()
            .expect("run")
    };
    let served_by = format!("is served by {} (uid {})", mallory.name, mallory.uid);
    let key = s.key.to_str().expect("UTF-8");
    refused(&squatted("mfa-add", &[key]), 1, &served_by);
    refused(&squatted("mfa-add", &["-l"]), 1, &served_by);
    write_token_file(&s.dir.join("t.json"), 2);
    refused(&squatted("mfa-sign", &["t.json"]), 1, &served_by);
    let out = single_login(&s, "t2.json", &[("MFA_AUTH_SOCK", socket.as_os_str())]);
    refused(&out, 125, &served_by);
    let _ = fake.kill();
    let _ = fake.wait();
    let received = fs::read(&record).expect("the fake agent's record");
    assert!(
        received.is_empty(),
        "the fake agent received {} bytes",
        received.len()
    );
}

/// Who owns /proc/PID (root for a process that is not dumpable), the process's real uid, and
/// the soft `Max core file size` of its limits.
fn proc_view(pid: &str) -> (u32, u32, String) {
    let owner = fs::metadata(format!("/proc/{pid}/status"))
        .expect("stat")
        .uid();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("Uid:");
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let core = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max core file size"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    (owner, uid, core)
}

#[test]
fn mfa_login_and_mfa_sign_cannot_be_read_by_the_same_user_and_command_keeps_its_core_limit() {
    // Run as a second user, so "the same user" is not root (root may read any process).
    let Some(mallory) = mallory() else { return };
    let s = Setup::new();
    set_mode(s.dir.path(), 0o711);
    let (_, _, own_core) = proc_view("self");
    // COMMAND, once mfa-login turned its core files off, tries to read mfa-login's memory.
    let script = "while ! grep -q '^Max core file size *0 ' /proc/$PPID/limits; do sleep 0.05; \
                  done; echo parent=$PPID child=$$; \
                  if cat /proc/$PPID/environ >/dev/null 2>&1; then echo environ-readable; \
                  else echo environ-denied; fi; read line";
    let mut command = mallory.command(bin("mfa-login").to_str().expect("UTF-8"));
    command.args(["--", "sh", "-c", script]);
    let mut pty = Pty::spawn(command);
    pty.expect("parent=");
    let parent = pty.expect(" child=").trim().to_owned();
    let child = pty.expect("\n").trim().to_owned();
    pty.expect("environ-denied");
    assert_eq!(proc_view(&parent), (0, mallory.uid, "0".to_owned()));
    assert_eq!(proc_view(&child), (mallory.uid, mallory.uid, own_core));
    pty.send_line("done");
    pty.wait();

    // mfa-sign, waiting for a quorum approval's yes, with mallory's own agent and key.
    let home = s.dir.mkdir("mallory", 0o700);
    mallory.chown(&home);
    let copy = |from: &Path, name: &str| {
        let to = home.join(name);
        fs::copy(from, &to).expect("copy");
        set_mode(&to, 0o600);
        mallory.chown(&to);
        to
    };
    let key = copy(&s.key, "m.key");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/data/files");
    let approval = copy(&data.join("quorum-approval.json"), "approval.json");
    let socket = home.join("agent.sock");
    let mut agent = mallory
        .command(bin("mfa-agent").to_str().expect("UTF-8"))
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stderr(Stdio::null())
        .spawn()
        .expect("mallory's agent");
    cloudhsm_mfa_tests::harness::agent::wait_until_accepting(&socket);
    let out = mallory
        .command(bin("mfa-add").to_str().expect("UTF-8"))
        .arg(&key)
        .env("MFA_AUTH_SOCK", &socket)
        .stdin(Stdio::null())
        .output()
        .expect("mfa-add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut command = mallory.command(bin("mfa-sign").to_str().expect("UTF-8"));
    command
        .args(["--approver", "officer3"])
        .arg(&approval)
        .env("MFA_AUTH_SOCK", &socket);
    let mut pty = Pty::spawn(command);
    pty.expect("Sign this approval? [y/N]");
    let pid = pty.pid().to_string();
    assert_eq!(proc_view(&pid), (0, mallory.uid, "0".to_owned()));
    pty.send_line("n");
    pty.wait();
    let _ = agent.kill();
    let _ = agent.wait();
}

#[test]
fn a_plain_ssh_agent_is_named_for_what_it_is_and_gets_no_key_without_force() {
    let s = Setup::new();
    let socket = s.dir.join("plain.sock");
    let _plain = cloudhsm_mfa_tests::harness::agent::PlainAgent::start(&socket);
    let at_plain = |program: &str, args: &[&str]| {
        Command::new(bin(program))
            .args(args)
            .current_dir(s.dir.path())
            .env("MFA_AUTH_SOCK", &socket)
            .stdin(Stdio::null())
            .output()
            .expect("run")
    };
    let ssh_add_l = || {
        let out = Command::new("ssh-add")
            .arg("-l")
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .expect("ssh-add -l");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plain = "is a plain ssh-agent, not mfa-agent";
    let key = s.key.to_str().expect("UTF-8");
    let out = at_plain("mfa-add", &[key]);
    refused(&out, 1, plain);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(ssh_add_l().contains("no identities"), "{}", ssh_add_l());
    write_token_file(&s.dir.join("t.json"), 1);
    refused(&at_plain("mfa-sign", &["t.json"]), 1, plain);
    // Told to, mfa-add adds it (OpenSSH's ssh-add would too).
    let out = at_plain("mfa-add", &["--force", key]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ssh_add_l().contains("RSA"), "{}", ssh_add_l());
    refused(&at_plain("mfa-sign", &["t.json"]), 1, plain);
}
