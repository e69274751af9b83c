//! A real OpenSSH `sshd` on 127.0.0.1 for one test, run as the current user: its own config,
//! host keys (Ed25519 and RSA, made with ssh-keygen), a random high port, authorized_keys,
//! known_hosts and client identity, all in the test's folder; stopped when dropped.
//!
//! [`Sshd::start`] returns the reason when sshd cannot run here (not installed, or not root
//! and unable to serve); the test prints it and skips. As root, sshd needs its privilege
//! separation folder `/run/sshd`, which a system without a running sshd lacks: it is created
//! (0755, as systemd's unit does).

use std::ffi::OsStr;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::workdir::set_mode;

/// Where Debian's openssh-server puts sshd (it must be run by absolute path).
const SSHD_PATHS: [&str; 3] = ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"];
/// How long sshd may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running sshd and everything a client needs to log in to it.
#[derive(Debug)]
pub struct Sshd {
    child: Child,
    dir: PathBuf,
    port: u16,
    /// `SHA256:...` of each host key, as ssh-keygen -l prints it: (key type, fingerprint).
    host_keys: Vec<(String, String)>,
}

impl Sshd {
    /// Starts sshd with its files in `dir/sshd/`, or says why it cannot run here.
    pub fn start(dir: &Path) -> Result<Sshd, String> {
        Sshd::start_with(dir, |_| Ok(String::new()))
    }

    /// As [`Sshd::start`], with `setup` run once its host keys and authorized_keys are made
    /// (given its folder): it may change those files and returns lines for sshd_config.
    pub fn start_with(
        dir: &Path,
        setup: impl Fn(&Path) -> Result<String, String>,
    ) -> Result<Sshd, String> {
        let sshd = SSHD_PATHS
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .ok_or("no sshd (install openssh-server)")?;
        let dir = dir.join("sshd");
        fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        set_mode(&dir, 0o700);
        let root = nix::unistd::geteuid().is_root();
        if root && !Path::new("/run/sshd").exists() {
            fs::create_dir_all("/run/sshd").map_err(|e| format!("mkdir /run/sshd: {e}"))?;
            set_mode(Path::new("/run/sshd"), 0o755);
        }
        let mut host_keys = Vec::new();
        for kind in ["ed25519", "rsa"] {
            let key = dir.join(format!("host_{kind}"));
            keygen(&key, kind)?;
            host_keys.push((kind.to_owned(), fingerprint(&key.with_extension("pub"))?));
        }
        keygen(&dir.join("id_ed25519"), "ed25519")?;
        fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys"))
            .map_err(|e| format!("authorized_keys: {e}"))?;
        let extra = setup(&dir)?;
        // A port taken between our probe and sshd's bind: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            write_config(&dir, port, &extra)?;
            write_known_hosts(&dir, port)?;
            let log = fs::File::create(dir.join("sshd.log")).map_err(|e| e.to_string())?;
            let child = Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(dir.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", sshd.display()))?;
            let mut server = Sshd {
                child,
                dir: dir.clone(),
                port,
                host_keys: host_keys.clone(),
            };
            match server.wait_until_listening() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn wait_until_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("sshd exited ({status}): {}", self.log_text()));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("sshd did not listen in time: {}", self.log_text()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What sshd logged.
    pub fn log_text(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// The fingerprint of the host key of this type (`ed25519`, `rsa`).
    pub fn host_key_fingerprint(&self, kind: &str) -> &str {
        self.host_keys
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, fp)| fp.as_str())
            .expect("a host key of that type")
    }

    /// The host key's public key file (`ed25519`, `rsa`), for `ssh-add -h` known_hosts.
    pub fn host_key_pub(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("host_{kind}.pub"))
    }

    /// `ssh -F /dev/null` with our identity, known_hosts and port, in batch mode, without the
    /// test's `SSH_AUTH_SOCK`; add `-o ForwardAgent=...` or `-R` and the remote command.
    /// (`IdentityAgent=none` would also turn agent forwarding off, so it is not used.)
    pub fn ssh(&self) -> Command {
        let mut command = Command::new("ssh");
        let option = |name: &str, value: &Path| format!("{name}={}", value.display());
        command
            .args(["-F", "/dev/null", "-n", "-p", &self.port.to_string()])
            .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
            .args(["-o", "StrictHostKeyChecking=yes"])
            .args(["-o", &option("IdentityFile", &self.dir.join("id_ed25519"))])
            .args([
                "-o",
                &option("UserKnownHostsFile", &self.dir.join("known_hosts")),
            ])
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
            ])
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
        command
    }

    /// Runs `ssh OPTIONS 127.0.0.1 REMOTE`; `remote` is one shell line for the far side.
    pub fn run(&self, options: &[&OsStr], remote: &str) -> Output {
        self.ssh()
            .args(options)
            .arg("127.0.0.1")
            .arg(remote)
            .output()
            .expect("run ssh")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path, kind: &str) -> Result<(), String> {
    let _ = fs::remove_file(path);
    let mut args = vec!["-q", "-t", kind, "-N", "", "-C", "e2e", "-f"];
    let path_str = path.to_str().ok_or("non-UTF-8 path")?;
    args.push(path_str);
    if kind == "rsa" {
        args.extend(["-b", "2048"]);
    }
    let out = Command::new("ssh-keygen")
        .args(&args)
        .output()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ssh-keygen -t {kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// `ssh-keygen -lf PUB`'s `SHA256:...`.
fn fingerprint(public: &Path) -> Result<String, String> {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public)
        .output()
        .map_err(|e| format!("ssh-keygen -l: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| format!("ssh-keygen -lf {}: no fingerprint", public.display()))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("probe a port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn write_config(dir: &Path, port: u16, extra: &str) -> Result<(), String> {
    let path = |name: &str| dir.join(name).display().to_string();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\n\
         HostKey {}\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
         StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
         AllowAgentForwarding yes\nAllowStreamLocalForwarding yes\nStreamLocalBindUnlink yes\n\
         PrintMotd no\nLogLevel VERBOSE\n{extra}",
        path("host_ed25519"),
        path("host_rsa"),
        path("sshd.pid"),
        path("authorized_keys"),
    );
    fs::write(dir.join("sshd_config"), config).map_err(|e| format!("sshd_config: {e}"))
}

fn write_known_hosts(dir: &Path, port: u16) -> Result<(), String> {
    let mut lines = String::new();
    for kind in ["ed25519", "rsa"] {
        let public = fs::read_to_string(dir.join(format!("host_{kind}.pub")))
            .map_err(|e| format!("host key: {e}"))?;
        lines.push_str(&format!("[127.0.0.1]:{port} {}", public.trim_end()));
        lines.push('\n');
    }
    fs::write(dir.join("known_hosts"), lines).map_err(|e| format!("known_hosts: {e}"))
}

/// One shell line that runs `command` on the far side as it would run here: its folder, its
/// environment changes (`env -u` for removed variables) and its arguments, each quoted.
pub fn remote_line(command: &Command) -> String {
    let mut words = Vec::new();
    if let Some(dir) = command.get_current_dir() {
        words.push(format!("cd {} &&", quote(dir.as_os_str())));
    }
    words.push("env".to_owned());
    // env takes its options (-u) before any NAME=VALUE.
    for (key, value) in command.get_envs() {
        if value.is_none() {
            words.push(format!("-u {}", quote(key)));
        }
    }
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            let mut pair = key.to_os_string();
            pair.push("=");
            pair.push(value);
            words.push(quote(&pair));
        }
    }
    words.push(quote(command.get_program()));
    words.extend(command.get_args().map(quote));
    words.join(" ")
}

/// Single-quotes a word for a POSIX shell.
pub fn quote(word: &OsStr) -> String {
    format!("'{}'", word.to_string_lossy().replace('\'', r"'\''"))
}
