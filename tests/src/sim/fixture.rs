//! A simulated cluster set up from a test: a state file in the test's folder, users added
//! with the simulator's own `add-user`, and `Command`s that run the simulator (or anything
//! that runs it, such as mfa-login) with the `CLOUDHSM_SIM_*` environment set.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::config::{Style, DEFAULT_HSMS};
use super::state::{State, User};
use crate::harness::bins::bin;

/// The simulator binary's name in the target dir.
pub const SIM_BIN: &str = "cloudhsm-cli-sim";

/// One simulated cluster: where its state lives and how its CLI prints.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub state_path: PathBuf,
    pub hsms: usize,
    pub style: Style,
    pub no_space: bool,
}

impl Cluster {
    /// A cluster whose state file is `dir/cloudhsm-sim-state.json`: 3 HSMs, plain output.
    pub fn new(dir: &Path) -> Cluster {
        Cluster {
            state_path: dir.join("cloudhsm-sim-state.json"),
            hsms: DEFAULT_HSMS,
            style: Style::Plain,
            no_space: false,
        }
    }

    pub fn with_hsms(mut self, hsms: usize) -> Cluster {
        self.hsms = hsms;
        self
    }

    pub fn with_style(mut self, style: Style) -> Cluster {
        self.style = style;
        self
    }

    pub fn with_no_space(mut self, no_space: bool) -> Cluster {
        self.no_space = no_space;
        self
    }

    /// Sets the `CLOUDHSM_SIM_*` variables on `command` (its children inherit them).
    pub fn apply_env(&self, command: &mut Command) {
        command
            .env("CLOUDHSM_SIM_STATE", &self.state_path)
            .env("CLOUDHSM_SIM_HSMS", self.hsms.to_string())
            .env("CLOUDHSM_SIM_STYLE", self.style.name())
            .env(
                "CLOUDHSM_SIM_NO_SPACE",
                if self.no_space { "1" } else { "0" },
            );
    }

    /// The path of the simulator binary.
    pub fn bin() -> PathBuf {
        bin(SIM_BIN)
    }

    /// `cloudhsm-cli-sim ARGS` with this cluster's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(Self::bin());
        command.args(args);
        self.apply_env(&mut command);
        command
    }

    /// Adds (or resets) a user with `cloudhsm-cli-sim add-user`; `public_key` is an SPKI PEM
    /// file, or None for a user without MFA.
    pub fn add_user(&self, username: &str, role: &str, password: &str, public_key: Option<&Path>) {
        let mut args = vec![
            "add-user",
            "--username",
            username,
            "--role",
            role,
            "--password",
            password,
        ];
        let key;
        if let Some(path) = public_key {
            key = path.to_string_lossy().into_owned();
            args.extend(["--public-key", &key]);
        }
        let output = self
            .command(&args)
            .output()
            .expect("run cloudhsm-cli-sim add-user");
        assert!(
            output.status.success(),
            "add-user {username} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A user as the state file holds it now.
    pub fn user(&self, username: &str) -> User {
        State::load(&self.state_path)
            .expect("read the simulator state")
            .user(username)
            .unwrap_or_else(|| panic!("no user {username:?} in the simulator state"))
            .clone()
    }
}

/// The real CLI's MFA login: `login --username U --role R mfa-token-sign --token F`.
pub fn login_args<'a>(username: &'a str, role: &'a str, token: &'a str) -> [&'a str; 8] {
    [
        "login",
        "--username",
        username,
        "--role",
        role,
        "mfa-token-sign",
        "--token",
        token,
    ]
}
