//! `cloudhsm-cli-sim mgmt-util`: the 2FA parts of cloudhsm_mgmt_util (Client SDK 3) over the
//! same cluster. Prompt `aws-cloudhsm>` (no space); positional commands as the guide writes
//! them:
//!
//! - `loginHSM CO|CU USER PASSWORD|-hpswd [-2fa FILE]`, `logoutHSM`
//! - `createUser CO|CU USER PASSWORD|-hpswd [-2fa FILE]` (a CO's session)
//! - `changePswd CO|CU USER NEWPASSWORD|-hpswd [-2fa FILE]` (a CO for anyone, a CU itself)
//! - `quit`, `exit`
//!
//! With `-2fa FILE` the command writes an authentication data file ([`super::authdata`]),
//! prints where and how to sign it, and asks `Enter filename:` (Enter alone: FILE). Results
//! are one line per HSM, `NAME success on server I(10.0.0.N)`, or one line
//! `NAME failed: REASON`. `CO` is the `admin` role, `CU` `crypto-user`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use proto::signing::Token;

use super::args::split_line;
use super::authdata::{self, SignedAuthData};
use super::commands::{Context, CONFIRM_PROMPT, PASSWORD_PROMPT};
use super::record::VIA_ARGUMENT;
use super::state::{State, User, MAX_FAILED_LOGINS};
use super::tokens::{self, SignedFileError};

/// cloudhsm_mgmt_util's prompt, never followed by a space.
pub const MGMT_PROMPT: &str = "aws-cloudhsm>";
pub const FILENAME_PROMPT: &str = "Enter filename:";
/// The last line of the instructions before [`FILENAME_PROMPT`], as the guide prints it.
pub const LEAVE_BLANK: &str = "Leave this field blank to use the path initially provided.";

/// One parsed `loginHSM`/`createUser`/`changePswd` line.
struct UserLine {
    role: &'static str,
    username: String,
    /// None for `-hpswd` (asked at a prompt).
    password: Option<String>,
    authdata: Option<PathBuf>,
}

/// Why a command failed: printed as `NAME failed: REASON`.
struct Failure(String);

type Step<T> = std::result::Result<T, Failure>;

fn failure<T>(message: impl Into<String>) -> Result<Step<T>> {
    Ok(Err(Failure(message.into())))
}

/// The cloudhsm_mgmt_util shell: commands until quit, exit or end of input.
pub fn shell(ctx: &mut Context) {
    loop {
        let line = match ctx.term.read_command_at(MGMT_PROMPT, "") {
            Ok(Some(line)) => line,
            Ok(None) | Err(_) => return,
        };
        let Some(words) = split_line(&line) else {
            let _ = ctx.term.print("error: unterminated quote");
            continue;
        };
        let Some((name, rest)) = words.split_first() else {
            continue;
        };
        let result = match name.as_str() {
            "quit" | "exit" => return,
            "logoutHSM" => logout(ctx),
            "loginHSM" | "createUser" | "changePswd" => run_user_command(ctx, name, rest),
            other => Ok(Err(Failure(format!("unknown command {other:?}")))),
        };
        let report = match result {
            Ok(Ok(())) => success_lines(ctx, name),
            Ok(Err(Failure(reason))) => format!("{name} failed: {reason}"),
            Err(e) => format!("{name} failed: {e:#}"),
        };
        let _ = ctx.term.print(&report);
    }
}

/// `NAME success on server I(10.0.0.N)`, one line per HSM.
fn success_lines(ctx: &Context, name: &str) -> String {
    (0..ctx.config.hsms)
        .map(|i| format!("{name} success on server {i}(10.0.0.{})", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

fn logout(ctx: &mut Context) -> Result<Step<()>> {
    match ctx.logged_in.take() {
        Some(_) => Ok(Ok(())),
        None => failure("not logged in"),
    }
}

fn run_user_command(ctx: &mut Context, name: &str, args: &[String]) -> Result<Step<()>> {
    let line = match parse_line(name, args) {
        Ok(line) => line,
        Err(usage) => return Ok(Err(usage)),
    };
    match name {
        "loginHSM" => login_hsm(ctx, line),
        "createUser" => create_user(ctx, line),
        _ => change_pswd(ctx, line),
    }
}

fn parse_line(name: &str, args: &[String]) -> Step<UserLine> {
    let usage = || {
        Failure(format!(
            "usage: {name} <CO|CU> <user-name> <password|-hpswd> [-2fa </path/to/authdata>]"
        ))
    };
    let (kind, username, password, rest) = match args {
        [kind, username, password, rest @ ..] => (kind, username, password, rest),
        _ => return Err(usage()),
    };
    let role = match kind.as_str() {
        "CO" => "admin",
        "CU" => "crypto-user",
        _ => return Err(usage()),
    };
    let authdata = match rest {
        [] => None,
        [flag, file] if flag == "-2fa" => Some(PathBuf::from(file)),
        _ => return Err(usage()),
    };
    Ok(UserLine {
        role,
        username: username.clone(),
        password: (password != "-hpswd").then(|| password.clone()),
        authdata,
    })
}

/// The password of a line: its argument, else asked (`-hpswd`): once to log in, twice to set.
fn password(ctx: &mut Context, name: &str, line: &mut UserLine, new: bool) -> Result<Step<String>> {
    if let Some(password) = line.password.take() {
        ctx.record(name, VIA_ARGUMENT, &line.username, &password)?;
        return Ok(Ok(password));
    }
    let first = ctx.term.ask_secret(PASSWORD_PROMPT)?;
    ctx.record(name, PASSWORD_PROMPT, &line.username, &first)?;
    if new {
        let second = ctx.term.ask_secret(CONFIRM_PROMPT)?;
        ctx.record(name, CONFIRM_PROMPT, &line.username, &second)?;
        if first != second {
            return failure("the passwords do not match");
        }
    }
    Ok(Ok(first))
}

/// Writes the authentication data file, prints the guide's instructions, and reads the
/// signed file named at `Enter filename:`.
fn ask_signed(
    ctx: &mut Context,
    file: &Path,
    public_key: &str,
) -> Result<(
    Vec<Token>,
    std::result::Result<SignedAuthData, SignedFileError>,
)> {
    let issued = authdata::issue(file, ctx.config.hsms, public_key)?;
    ctx.term.print(&format!(
        "Authentication data written to: \"{}\"\n\
         Sign each Digest in the file (a Base64 SHA-256 digest) with the RSA private key that is\n\
         this user's second factor, and put each Base64 signature in its Signature field (and,\n\
         to register a key, the public key as PEM in PublicKey). Then give the signed file's path.\n\
         {LEAVE_BLANK}",
        file.display()
    ))?;
    let answer = ctx.term.ask(FILENAME_PROMPT)?;
    let signed = tokens::signed_path(&answer, file);
    Ok((issued, SignedAuthData::read(signed)))
}

/// Counts a failed login of `username` and returns the failure.
fn failed_login(ctx: &Context, username: &str, reason: String) -> Result<Step<()>> {
    let mut state = State::load(&ctx.config.state_path)?;
    let mut locked = false;
    if let Some(user) = state.user_mut(username) {
        user.failed_logins += 1;
        user.failed_logins_total += 1;
        locked = user.is_locked();
    }
    state.save(&ctx.config.state_path)?;
    if locked {
        return failure(format!("{reason} (user {username:?} is now locked)"));
    }
    failure(reason)
}

fn login_hsm(ctx: &mut Context, mut line: UserLine) -> Result<Step<()>> {
    let password = match password(ctx, "loginHSM", &mut line, false)? {
        Ok(p) => p,
        Err(f) => return Ok(Err(f)),
    };
    let state = State::load(&ctx.config.state_path)?;
    let user = match state.user(&line.username) {
        Some(user) if user.role == line.role => user.clone(),
        _ => return failure(format!("no {} user {:?}", line.role, line.username)),
    };
    if user.is_locked() {
        return failure(format!(
            "user {:?} is locked after {MAX_FAILED_LOGINS} failed login attempts",
            line.username
        ));
    }
    if password != user.password {
        return failed_login(ctx, &line.username, "incorrect password".into());
    }
    match (user.mfa_key()?, &line.authdata) {
        (None, None) => {}
        (None, Some(_)) => return failure("this user has no 2FA key: log in without -2fa"),
        (Some(_), None) => return failure("this user requires 2FA: add -2fa FILE"),
        (Some(key), Some(file)) => {
            let pem = user.public_key.clone().unwrap_or_default();
            let (issued, signed) = ask_signed(ctx, file, &pem)?;
            let verdict = signed.and_then(|s| s.verify(&issued, &key));
            match verdict {
                Ok(()) => {}
                Err(e @ SignedFileError::Unusable(_)) => return failure(e.to_string()),
                Err(e) => return failed_login(ctx, &line.username, format!("2FA failed: {e}")),
            }
        }
    }
    let mut state = State::load(&ctx.config.state_path)?;
    if let Some(u) = state.user_mut(&line.username) {
        u.failed_logins = 0;
    }
    state.save(&ctx.config.state_path)?;
    ctx.logged_in = Some((line.username, line.role.to_owned()));
    Ok(Ok(()))
}

/// The new key proven by a signed authentication data file with `PublicKey` filled in.
fn prove_new_key(ctx: &mut Context, file: &Path) -> Result<Step<String>> {
    let (issued, signed) = ask_signed(ctx, file, "")?;
    let signed = match signed {
        Ok(signed) => signed,
        Err(e) => return failure(e.to_string()),
    };
    match signed
        .new_key()
        .and_then(|key| signed.verify(&issued, &key))
    {
        Ok(()) => Ok(Ok(format!("{}\n", signed.public_key))),
        Err(e) => failure(e.to_string()),
    }
}

fn create_user(ctx: &mut Context, mut line: UserLine) -> Result<Step<()>> {
    match &ctx.logged_in {
        Some((_, role)) if role == "admin" => {}
        Some(_) => return failure("only a crypto officer (CO) can create users"),
        None => return failure("not logged in: loginHSM as a crypto officer (CO) first"),
    }
    if State::load(&ctx.config.state_path)?
        .user(&line.username)
        .is_some()
    {
        return failure(format!("user {:?} already exists", line.username));
    }
    let password = match password(ctx, "createUser", &mut line, true)? {
        Ok(p) => p,
        Err(f) => return Ok(Err(f)),
    };
    let public_key = match &line.authdata {
        None => None,
        Some(file) => match prove_new_key(ctx, file)? {
            Ok(pem) => Some(pem),
            Err(f) => return Ok(Err(f)),
        },
    };
    let mut state = State::load(&ctx.config.state_path)?;
    let user = User {
        role: line.role.to_owned(),
        password,
        public_key,
        failed_logins: 0,
        failed_logins_total: 0,
    };
    state.put_user(&line.username, user);
    state.save(&ctx.config.state_path)?;
    Ok(Ok(()))
}

fn change_pswd(ctx: &mut Context, mut line: UserLine) -> Result<Step<()>> {
    match &ctx.logged_in {
        Some((_, role)) if role == "admin" => {}
        Some((name, _)) if *name == line.username => {}
        Some(_) => return failure("a crypto user (CU) can change only its own password"),
        None => return failure("not logged in: loginHSM first"),
    }
    match State::load(&ctx.config.state_path)?.user(&line.username) {
        Some(user) if user.role == line.role => {}
        _ => return failure(format!("no {} user {:?}", line.role, line.username)),
    }
    let password = match password(ctx, "changePswd", &mut line, true)? {
        Ok(p) => p,
        Err(f) => return Ok(Err(f)),
    };
    let public_key = match &line.authdata {
        None => None,
        Some(file) => match prove_new_key(ctx, file)? {
            Ok(pem) => Some(pem),
            Err(f) => return Ok(Err(f)),
        },
    };
    let mut state = State::load(&ctx.config.state_path)?;
    if let Some(user) = state.user_mut(&line.username) {
        user.password = password;
        user.failed_logins = 0;
        if public_key.is_some() {
            user.public_key = public_key;
        }
    }
    state.save(&ctx.config.state_path)?;
    Ok(Ok(()))
}
