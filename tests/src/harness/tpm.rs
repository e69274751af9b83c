//! A software TPM for the PKCS#11 tests: per test an swtpm on free ports of 127.0.0.1 with its
//! state in the test's folder, a tpm2-pkcs11 store (`TPM2_PKCS11_STORE`) filled with
//! `tpm2_ptool`, RSA keys whose public half is read back through the library (`ssh-keygen -D`)
//! as SPKI PEM for openssl, `stop`/`start` as an unplug and replug of the same TPM, and the
//! TPM's dictionary-attack lockout counter, which counts every wrong PIN of every token on it.
//!
//! The agent and mfa-add reach the TPM directly (`TPM2_PKCS11_TCTI=swtpm:...`): the library
//! flushes what it loads. `tpm2_ptool` runs one tpm2-tools command per step and leaves objects
//! loaded, which fills the TPM's three object slots without a resource manager, so it goes
//! through a tpm2-abrmd on a private D-Bus, started when first needed.

use std::ffi::OsString;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, Uid};

/// How long swtpm or the broker may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The security officer PIN of every test token.
const SO_PIN: &str = "86420864";

/// Where Debian's libtpm2-pkcs11-1 puts the module (`/usr/lib/<triplet>/pkcs11/`), if there.
pub fn module() -> Option<PathBuf> {
    fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .map(|e| e.path().join("pkcs11/libtpm2_pkcs11.so"))
        .find(|p| p.exists())
}

/// True when the TPM tests can run. Without swtpm and its tools they are skipped (saying so)
/// only outside CI; with `CI` set anything missing fails the test.
pub fn available(test: &str) -> bool {
    let missing: Vec<&str> = ["swtpm", "tpm2_ptool", "tpm2_getcap", "dbus-daemon"]
        .into_iter()
        .filter(|p| find(p).is_none())
        .chain(find("tpm2-abrmd").is_none().then_some("tpm2-abrmd"))
        .chain(module().is_none().then_some("libtpm2_pkcs11.so"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    super::skip(&format!("{test}: {missing:?} not installed (swtpm, tpm2-tools, libtpm2-pkcs11-1, libtpm2-pkcs11-tools, tpm2-abrmd)"));
    false
}

/// A program on PATH, or in /usr/sbin (tpm2-abrmd) when PATH lacks it.
fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// One software TPM and its tpm2-pkcs11 store.
#[derive(Debug)]
pub struct Tpm {
    base: PathBuf,
    state: PathBuf,
    /// The tpm2-pkcs11 store (`TPM2_PKCS11_STORE`).
    pub store: PathBuf,
    /// The TPM's port; its control channel listens on the next one.
    port: u16,
    swtpm: Option<Child>,
    broker: Option<Broker>,
    initialised: bool,
}

impl Tpm {
    /// A fresh TPM with an empty store in `dir/tpm`, running.
    pub fn new(dir: &Path) -> Tpm {
        let base = dir.join("tpm");
        let state = base.join("state");
        let store = base.join("store");
        fs::create_dir_all(&state).expect("TPM state folder");
        fs::create_dir_all(&store).expect("tpm2-pkcs11 store");
        let mut tpm = Tpm {
            base,
            state,
            store,
            port: 0,
            swtpm: None,
            broker: None,
            initialised: false,
        };
        // Free ports are picked, then bound by swtpm: another process may take one between.
        for _ in 0..5 {
            tpm.port = free_port_pair();
            if tpm.try_start() {
                return tpm;
            }
        }
        panic!("swtpm did not start; its log:\n{}", tpm.log());
    }

    /// The TCTI string for a direct connection to this TPM.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The variables every process that opens the tokens needs.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("TPM2_PKCS11_STORE", self.store.clone().into_os_string()),
            ("TPM2_PKCS11_TCTI", self.tcti().into()),
        ]
    }

    /// The variables for reaching the TPM through this test's tpm2-abrmd instead, as a
    /// machine with a resource manager daemon does (the broker starts with the first token).
    pub fn env_via_broker(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("TPM2_PKCS11_STORE", self.store.clone().into_os_string()),
            ("TPM2_PKCS11_TCTI", BROKER_TCTI.into()),
            ("DBUS_SESSION_BUS_ADDRESS", bus_address(&self.base).into()),
        ]
    }

    fn log(&self) -> String {
        fs::read_to_string(self.base.join("swtpm.log")).unwrap_or_default()
    }

    /// Starts swtpm on `self.port`; false if it exited first (its port was taken).
    fn try_start(&mut self) -> bool {
        let log = self.base.join("swtpm.log");
        let child = Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(format!("dir={}", self.state.display()))
            .arg("--server")
            .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", self.port))
            .arg("--ctrl")
            .arg(format!(
                "type=tcp,port={},bindaddr=127.0.0.1",
                self.port + 1
            ))
            .arg("--flags")
            .arg("not-need-init,startup-clear")
            .arg("--log")
            .arg(format!("file={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn swtpm (Debian package swtpm)");
        let swtpm = self.swtpm.insert(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(_)) = swtpm.try_wait() {
                self.swtpm = None;
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port + 1)).is_ok()
                && TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return true;
            }
            assert!(Instant::now() < deadline, "swtpm did not listen in time");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Unplugs the TPM: swtpm (and the broker) end; the state stays in its folder.
    pub fn stop(&mut self) {
        self.broker = None;
        if let Some(mut swtpm) = self.swtpm.take() {
            let _ = kill(Pid::from_raw(swtpm.id() as i32), Signal::SIGTERM);
            let _ = swtpm.wait();
        }
    }

    /// Plugs the TPM back in: the same state on the same ports.
    pub fn start(&mut self) {
        assert!(self.swtpm.is_none(), "the TPM is running");
        let deadline = Instant::now() + START_TIMEOUT;
        // The port may stay busy a moment after swtpm ended.
        while !self.try_start() {
            assert!(
                Instant::now() < deadline,
                "swtpm did not start again on port {}; its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `tpm2_ptool ARGS` on this store through the broker; panics with its output on failure.
    fn ptool(&mut self, args: &[&str]) -> Output {
        if self.broker.is_none() {
            self.broker = Some(Broker::start(&self.base, &self.tcti()));
        }
        let broker = self.broker.as_ref().expect("the broker");
        let out = Command::new("tpm2_ptool")
            .args(args)
            .envs(broker.env())
            .env("TPM2_PKCS11_STORE", &self.store)
            .stdin(Stdio::null())
            .output()
            .expect("run tpm2_ptool (Debian package libtpm2-pkcs11-tools)");
        assert!(
            out.status.success(),
            "tpm2_ptool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A token labelled `label` with user PIN `pin` (the store's primary object is made with
    /// the first token).
    pub fn add_token(&mut self, label: &str, pin: &str) {
        if !self.initialised {
            self.ptool(&["init"]);
            self.initialised = true;
        }
        self.ptool(&[
            "addtoken",
            "--pid=1",
            &format!("--label={label}"),
            &format!("--userpin={pin}"),
            &format!("--sopin={SO_PIN}"),
        ]);
    }

    /// A new RSA 2048 key labelled `key_label` on the token `token` (made inside the TPM, so
    /// only the TPM can use it); returns its public key, read back through the library, as
    /// SPKI PEM in `dir/tpm/TOKEN-KEY.pub`.
    pub fn add_key(&mut self, token: &str, pin: &str, key_label: &str) -> PathBuf {
        self.ptool(&[
            "addkey",
            "--algorithm=rsa2048",
            &format!("--label={token}"),
            &format!("--key-label={key_label}"),
            &format!("--userpin={pin}"),
        ]);
        self.public_key(token, key_label)
    }

    /// The public key of `key_label` as `ssh-keygen -D` reads it from the tokens (no login:
    /// public objects), converted to SPKI PEM by `ssh-keygen -e -m PKCS8`.
    fn public_key(&self, token: &str, key_label: &str) -> PathBuf {
        let module = module().expect("libtpm2_pkcs11.so");
        let out = Command::new("ssh-keygen")
            .arg("-D")
            .arg(&module)
            .envs(self.env())
            .stdin(Stdio::null())
            .output()
            .expect("ssh-keygen -D");
        let listed = String::from_utf8_lossy(&out.stdout);
        let line = listed
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(key_label))
            .unwrap_or_else(|| {
                panic!(
                    "ssh-keygen -D lists no key {key_label}: {listed}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let ssh = self.base.join(format!("{token}-{key_label}.ssh.pub"));
        fs::write(&ssh, format!("{line}\n")).expect("write the SSH public key");
        let out = Command::new("ssh-keygen")
            .args(["-e", "-m", "PKCS8", "-f"])
            .arg(&ssh)
            .output()
            .expect("ssh-keygen -e");
        let pem = String::from_utf8_lossy(&out.stdout);
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----"),
            "ssh-keygen -e -m PKCS8: {pem}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let public = self.base.join(format!("{token}-{key_label}.pub"));
        fs::write(&public, pem.as_bytes()).expect("write the public key");
        public
    }

    /// TPM2_PT_LOCKOUT_COUNTER: the failed authorisations the TPM counts against its
    /// dictionary-attack lockout (a wrong PIN on any token of the TPM adds one).
    pub fn lockout_counter(&self) -> u32 {
        let out = Command::new("tpm2_getcap")
            .arg("properties-variable")
            .env("TPM2TOOLS_TCTI", self.tcti())
            .stdin(Stdio::null())
            .output()
            .expect("run tpm2_getcap (Debian package tpm2-tools)");
        let text = String::from_utf8_lossy(&out.stdout);
        let value = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("TPM2_PT_LOCKOUT_COUNTER:"))
            .unwrap_or_else(|| {
                panic!(
                    "no TPM2_PT_LOCKOUT_COUNTER in tpm2_getcap's output: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
            .trim();
        u32::from_str_radix(value.trim_start_matches("0x"), 16).expect("a hex counter")
    }
}

impl Drop for Tpm {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port of 127.0.0.1 that was free a moment ago, and the one after it: the swtpm TCTI
/// finds the control channel at the TPM's port + 1.
fn free_port_pair() -> u16 {
    loop {
        let first = TcpListener::bind(("127.0.0.1", 0)).expect("a free port");
        let port = first.local_addr().expect("its address").port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// The TCTI of a tpm2-abrmd on the session bus.
const BROKER_TCTI: &str = "tabrmd:bus_type=session";

/// The address of the test's own D-Bus, a socket in the TPM's folder.
fn bus_address(base: &Path) -> String {
    format!("unix:path={}", base.join("bus").display())
}

/// tpm2-abrmd on a D-Bus of its own (a `dbus-daemon` per test), in front of one swtpm.
#[derive(Debug)]
struct Broker {
    bus: Child,
    abrmd: Child,
    address: String,
}

impl Broker {
    fn start(base: &Path, tcti: &str) -> Broker {
        let socket = base.join("bus");
        let _ = fs::remove_file(&socket);
        let address = bus_address(base);
        let bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dbus-daemon (Debian package dbus)");
        let deadline = Instant::now() + START_TIMEOUT;
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "dbus-daemon did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = base.join("abrmd.log");
        let mut command = Command::new(find("tpm2-abrmd").expect("tpm2-abrmd"));
        command
            .arg("--session")
            .arg(format!("--tcti={tcti}"))
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("the broker's log"));
        if Uid::effective().is_root() {
            command.arg("--allow-root");
        }
        let abrmd = command
            .spawn()
            .expect("spawn tpm2-abrmd (Debian package tpm2-abrmd)");
        let mut broker = Broker {
            bus,
            abrmd,
            address,
        };
        // Ready when a client gets an answer through it.
        loop {
            let probe = Command::new("tpm2_getcap")
                .arg("handles-persistent")
                .envs(broker.env())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run tpm2_getcap");
            if probe.success() {
                return broker;
            }
            if let Ok(Some(status)) = broker.abrmd.try_wait() {
                panic!(
                    "tpm2-abrmd exited ({status}): {}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "tpm2-abrmd did not answer: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn env(&self) -> [(&'static str, &str); 2] {
        [
            ("DBUS_SESSION_BUS_ADDRESS", &self.address),
            ("TPM2TOOLS_TCTI", BROKER_TCTI),
        ]
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        for child in [&mut self.abrmd, &mut self.bus] {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let _ = child.wait();
        }
    }
}
