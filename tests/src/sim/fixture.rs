//! A simulated cluster set up from a test: a state file and a password log in the test's
//! folder, users added with the simulator's own `add-user`, `Command`s that run the simulator
//! (or anything that runs it, such as mfa-login) with the `CLOUDHSM_SIM_*` environment set,
//! and what the simulator recorded: passwords given, failed logins, registered keys.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::config::{Order, Style, DEFAULT_HSMS, PASSWORD_LOG_NAME};
use super::record::{self, PasswordRecord};
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
    pub order: Order,
    pub password_log: PathBuf,
}

impl Cluster {
    /// A cluster whose state file is `dir/cloudhsm-sim-state.json` and password log
    /// `dir/cloudhsm-sim-passwords.jsonl`: 3 HSMs, plain output, password-first logins.
    pub fn new(dir: &Path) -> Cluster {
        Cluster {
            state_path: dir.join("cloudhsm-sim-state.json"),
            hsms: DEFAULT_HSMS,
            style: Style::Plain,
            no_space: false,
            order: Order::PasswordFirst,
            password_log: dir.join(PASSWORD_LOG_NAME),
        }
    }

    /// When token-sign logins judge the password (`CLOUDHSM_SIM_ORDER`).
    pub fn with_order(mut self, order: Order) -> Cluster {
        self.order = order;
        self
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
            )
            .env("CLOUDHSM_SIM_ORDER", self.order.name())
            .env("CLOUDHSM_SIM_PASSWORD_LOG", &self.password_log);
    }

    /// Sets the session of a single command, as the real CLI reads it: `CLOUDHSM_PIN=user:password`
    /// and `CLOUDHSM_ROLE`.
    pub fn apply_pin(command: &mut Command, username: &str, role: &str, password: &str) {
        command
            .env("CLOUDHSM_PIN", format!("{username}:{password}"))
            .env("CLOUDHSM_ROLE", role);
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

    /// `cloudhsm-cli-sim mgmt-util` (cloudhsm_mgmt_util's `aws-cloudhsm>` shell) with this
    /// cluster's environment.
    pub fn mgmt_util(&self) -> Command {
        self.command(&["mgmt-util"])
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

    /// Failed logins of `username` since its last success (5 locks the account).
    pub fn failed_logins(&self, username: &str) -> u64 {
        self.user(username).failed_logins
    }

    /// Every failed login of `username` since it was added, even those a success followed.
    pub fn failed_logins_total(&self, username: &str) -> u64 {
        self.user(username).failed_logins_total
    }

    /// The SPKI PEM of `username`'s registered MFA key, None without MFA.
    pub fn public_key(&self, username: &str) -> Option<String> {
        self.user(username).public_key
    }

    /// Every password the simulator was given, oldest first.
    pub fn passwords(&self) -> Vec<PasswordRecord> {
        record::read_all(&self.password_log).expect("read the simulator's password log")
    }

    /// The passwords given to `command` (`user create`, `loginHSM`, ...), oldest first.
    pub fn passwords_for(&self, command: &str) -> Vec<PasswordRecord> {
        self.passwords()
            .into_iter()
            .filter(|r| r.command == command)
            .collect()
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
