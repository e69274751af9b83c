//! The commands: login (password, then token-sign MFA), user change-mfa token-sign, logout,
//! and the simulator's own add-user. Each yields an [`Outcome`], printed as cloudhsm-cli's
//! result JSON.

use std::fs;

use anyhow::{Context as _, Result};
use proto::signing::check_key_size;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use serde_json::{json, Value};

use super::args::{AddUserArgs, ChangeMfaArgs, LoginArgs, LoginMfa};
use super::config::Config;
use super::state::{State, User, MAX_FAILED_LOGINS, ROLES};
use super::term::Terminal;
use super::tokens::{self, SignedFileError};

pub const PASSWORD_PROMPT: &str = "Enter password:";
pub const CONFIRM_PROMPT: &str = "Confirm password:";
pub const SIGNED_TOKEN_PROMPT: &str =
    "Enter signed token file path (press enter if same as the unsigned token file):";
pub const PUBLIC_KEY_PROMPT: &str = "Enter public key PEM file path:";

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

/// What one run of the simulator shares between commands.
pub struct Context {
    pub config: Config,
    pub term: Terminal,
    /// `(username, role)` once logged in.
    pub logged_in: Option<(String, String)>,
}

/// The checks every command naming a user makes; the user, or the failure to print.
fn find_user(state: &State, username: &str, role: &str) -> std::result::Result<User, String> {
    let user = state
        .user(username)
        .ok_or_else(|| format!("user {username:?} does not exist"))?;
    if user.role != role {
        return Err(format!("user {username:?} does not have the role {role:?}"));
    }
    if user.is_locked() {
        return Err(format!(
            "user {username:?} is locked after {MAX_FAILED_LOGINS} failed login attempts"
        ));
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
    let user = update_user(config, username, |u| u.failed_logins += 1)?;
    if user.is_locked() {
        return fail(format!(
            "{reason} ({MAX_FAILED_LOGINS} failed login attempts: user {username:?} is now locked)"
        ));
    }
    fail(reason)
}

/// `login --username U --role R [--password P] [mfa-token-sign --token F]`.
pub fn login(ctx: &mut Context, args: LoginArgs) -> Result<Outcome> {
    let password = match args.password {
        Some(p) => p,
        None => ctx.term.ask_secret(PASSWORD_PROMPT)?,
    };
    let state = State::load(&ctx.config.state_path)?;
    let user = match find_user(&state, &args.username, &args.role) {
        Ok(user) => user,
        Err(message) => return fail(message),
    };
    // The service checks the password before the tokens: a wrong one is a failed login.
    if password != user.password {
        return failed_login(&ctx.config, &args.username, "incorrect password".into());
    }
    match (user.mfa_key()?, args.mfa) {
        (None, None) => {}
        (None, Some(_)) => {
            return fail(format!(
                "user {:?} has no MFA registered: log in without mfa-token-sign",
                args.username
            ))
        }
        (Some(_), None) => {
            return fail(format!(
                "user {:?} requires token-sign MFA: add mfa-token-sign --token FILE",
                args.username
            ))
        }
        (Some(key), Some(LoginMfa::MfaTokenSign { token })) => {
            let issued = tokens::issue(&token, ctx.config.hsms)?;
            let answer = ctx.term.ask(SIGNED_TOKEN_PROMPT)?;
            let signed = tokens::signed_path(&answer, &token);
            match tokens::check_signed(signed, &issued, &key) {
                Ok(()) => {}
                Err(e @ SignedFileError::Unusable(_)) => return fail(e.to_string()),
                Err(e @ SignedFileError::Rejected(_)) => {
                    return failed_login(&ctx.config, &args.username, format!("MFA failed: {e}"))
                }
            }
        }
    }
    update_user(&ctx.config, &args.username, |u| u.failed_logins = 0)?;
    ctx.logged_in = Some((args.username.clone(), args.role.clone()));
    Ok(user_data(&args.username, &args.role))
}

/// `user change-mfa token-sign --username U --role R --token F [--change-password P]`.
pub fn change_mfa(ctx: &mut Context, args: ChangeMfaArgs) -> Result<Outcome> {
    let password = match args.change_password {
        Some(p) => p,
        None => {
            let first = ctx.term.ask_secret(PASSWORD_PROMPT)?;
            let second = ctx.term.ask_secret(CONFIRM_PROMPT)?;
            if first != second {
                return fail("the passwords do not match");
            }
            first
        }
    };
    let state = State::load(&ctx.config.state_path)?;
    let user = match find_user(&state, &args.username, &args.role) {
        Ok(user) => user,
        Err(message) => return fail(message),
    };
    if password != user.password {
        return fail("incorrect password");
    }
    let issued = tokens::issue(&args.token, ctx.config.hsms)?;
    let answer = ctx.term.ask(SIGNED_TOKEN_PROMPT)?;
    let signed = tokens::signed_path(&answer, &args.token).to_path_buf();
    let pem_path = ctx.term.ask(PUBLIC_KEY_PROMPT)?;
    let (pem, key) = match read_public_key(pem_path.trim()) {
        Ok(found) => found,
        Err(e) => return fail(format!("{e:#}")),
    };
    if let Err(e) = tokens::check_signed(&signed, &issued, &key) {
        return fail(format!(
            "the tokens do not verify with the new public key: {e}"
        ));
    }
    update_user(&ctx.config, &args.username, |u| u.public_key = Some(pem))?;
    Ok(user_data(&args.username, &args.role))
}

/// `add-user --username U --role R --password P [--public-key PEM]` (simulator only).
pub fn add_user(ctx: &mut Context, args: AddUserArgs) -> Result<Outcome> {
    if !ROLES.contains(&args.role.as_str()) {
        return fail(format!(
            "unknown role {:?}: use one of {ROLES:?}",
            args.role
        ));
    }
    let public_key = match &args.public_key {
        None => None,
        Some(path) => match read_public_key(&path.to_string_lossy()) {
            Ok((pem, _)) => Some(pem),
            Err(e) => return fail(format!("{e:#}")),
        },
    };
    let mut state = State::load(&ctx.config.state_path)?;
    let user = User {
        role: args.role.clone(),
        password: args.password,
        public_key,
        failed_logins: 0,
    };
    state.put_user(&args.username, user);
    state.save(&ctx.config.state_path)?;
    Ok(user_data(&args.username, &args.role))
}

/// `logout`.
pub fn logout(ctx: &mut Context) -> Result<Outcome> {
    match ctx.logged_in.take() {
        Some(_) => Ok(Outcome::Success(Value::String("Logout successful".into()))),
        None => fail("not logged in"),
    }
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
