//! A second real local user for attack tests: made with `useradd`, removed with `userdel`
//! when dropped, and commands run as it through `setpriv`. Only root can make one (CI runs as
//! root); elsewhere [`OtherUser::create`] says why not and the test prints it and passes.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// useradd and userdel lock /etc/passwd; tests in one process take turns.
static ACCOUNTS: Mutex<()> = Mutex::new(());
static COUNT: AtomicU32 = AtomicU32::new(0);

/// A throwaway local user with a group of its own and no home.
#[derive(Debug)]
pub struct OtherUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl OtherUser {
    /// Makes a new user (`mfae2e<pid>x<n>`), or says why none can be made here.
    pub fn create() -> Result<OtherUser, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("only root can make a second user (CI runs as root)".to_owned());
        }
        let name = format!(
            "mfae2e{}x{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let args = ["--no-create-home", "--user-group", "--shell", "/bin/sh"];
        let out = with_retries(|| Command::new("useradd").args(args).arg(&name).output())?;
        if !out.status.success() {
            return Err(format!(
                "useradd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let user = nix::unistd::User::from_name(&name)
            .ok()
            .flatten()
            .ok_or_else(|| format!("useradd made no user {name}"))?;
        Ok(OtherUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }

    /// `sh -c SCRIPT` as this user, in `dir`; panics with its output when it fails.
    pub fn sh(&self, dir: &Path, script: &str) {
        let out = self
            .command("sh")
            .args(["-c", script])
            .current_dir(dir)
            .output()
            .expect("run setpriv");
        assert!(
            out.status.success(),
            "as {}: {script}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `PROGRAM` as this user (its uid, its group only).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg("--")
            .arg(program);
        command
    }

    /// Hands `path` to this user.
    pub fn chown(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).expect("chown");
    }
}

impl Drop for OtherUser {
    fn drop(&mut self) {
        let _ = with_retries(|| Command::new("userdel").arg(&self.name).output());
    }
}

/// Runs an account command, again while another process holds the passwd lock (exit 10).
fn with_retries(run: impl Fn() -> std::io::Result<Output>) -> Result<Output, String> {
    let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..50 {
        let out = run().map_err(|e| format!("cannot run useradd/userdel: {e}"))?;
        if out.status.code() != Some(10) {
            return Ok(out);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("the passwd file stayed locked".to_owned())
}
