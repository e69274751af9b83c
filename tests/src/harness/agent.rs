//! A running mfa-agent for one test: spawned in the foreground on a socket in the test's
//! folder, ready when the socket accepts, stopped when dropped.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;

use super::bins::bin;

/// How long an agent may take to start or stop before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Waits until something accepts connections on `socket` (an agent a test started itself);
/// panics after 20 s.
pub fn wait_until_accepting(socket: &Path) {
    let deadline = Instant::now() + START_TIMEOUT;
    while UnixStream::connect(socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing accepted on {} in time",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `SHA256:...` fingerprint that names the key of an SPKI PEM file in the agent (as
/// `mfa-add -l` prints it and `--key` takes it).
pub fn fingerprint(public: &Path) -> String {
    let pem = fs::read_to_string(public).expect("read the public key");
    let key = RsaPublicKey::from_public_key_pem(&pem).expect("SPKI PEM");
    proto::key::fingerprint(&proto::key::public_key_blob(&key))
}

/// An mfa-agent child process (`mfa-agent -d -a DIR/agent.sock`: foreground like `-D`, with
/// debug lines), logging to `DIR/agent.log`.
#[derive(Debug)]
pub struct Agent {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Agent {
    /// Starts an agent with its socket at `dir/agent.sock` and waits until it accepts.
    pub fn start(dir: &Path) -> Agent {
        Agent::start_with(dir, &[])
    }

    /// Like [`Agent::start`], with extra mfa-agent arguments (e.g. `["-t", "10m"]`) and
    /// debug logging (`-d`).
    pub fn start_with(dir: &Path, args: &[&str]) -> Agent {
        Agent::start_with_env(dir, args, &[])
    }

    /// Like [`Agent::start_with`], with extra environment variables for the agent (e.g.
    /// `MFA_ASKPASS` for confirm-on-use keys). The agent does not inherit the test's
    /// `MFA_ASKPASS` or `SSH_ASKPASS`.
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &OsStr)]) -> Agent {
        let socket = dir.join("agent.sock");
        let log = dir.join("agent.log");
        let log_file = fs::File::create(&log).expect("create the agent log");
        let child = Command::new(bin("mfa-agent"))
            .arg("-d")
            .arg("-a")
            .arg(&socket)
            .args(args)
            .env_remove("MFA_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn mfa-agent");
        let mut agent = Agent { child, socket, log };
        agent.wait_until_ready();
        agent
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "mfa-agent exited ({status}) before it was ready; log:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "mfa-agent did not accept on {} in time; log:\n{}",
                self.socket.display(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The agent's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the agent logged so far (audit lines, refusals, debug lines). The agent's log is
    /// written by its own thread, a moment after the reply may have gone out, so this waits
    /// until the file has stopped growing for 50 ms (at most a second).
    pub fn log_text(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut text = fs::read_to_string(&self.log).unwrap_or_default();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = fs::read_to_string(&self.log).unwrap_or_default();
            if now == text || Instant::now() >= deadline {
                return now;
            }
            text = now;
        }
    }

    /// True once the log holds `needle`: the agent writes its log from a thread of its own, so
    /// a line may land a moment after the answer it belongs to. Waits up to 10 s.
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if fs::read_to_string(&self.log).is_ok_and(|text| text.contains(needle)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The variables a client needs: MFA_AUTH_SOCK, and SSH_AUTH_SOCK for OpenSSH's tools.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("MFA_AUTH_SOCK", self.socket.clone().into_os_string()),
            ("SSH_AUTH_SOCK", self.socket.clone().into_os_string()),
        ]
    }

    /// `mfa-add ARGS` against this agent (stdin closed, no terminal); returns its output.
    pub fn mfa_add(&self, args: &[&str]) -> Output {
        Command::new(bin("mfa-add"))
            .args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .output()
            .expect("run mfa-add")
    }

    /// Loads an unencrypted key file with mfa-add; panics with its stderr on failure.
    pub fn add_key(&self, path: &Path) {
        let path = path.to_str().expect("key path is UTF-8");
        let out = self.mfa_add(&[path]);
        assert!(
            out.status.success(),
            "mfa-add {path} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the agent with SIGTERM and waits for it; true if it exited on its own in time.
    pub fn stop(&mut self) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return true;
        }
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A plain OpenSSH ssh-agent, stopped when dropped.
pub struct PlainAgent(Child);

impl PlainAgent {
    /// `ssh-agent -D -a SOCKET`, once it accepts connections (its socket file appears at
    /// bind, a moment before it listens).
    pub fn start(socket: &Path) -> PlainAgent {
        let agent = PlainAgent(
            Command::new("ssh-agent")
                .arg("-D")
                .arg("-a")
                .arg(socket)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ssh-agent"),
        );
        wait_until_accepting(socket);
        agent
    }
}

impl Drop for PlainAgent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
