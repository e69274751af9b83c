//! Faults from outside: a token-file rewrite on a full filesystem, the agent's socket folder
//! removed while it runs, and a stale socket left by a SIGKILLed agent.

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::wait_until_accepting;
use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, read_signatures};
use cloudhsm_mfa_tests::harness::skip;
use cloudhsm_mfa_tests::harness::workdir::{mode, set_mode, WorkDir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{geteuid, Pid};
use proto::message::{Request, Response};

/// Generous limit for anything that polls, so a broken agent fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(30);

fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../proto/tests/data/files")
        .join(name)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mfa_sign(socket: &Path, args: &[&str]) -> Output {
    Command::new(bin("mfa-sign"))
        .args(args)
        .env("MFA_AUTH_SOCK", socket)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-sign")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list the folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A tmpfs of 64 KiB mounted for one test, unmounted when dropped.
struct TinyFs {
    path: PathBuf,
}

impl TinyFs {
    /// Mounts it, or says why it cannot (not root, no mount permission in this container).
    fn mount(path: PathBuf) -> Result<TinyFs, String> {
        if !geteuid().is_root() {
            return Err("not running as root, cannot mount a tmpfs".into());
        }
        fs::create_dir(&path).expect("create the mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", stderr(&out).trim()));
        }
        Ok(TinyFs { path })
    }

    /// Writes a filler file until the filesystem has no room left.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = fs::File::create(self.path.join("filler")).expect("create the filler");
        let block = [0u8; 4096];
        loop {
            if let Err(e) = filler.write_all(&block) {
                assert_eq!(e.raw_os_error(), Some(libc_enospc()), "filling: {e}");
                return;
            }
        }
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// ENOSPC, without a libc dependency in this crate.
fn libc_enospc() -> i32 {
    nix::errno::Errno::ENOSPC as i32
}

#[test]
fn token_file_rewrite_on_a_full_filesystem_fails_cleanly() {
    let dir = WorkDir::new();
    let tiny = match TinyFs::mount(dir.join("full")) {
        Ok(tiny) => tiny,
        Err(reason) => {
            skip(&format!("no small filesystem to fill: {reason}"));
            return;
        }
    };
    let key = genrsa(dir.path(), "full.key", 2048);
    let agent = Agent::start(dir.path());
    agent.add_key(&key);

    let original = fs::read(vector("mfa-login.json")).expect("read the vector");
    let file = tiny.path.join("token.json");
    fs::write(&file, &original).expect("write the token file");
    set_mode(&file, 0o640);
    tiny.fill();
    let before = names_in(&tiny.path);

    // In place: the temporary file beside it cannot be written.
    let out = mfa_sign(agent.socket(), &[path_str(&file)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("mfa-sign: error: ") || err.starts_with("error: "),
        "{err}"
    );
    assert!(err.contains("cannot write"), "{err}");
    assert!(err.contains(path_str(&file)), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    // Bug: the message named the deleted temporary file and the hint blamed permissions.
    assert!(!err.contains(".tmp"), "{err}");
    assert!(err.contains("hint: the file system is full"), "{err}");
    assert_eq!(
        fs::read(&file).expect("read"),
        original,
        "the original changed"
    );
    assert_eq!(mode(&file), 0o640, "the original's mode changed");
    assert_eq!(
        names_in(&tiny.path),
        before,
        "a temporary file was left behind"
    );

    // To another file on the full filesystem: neither it nor a temporary file appears.
    let elsewhere = dir.join("copy.json");
    fs::write(&elsewhere, &original).expect("write the copy");
    let out_path = tiny.path.join("signed.json");
    let out = mfa_sign(
        agent.socket(),
        &["-o", path_str(&out_path), path_str(&elsewhere)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    assert_eq!(names_in(&tiny.path), before, "-o left a file behind");
    assert_eq!(fs::read(&elsewhere).expect("read"), original);

    // With room again the same command signs: the refusal was the full disk and nothing else.
    fs::remove_file(tiny.path.join("filler")).expect("free the space");
    let out = mfa_sign(agent.socket(), &[path_str(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read_signatures(&file).len(), 3);
    assert!(read_signatures(&file).iter().all(|s| s.len() == 256));
    assert_eq!(mode(&file), 0o640);
    assert_eq!(names_in(&tiny.path), ["token.json"]);
}

/// An agent process killed when dropped, so a failed assertion leaves no agent behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A forked agent (not our child) sent SIGTERM when dropped, in case the test fails early.
/// Disarmed (`None`) once the agent is known gone, so a reused pid is never signalled.
struct TermOnDrop(Option<i32>);

impl Drop for TermOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}

/// An mfa-agent in the foreground with its socket at `socket` and its log outside that
/// socket's folder, so the folder can be removed under it.
fn spawn_agent(socket: &Path, log: &Path) -> Running {
    let child = Command::new(bin("mfa-agent"))
        .args(["-d", "-a", path_str(socket)])
        .env_remove("MFA_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).expect("create the log"))
        .spawn()
        .expect("spawn mfa-agent");
    wait_until_accepting(socket);
    Running(child)
}

fn wait_for_exit(agent: &mut Running, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = agent.0.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn add_key(socket: &Path, key: &Path) {
    let out = Command::new(bin("mfa-add"))
        .arg(key)
        .env("MFA_AUTH_SOCK", socket)
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-add");
    assert!(out.status.success(), "mfa-add: {}", stderr(&out));
}

#[test]
fn agent_whose_socket_folder_is_removed_wipes_its_keys_and_exits() {
    // Nobody can reach an agent whose socket is gone, so it would only hold unlocked keys
    // for nothing: it notices at its next tick, wipes them and exits 0, as on SIGTERM.
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "gone.key", 2048);
    let folder = dir.mkdir("sockdir", 0o700);
    let socket = folder.join("agent.sock");
    let log = dir.join("agent.log");
    let mut agent = spawn_agent(&socket, &log);
    add_key(&socket, &key);

    // A client connected before the removal.
    let mut early = UnixStream::connect(&socket).expect("connect");
    early
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    fs::remove_dir_all(&folder).expect("remove the socket folder");

    let status = wait_for_exit(&mut agent, Duration::from_secs(5));
    let text = fs::read_to_string(&log).unwrap_or_default();
    let Some(status) = status else {
        panic!("the agent still runs 5 s after its socket folder was removed; log:\n{text}");
    };
    assert!(status.success(), "exit status {status}; log:\n{text}");
    assert!(text.contains("socket"), "{text}");
    assert!(text.contains("removed"), "{text}");
    assert!(text.contains("wiped 1 key #"), "{text}");
    // The early connection is closed, not left hanging.
    let reply = proto::client::call(&mut early, &Request::RequestIdentities);
    assert!(reply.is_err(), "a stopped agent answered {reply:?}");
    assert!(!folder.exists(), "the agent re-created its folder");
}

#[test]
fn agent_whose_socket_is_replaced_exits_and_leaves_the_new_one_alone() {
    // Another agent started on the same path after `rm` took ours: the first one's socket
    // is no longer its own, so it stops, and must not remove the newcomer's socket.
    let dir = WorkDir::new();
    let folder = dir.mkdir("sockdir", 0o700);
    let socket = folder.join("agent.sock");
    let mut first = spawn_agent(&socket, &dir.join("first.log"));
    fs::remove_file(&socket).expect("remove the socket");
    let mut second = spawn_agent(&socket, &dir.join("second.log"));

    let status = wait_for_exit(&mut first, Duration::from_secs(5));
    let first_log = fs::read_to_string(dir.join("first.log")).unwrap_or_default();
    assert!(
        status.is_some(),
        "the first agent still runs; log:\n{first_log}"
    );
    assert!(
        socket.exists(),
        "the first agent removed the second one's socket"
    );
    let mut stream = UnixStream::connect(&socket).expect("the second agent still accepts");
    assert!(matches!(
        proto::client::call(&mut stream, &Request::RequestIdentities),
        Ok(Response::Identities(_))
    ));
    let _ = kill(Pid::from_raw(second.0.id() as i32), Signal::SIGTERM);
    assert!(wait_for_exit(&mut second, DEADLINE).is_some());
}

#[test]
fn stale_socket_from_a_sigkilled_agent_is_replaced_by_a_new_agent() {
    // OpenSSH's ssh-agent refuses a path that exists ("unix_listener: cannot bind to path
    // ...: Address already in use") and leaves the user to rm it; mfa-agent replaces a
    // socket nobody answers on (and still refuses a live one, see agent::daemon).
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "stale.key", 2048);
    let folder = dir.mkdir("sockdir", 0o700);
    let socket = folder.join("agent.sock");
    let mut old = spawn_agent(&socket, &dir.join("old.log"));
    add_key(&socket, &key);
    kill(Pid::from_raw(old.0.id() as i32), Signal::SIGKILL).expect("SIGKILL");
    assert!(wait_for_exit(&mut old, DEADLINE).is_some());
    assert!(socket.exists(), "SIGKILL cannot remove the socket");

    // A client against the dead agent says so in one line and fails.
    let out = Command::new(bin("mfa-add"))
        .arg("-l")
        .env("MFA_AUTH_SOCK", &socket)
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-add -l");
    assert!(!out.status.success());
    assert!(stderr(&out).contains(path_str(&socket)), "{}", stderr(&out));

    // As a user would start it: forking, printing the lines for eval.
    let out = Command::new(bin("mfa-agent"))
        .args(["-s", "-a", path_str(&socket)])
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-agent");
    assert!(out.status.success(), "{}", stderr(&out));
    let eval = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        eval.contains(&format!(
            "MFA_AUTH_SOCK={}; export MFA_AUTH_SOCK;",
            socket.display()
        )),
        "{eval}"
    );
    let pid: i32 = eval
        .split("MFA_AGENT_PID=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|pid| pid.parse().ok())
        .expect("MFA_AGENT_PID in the eval lines");
    let mut forked = TermOnDrop(Some(pid));

    // The new agent holds nothing of the old one's, and serves.
    let mut stream = UnixStream::connect(&socket).expect("the new agent accepts");
    assert!(matches!(
        proto::client::call(&mut stream, &Request::RequestIdentities),
        Ok(Response::Identities(ids)) if ids.is_empty()
    ));
    add_key(&socket, &key);
    let file = dir.join("token.json");
    fs::copy(vector("mfa-login.json"), &file).expect("copy the token file");
    let out = mfa_sign(&socket, &[path_str(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = Command::new(bin("mfa-agent"))
        .arg("-k")
        .env("MFA_AGENT_PID", pid.to_string())
        .output()
        .expect("run mfa-agent -k");
    assert!(out.status.success(), "{}", stderr(&out));
    let deadline = Instant::now() + DEADLINE;
    while socket.exists() {
        assert!(
            Instant::now() < deadline,
            "the socket outlived mfa-agent -k"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    forked.0 = None;
}
