//! `login` in either order the CLI may judge a token-sign login (password first, or tokens
//! handed out first and everything judged after Enter), `logout`, and the session a single
//! command gets from `CLOUDHSM_PIN` / `CLOUDHSM_ROLE`.

use anyhow::Result;
use serde_json::Value;

use super::super::args::{LoginArgs, LoginMfa};
use super::super::config::Order;
use super::super::record::{VIA_PASSWORD_OPTION, VIA_PIN};
use super::super::state::State;
use super::super::tokens::{self, SignedFileError};
use super::{
    fail, failed_login, find_user, update_user, user_data, Context, Outcome, Session,
    PASSWORD_PROMPT, SIGNED_TOKEN_PROMPT,
};

/// The failure of a tokens-first login: the password and the signatures are judged together,
/// so the CLI cannot say which of them was wrong.
pub const TOKENS_FIRST_FAILURE: &str =
    "authentication failed: incorrect password or MFA token signatures";

/// `login --username U --role R [--password P] [mfa-token-sign --token F]`.
pub fn login(ctx: &mut Context, args: LoginArgs) -> Result<Outcome> {
    let password = match args.password {
        Some(p) => {
            ctx.record("login", VIA_PASSWORD_OPTION, &args.username, &p)?;
            p
        }
        None => {
            let p = ctx.term.ask_secret(PASSWORD_PROMPT)?;
            ctx.record("login", PASSWORD_PROMPT, &args.username, &p)?;
            p
        }
    };
    let state = State::load(&ctx.config.state_path)?;
    let user = match find_user(&state, &args.username, &args.role) {
        Ok(user) => user,
        Err(message) => return fail(message),
    };
    let key = user.mfa_key()?;
    let tokens_first =
        ctx.config.order == Order::TokensFirst && key.is_some() && args.mfa.is_some();
    let password_ok = password == user.password;
    // Password first: a wrong password fails before any token is issued.
    if !tokens_first && !password_ok {
        return failed_login(&ctx.config, &args.username, "incorrect password".into());
    }
    match (key, args.mfa) {
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
            let verdict = tokens::check_signed(signed, &issued, &key);
            // A file the CLI cannot read never reaches the HSMs: not a failed login, whatever
            // the password.
            if let Err(e @ SignedFileError::Unusable(_)) = &verdict {
                return fail(e.to_string());
            }
            if tokens_first {
                if !(password_ok && verdict.is_ok()) {
                    let reason = TOKENS_FIRST_FAILURE.into();
                    return failed_login(&ctx.config, &args.username, reason);
                }
            } else if let Err(e) = verdict {
                return failed_login(&ctx.config, &args.username, format!("MFA failed: {e}"));
            }
        }
    }
    update_user(&ctx.config, &args.username, |u| u.failed_logins = 0)?;
    ctx.logged_in = Some((args.username.clone(), args.role.clone()));
    Ok(user_data(&args.username, &args.role))
}

/// `logout`.
pub fn logout(ctx: &mut Context) -> Result<Outcome> {
    match ctx.logged_in.take() {
        Some(_) => Ok(Outcome::Success(Value::String("Logout successful".into()))),
        None => fail("not logged in"),
    }
}

/// The session `command` runs in: the interactive login, else (a single command) the one
/// `CLOUDHSM_PIN` and `CLOUDHSM_ROLE` give, logged in now by password (a user with MFA must
/// log in interactively). The failure to print when there is none.
pub(super) fn session(
    ctx: &mut Context,
    command: &str,
) -> Result<std::result::Result<Session, Outcome>> {
    if let Some(session) = &ctx.logged_in {
        return Ok(Ok(session.clone()));
    }
    let Some(pin) = ctx.config.pin.clone() else {
        return Ok(Err(Outcome::Failure(format!(
            "{command} needs a logged-in user: log in first (or set CLOUDHSM_PIN and \
             CLOUDHSM_ROLE for a single command)"
        ))));
    };
    ctx.record(command, VIA_PIN, &pin.username, &pin.password)?;
    let state = State::load(&ctx.config.state_path)?;
    let user = match find_user(&state, &pin.username, &pin.role) {
        Ok(user) => user,
        Err(message) => return Ok(Err(Outcome::Failure(message))),
    };
    if pin.password != user.password {
        let outcome = failed_login(&ctx.config, &pin.username, "incorrect password".into())?;
        return Ok(Err(outcome));
    }
    if user.public_key.is_some() {
        return Ok(Err(Outcome::Failure(format!(
            "user {:?} requires token-sign MFA: CLOUDHSM_PIN cannot log it in; log in \
             interactively with login ... mfa-token-sign",
            pin.username
        ))));
    }
    update_user(&ctx.config, &pin.username, |u| u.failed_logins = 0)?;
    let session = (pin.username, pin.role);
    ctx.logged_in = Some(session.clone());
    Ok(Ok(session))
}
