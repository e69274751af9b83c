//! The agent's side of its PKCS#11 helper processes: one per provider, started on the first
//! add of that provider (this very executable with `--pkcs11-helper PROVIDER`, its path taken
//! once as the agent starts), spoken to over its stdin/stdout, every call bounded by a
//! timeout. A helper that times out, dies or answers garbage is ended and marked dead: its
//! keys then fail with that cause, and the next add of the provider starts a fresh one. A
//! helper ends when the last key holding it goes (removed, expired, `-D`, `-e`) or its add
//! fails.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use proto::pkcs11::{HelperRequest, HelperResponse, Pkcs11Cause};
use proto::wire::frame;
use zeroize::Zeroizing;

use super::choice::TokenFailure;
use crate::log::Log;

/// The longest line of a helper's stderr the log takes; the rest of it is the next line.
const MAX_STDERR_LINE: u64 = 1024;

/// The hidden flag that makes mfa-agent a helper.
pub const HELPER_FLAG: &str = "--pkcs11-helper";

/// How long a load (library start, logins, key search) may take.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one signature may take.
pub const SIGN_TIMEOUT: Duration = Duration::from_secs(30);

/// The variables a helper inherits: where providers find their tokens and configuration, and
/// nothing else of the agent's environment.
fn passed_on(name: &str) -> bool {
    const EXACT: [&str; 6] = [
        "SOFTHSM2_CONF",
        "HOME",
        "PATH",
        "XDG_RUNTIME_DIR",
        "DBUS_SYSTEM_BUS_ADDRESS",
        "DBUS_SESSION_BUS_ADDRESS",
    ];
    const PREFIXES: [&str; 4] = ["TPM2_PKCS11_", "TSS2_", "OPENSSL_", "P11_KIT_"];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One running helper process.
pub struct ProviderHelper {
    provider: PathBuf,
    pid: u32,
    child: Arc<Mutex<Child>>,
    /// One call at a time: the request goes in, its reply comes out of `replies`.
    pipe: Mutex<(ChildStdin, Receiver<Option<HelperResponse>>)>,
    /// Set once the helper is ended: why its keys no longer sign.
    dead: Mutex<Option<TokenFailure>>,
}

impl std::fmt::Debug for ProviderHelper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderHelper")
            .field("provider", &self.provider)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl ProviderHelper {
    /// Starts a helper for `provider`; what it (or its library) prints on stderr goes to
    /// `log`, line by line, so the agent's log keeps its hash chain.
    fn spawn(
        exe: &Path,
        provider: &Path,
        log: Option<Log>,
    ) -> Result<ProviderHelper, TokenFailure> {
        let mut child = Command::new(exe)
            .arg(HELPER_FLAG)
            .arg(provider)
            .env_clear()
            .envs(std::env::vars_os().filter(|(k, _)| k.to_str().is_some_and(passed_on)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if log.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .spawn()
            .map_err(|e| {
                TokenFailure::new(
                    Pkcs11Cause::ProviderLoadFailed,
                    format!("cannot start the PKCS#11 helper {}: {e}", exe.display()),
                )
            })?;
        let pid = child.id();
        let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
            (Some(stdin), Some(stdout)) => (stdin, stdout),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TokenFailure::new(
                    Pkcs11Cause::ProviderLoadFailed,
                    "the PKCS#11 helper has no pipes",
                ));
            }
        };
        if let (Some(log), Some(stderr)) = (log, child.stderr.take()) {
            let named = format!("pkcs11 helper {pid} ({})", provider.display());
            std::thread::spawn(move || log_lines(stderr, &named, log));
        }
        let (sender, replies) = std::sync::mpsc::channel();
        let child = Arc::new(Mutex::new(child));
        let reaped = Arc::clone(&child);
        // The reader: each reply, or `None` once the helper's stdout ends or carries garbage;
        // then the process is ended and reaped at once, not at the next call.
        std::thread::spawn(move || {
            let mut stdout = stdout;
            loop {
                let reply = read_reply(&mut stdout);
                let end = reply.is_none();
                if end {
                    let mut child = lock(&reaped);
                    let _ = child.kill();
                    let _ = child.wait();
                }
                if sender.send(reply).is_err() || end {
                    return;
                }
            }
        });
        Ok(ProviderHelper {
            provider: provider.to_path_buf(),
            pid,
            child,
            pipe: Mutex::new((stdin, replies)),
            dead: Mutex::new(None),
        })
    }

    /// The helper's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The provider it serves.
    pub fn provider(&self) -> &Path {
        &self.provider
    }

    /// True once it was ended, or died.
    pub fn is_dead(&self) -> bool {
        lock(&self.dead).is_some()
    }

    /// Sends `request` and waits at most `timeout` for the reply. A helper that does not
    /// answer in time, or whose pipe breaks, is ended; this and every later call fail.
    pub fn call(
        &self,
        request: &HelperRequest,
        timeout: Duration,
    ) -> Result<HelperResponse, TokenFailure> {
        let mut pipe = lock(&self.pipe);
        if let Some(dead) = lock(&self.dead).clone() {
            return Err(dead);
        }
        let (stdin, replies) = &mut *pipe;
        let sent = Zeroizing::new(frame(&request.encode()));
        if stdin.write_all(&sent).and_then(|()| stdin.flush()).is_err() {
            return Err(self.died(Pkcs11Cause::HelperCrashed, timeout));
        }
        match replies.recv_timeout(timeout) {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                Err(self.died(Pkcs11Cause::HelperCrashed, timeout))
            }
            Err(RecvTimeoutError::Timeout) => Err(self.died(Pkcs11Cause::HelperTimeout, timeout)),
        }
    }

    /// Ends the helper and says why its keys are gone.
    fn died(&self, cause: Pkcs11Cause, timeout: Duration) -> TokenFailure {
        let what = match cause {
            Pkcs11Cause::HelperTimeout => format!("did not answer within {} s", timeout.as_secs()),
            _ => "died".to_owned(),
        };
        let failure = TokenFailure::new(
            cause,
            format!(
                "the PKCS#11 helper of {} (pid {}) {what}: its token keys no longer sign",
                self.provider.display(),
                self.pid
            ),
        );
        self.end_with(failure.clone());
        failure
    }

    /// Ends the process (kill, then reap it) and marks its keys dead.
    pub fn end(&self) {
        self.end_with(TokenFailure::new(
            Pkcs11Cause::TokenRemoved,
            format!(
                "the keys of PKCS#11 provider {} were unloaded",
                self.provider.display()
            ),
        ));
    }

    fn end_with(&self, why: TokenFailure) {
        let mut dead = lock(&self.dead);
        if dead.is_none() {
            *dead = Some(why);
        }
        drop(dead);
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ProviderHelper {
    fn drop(&mut self) {
        self.end();
    }
}

/// Logs each line of a helper's stderr, printable and bounded, until it closes (the helper
/// ended, or died).
fn log_lines(stderr: impl Read, named: &str, log: Log) {
    let mut reader = BufReader::new(stderr);
    loop {
        let mut line = Vec::new();
        match (&mut reader)
            .take(MAX_STDERR_LINE)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => {
                log.info(&format!("{named}: ended"));
                return;
            }
            Ok(_) => {}
        }
        let text: String = String::from_utf8_lossy(&line)
            .trim_end()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if !text.is_empty() {
            log.info(&format!("{named}: {text}"));
        }
    }
}

fn read_reply(stdout: &mut impl Read) -> Option<HelperResponse> {
    let body = proto::client::read_frame(stdout).ok()?;
    HelperResponse::decode(&body).ok()
}

/// The agent's helpers, one per provider (its real path), held weakly: the keys loaded from a
/// provider hold its helper, and it ends when the last of them goes.
#[derive(Debug)]
pub struct Helpers {
    /// This executable, resolved as the agent starts (it may be replaced on disk later).
    exe: Option<PathBuf>,
    running: Mutex<HashMap<PathBuf, Weak<ProviderHelper>>>,
    /// Where the helpers' stderr goes.
    log: Log,
}

impl Helpers {
    /// The helpers of an agent that logs to `log`.
    pub fn new(log: Log) -> Self {
        Helpers {
            exe: std::env::current_exe().ok(),
            running: Mutex::default(),
            log,
        }
    }

    /// The live helper of `provider`, else a new one.
    pub fn get_or_start(&self, provider: &Path) -> Result<Arc<ProviderHelper>, TokenFailure> {
        let mut running = lock(&self.running);
        running.retain(|_, h| h.strong_count() > 0);
        if let Some(helper) = running.get(provider).and_then(Weak::upgrade) {
            if !helper.is_dead() {
                return Ok(helper);
            }
        }
        let exe = self.exe.as_deref().ok_or_else(|| {
            TokenFailure::new(
                Pkcs11Cause::ProviderLoadFailed,
                "the agent cannot tell its own executable to start a PKCS#11 helper",
            )
        })?;
        let helper = Arc::new(ProviderHelper::spawn(exe, provider, Some(self.log))?);
        self.log.info(&format!(
            "pkcs11 helper {} ({}): started",
            helper.pid(),
            provider.display()
        ));
        running.insert(provider.to_path_buf(), Arc::downgrade(&helper));
        Ok(helper)
    }

    /// Ends the helper of `provider` (`-e`), whoever still holds it.
    pub fn end(&self, provider: &Path) {
        let helper = lock(&self.running).remove(provider);
        if let Some(helper) = helper.and_then(|h| h.upgrade()) {
            helper.end();
        }
    }

    /// Ends every helper (`-D`).
    pub fn end_all(&self) {
        let all: Vec<_> = lock(&self.running).drain().collect();
        for (_, helper) in all {
            if let Some(helper) = helper.upgrade() {
                helper.end();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A helper program that runs `body` as a shell script.
    fn fake_helper(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("helper.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        crate::sys::set_mode(&path, 0o700).expect("chmod");
        path
    }

    fn load() -> HelperRequest {
        HelperRequest::Load {
            pin: None,
            tokens: Vec::new(),
            filter: None,
        }
    }

    #[test]
    fn a_helper_that_hangs_is_ended_at_the_timeout_and_its_keys_fail_with_that_cause() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = fake_helper(dir.path(), "exec sleep 60");
        let helper = ProviderHelper::spawn(&exe, Path::new("/p.so"), None).expect("spawn");
        let started = std::time::Instant::now();
        let failure = helper
            .call(&load(), Duration::from_millis(300))
            .expect_err("no answer");
        assert_eq!(failure.cause, Pkcs11Cause::HelperTimeout);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(helper.is_dead());
        let again = helper
            .call(&load(), Duration::from_secs(30))
            .expect_err("dead");
        assert_eq!(again.cause, Pkcs11Cause::HelperTimeout);
        // Ended and reaped: waiting again gives its (killed) status at once.
        assert!(lock(&helper.child).try_wait().expect("wait").is_some());
    }

    #[test]
    fn a_helper_that_dies_costs_its_calls_not_the_caller() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = fake_helper(dir.path(), "exit 3");
        let helper = ProviderHelper::spawn(&exe, Path::new("/p.so"), None).expect("spawn");
        let failure = helper
            .call(&load(), Duration::from_secs(30))
            .expect_err("died");
        assert_eq!(failure.cause, Pkcs11Cause::HelperCrashed);
        assert!(failure.text.contains("/p.so"), "{}", failure.text);
        assert!(helper.is_dead());
    }

    #[test]
    fn a_helper_that_answers_garbage_is_ended() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A frame of four bytes that is no reply, then it waits.
        let exe = fake_helper(
            dir.path(),
            "printf '\\000\\000\\000\\004junk'; exec sleep 60",
        );
        let helper = ProviderHelper::spawn(&exe, Path::new("/p.so"), None).expect("spawn");
        let failure = helper
            .call(&load(), Duration::from_secs(30))
            .expect_err("garbage");
        assert_eq!(failure.cause, Pkcs11Cause::HelperCrashed);
    }

    #[test]
    fn a_helper_inherits_provider_variables_only() {
        for name in [
            "SOFTHSM2_CONF",
            "TPM2_PKCS11_STORE",
            "TSS2_LOG",
            "OPENSSL_CONF",
            "HOME",
            "PATH",
        ] {
            assert!(passed_on(name), "{name}");
        }
        for name in [
            "MFA_AUTH_SOCK",
            "SSH_AUTH_SOCK",
            "LD_PRELOAD",
            "MFA_ASKPASS",
            "DISPLAY",
        ] {
            assert!(!passed_on(name), "{name}");
        }
    }
}
