//! The commands of the simulated cloudhsm-cli and what they share: the result they print
//! ([`Outcome`]), the session ([`Context`]), the user checks, the failed-login count, the
//! NEW-password prompt pair and the password log. The commands themselves are in
//! [`login`] (login, logout, a single command's `CLOUDHSM_PIN` session) and `users`
//! (`user create`, `user change-password`, `user change-mfa token-sign`, `add-user`).

mod login;
mod users;

pub use login::{login, logout, TOKENS_FIRST_FAILURE};
pub use users::{add_user, change_mfa, change_password, create_user};

use std::fs;

use anyhow::{Context as _, Result};
use proto::signing::check_key_size;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use serde_json::{json, Value};

use super::config::Config;
use super::record::{self, PasswordRecord};
use super::state::{State, User, MAX_FAILED_LOGINS};
use super::term::Terminal;

pub const PASSWORD_PROMPT: &str = "Enter password:";
pub const CONFIRM_PROMPT: &str = "Confirm password:";
pub const SIGNED_TOKEN_PROMPT: &str =
    "Enter signed token file path (press enter if same as the unsigned token file):";
pub const PUBLIC_KEY_PROMPT: &str = "Enter public key PEM file path:";

/// `key list`: each label of `CLOUDHSM_SIM_KEY_LABELS` on a line of its own, its line end
/// 200 ms after its text (a label that reads like a prompt then ends a read, as a prompt
/// does), then the result.
pub fn key_list(ctx: &mut Context) -> Result<Outcome> {
    let labels = std::env::var("CLOUDHSM_SIM_KEY_LABELS").unwrap_or_default();
    let labels: Vec<&str> = labels.lines().filter(|l| !l.is_empty()).collect();
    for label in &labels {
        ctx.term.write_text(label)?;
        std::thread::sleep(std::time::Duration::from_millis(200));
        ctx.term.write_text("\n")?;
    }
    Ok(Outcome::Success(json!({ "matched_keys": labels.len() })))
}

/// What a command prints: `{"error_code": 0, "data": ...}` or a non-zero code and a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success(Value),
    Failure(String),
}

impl Outcome {
    pub fn to_json(&self) -> Value {
        match self {
            Outcome::Success(data) => json!({"error_code": 0, "data": data}),
            Outcome::Failure(message) => json!({"error_code": 1, "data": message}),
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }
}

fn fail(message: impl Into<String>) -> Result<Outcome> {
    Ok(Outcome::Failure(message.into()))
}

fn user_data(username: &str, role: &str) -> Outcome {
    Outcome::Success(json!({"username": username, "role": role}))
}

/// Who is logged in: `(username, role)`.
pub type Session = (String, String);

/// What one run of the simulator shares between commands.
pub struct Context {
    pub config: Config,
    pub term: Terminal,
    /// `(username, role)` once logged in.
    pub logged_in: Option<Session>,
}

impl Context {
    /// Writes a password given to `command` for `user` to the password log.
    pub fn record(&self, command: &str, via: &str, user: &str, password: &str) -> Result<()> {
        let entry = PasswordRecord {
            command: command.to_owned(),
            via: via.to_owned(),
            user: user.to_owned(),
            session: self.logged_in.as_ref().map(|(name, _)| name.clone()),
            password: password.to_owned(),
        };
        record::append(&self.config.password_log, &entry)
    }

    /// A NEW password for `user`: `given` (from `option`), else asked twice without echo.
    /// None when the two answers differ. Every answer is recorded.
    pub fn new_password(
        &mut self,
        command: &str,
        user: &str,
        given: Option<String>,
        option: &str,
    ) -> Result<Option<String>> {
        if let Some(password) = given {
            self.record(command, option, user, &password)?;
            return Ok(Some(password));
        }
        let first = self.term.ask_secret(PASSWORD_PROMPT)?;
        self.record(command, PASSWORD_PROMPT, user, &first)?;
        let second = self.term.ask_secret(CONFIRM_PROMPT)?;
        self.record(command, CONFIRM_PROMPT, user, &second)?;
        Ok((first == second).then_some(first))
    }
}

/// The checks every login makes; the user, or the failure to print.
fn find_user(state: &State, username: &str, role: &str) -> std::result::Result<User, String> {
    let user = find_target(state, username, role)?;
    if user.is_locked() {
        return Err(format!(
            "user {username:?} is locked after {MAX_FAILED_LOGINS} failed login attempts"
        ));
    }
    Ok(user)
}

/// A user named by a management command: it must exist with that role (locked or not: an
/// admin resets a locked user's password).
fn find_target(state: &State, username: &str, role: &str) -> std::result::Result<User, String> {
    let user = state
        .user(username)
        .ok_or_else(|| format!("user {username:?} does not exist"))?;
    if user.role != role {
        return Err(format!("user {username:?} does not have the role {role:?}"));
    }
    Ok(user.clone())
}

/// Applies `change` to a user in the state file, re-reading it first so that concurrent
/// simulators do not lose each other's counts.
fn update_user(config: &Config, username: &str, change: impl FnOnce(&mut User)) -> Result<User> {
    let mut state = State::load(&config.state_path)?;
    let user = state
        .user_mut(username)
        .with_context(|| format!("user {username:?} disappeared from the state file"))?;
    change(user);
    let updated = user.clone();
    state.save(&config.state_path)?;
    Ok(updated)
}

/// Counts a failed login and returns the failure, noting when it locked the account.
fn failed_login(config: &Config, username: &str, reason: String) -> Result<Outcome> {
    let user = update_user(config, username, |u| {
        u.failed_logins += 1;
        u.failed_logins_total += 1;
    })?;
    if user.is_locked() {
        return fail(format!(
            "{reason} ({MAX_FAILED_LOGINS} failed login attempts: user {username:?} is now locked)"
        ));
    }
    fail(reason)
}

/// Reads an SPKI PEM public key (`BEGIN PUBLIC KEY`) of an acceptable size.
fn read_public_key(path: &str) -> Result<(String, RsaPublicKey)> {
    anyhow::ensure!(!path.is_empty(), "no public key file given");
    let pem = fs::read_to_string(path)
        .with_context(|| format!("cannot read the public key file {path}"))?;
    let key = RsaPublicKey::from_public_key_pem(pem.trim())
        .with_context(|| format!("{path} is not an RSA public key PEM (BEGIN PUBLIC KEY)"))?;
    check_key_size(&key)?;
    Ok((pem, key))
}
