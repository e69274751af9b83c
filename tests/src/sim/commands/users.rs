//! The user-management commands, each in a session as the real CLI requires: `user create`
//! (an admin), `user change-password` and `user change-mfa token-sign` (an admin for any user,
//! any user for itself), each with the NEW-password prompt pair; and the simulator's own
//! `add-user`, which needs no session.

use anyhow::Result;

use super::super::args::{AddUserArgs, ChangeMfaArgs, NewPasswordArgs};
use super::super::record::{VIA_CHANGE_PASSWORD_OPTION, VIA_PASSWORD_OPTION};
use super::super::state::{State, User, ROLES};
use super::super::tokens;
use super::login::session;
use super::{
    fail, find_target, read_public_key, update_user, user_data, Context, Outcome, Session,
    PUBLIC_KEY_PROMPT, SIGNED_TOKEN_PROMPT,
};

const ADMIN: &str = "admin";
const MISMATCH: &str = "the passwords do not match";

/// Whether the session may manage `username`: an admin may manage anyone, a user itself.
fn may_manage(session: &Session, username: &str, command: &str) -> Result<(), Outcome> {
    let (name, role) = session;
    if role == ADMIN || name == username {
        return Ok(());
    }
    Err(Outcome::Failure(format!(
        "{command}: {name:?} ({role}) may not change another user ({username:?}); log in as an admin"
    )))
}

/// `user create --username U --role R [--password P]`.
pub fn create_user(ctx: &mut Context, args: NewPasswordArgs) -> Result<Outcome> {
    const COMMAND: &str = "user create";
    let (name, role) = match session(ctx, COMMAND)? {
        Ok(session) => session,
        Err(outcome) => return Ok(outcome),
    };
    if role != ADMIN {
        return fail(format!(
            "{COMMAND}: only an admin can create users ({name:?} is a {role})"
        ));
    }
    if !ROLES.contains(&args.role.as_str()) {
        return fail(format!(
            "unknown role {:?}: use one of {ROLES:?}",
            args.role
        ));
    }
    if State::load(&ctx.config.state_path)?
        .user(&args.username)
        .is_some()
    {
        return fail(format!("user {:?} already exists", args.username));
    }
    let given = args.password;
    let Some(password) = ctx.new_password(COMMAND, &args.username, given, VIA_PASSWORD_OPTION)?
    else {
        return fail(MISMATCH);
    };
    let mut state = State::load(&ctx.config.state_path)?;
    let user = User {
        role: args.role.clone(),
        password,
        public_key: None,
        failed_logins: 0,
        failed_logins_total: 0,
    };
    state.put_user(&args.username, user);
    state.save(&ctx.config.state_path)?;
    Ok(user_data(&args.username, &args.role))
}

/// The session and the target user's checks of change-password and change-mfa; the failure
/// to print when they fail.
fn check_target(
    ctx: &mut Context,
    command: &str,
    username: &str,
    role: &str,
) -> Result<std::result::Result<(), Outcome>> {
    let session = match session(ctx, command)? {
        Ok(session) => session,
        Err(outcome) => return Ok(Err(outcome)),
    };
    if let Err(outcome) = may_manage(&session, username, command) {
        return Ok(Err(outcome));
    }
    let state = State::load(&ctx.config.state_path)?;
    Ok(find_target(&state, username, role)
        .map(|_| ())
        .map_err(Outcome::Failure))
}

/// `user change-password --username U --role R [--password P]`: sets the password and
/// unlocks the account.
pub fn change_password(ctx: &mut Context, args: NewPasswordArgs) -> Result<Outcome> {
    const COMMAND: &str = "user change-password";
    if let Err(outcome) = check_target(ctx, COMMAND, &args.username, &args.role)? {
        return Ok(outcome);
    }
    let given = args.password;
    let Some(password) = ctx.new_password(COMMAND, &args.username, given, VIA_PASSWORD_OPTION)?
    else {
        return fail(MISMATCH);
    };
    update_user(&ctx.config, &args.username, |u| {
        u.password = password;
        u.failed_logins = 0;
    })?;
    Ok(user_data(&args.username, &args.role))
}

/// `user change-mfa token-sign --username U --role R --token F [--change-password P]
/// [--deregister]`: the NEW password (prompt pair unless `--change-password`), then the
/// tokens, which must verify with the NEW public key given at the PEM prompt. `--deregister`
/// asks only the password and removes the key.
pub fn change_mfa(ctx: &mut Context, args: ChangeMfaArgs) -> Result<Outcome> {
    const COMMAND: &str = "user change-mfa token-sign";
    if let Err(outcome) = check_target(ctx, COMMAND, &args.username, &args.role)? {
        return Ok(outcome);
    }
    let given = args.change_password;
    let option = VIA_CHANGE_PASSWORD_OPTION;
    let Some(password) = ctx.new_password(COMMAND, &args.username, given, option)? else {
        return fail(MISMATCH);
    };
    if args.deregister {
        update_user(&ctx.config, &args.username, |u| {
            u.password = password;
            u.public_key = None;
        })?;
        return Ok(user_data(&args.username, &args.role));
    }
    let issued = tokens::issue(&args.token, ctx.config.hsms)?;
    let answer = ctx.term.ask(SIGNED_TOKEN_PROMPT)?;
    let signed = tokens::signed_path(&answer, &args.token).to_path_buf();
    let pem_path = ctx.term.ask_bare(PUBLIC_KEY_PROMPT)?;
    let (pem, key) = match read_public_key(pem_path.trim()) {
        Ok(found) => found,
        Err(e) => return fail(format!("{e:#}")),
    };
    if let Err(e) = tokens::check_signed(&signed, &issued, &key) {
        return fail(format!(
            "the tokens do not verify with the new public key: {e}"
        ));
    }
    update_user(&ctx.config, &args.username, |u| {
        u.public_key = Some(pem);
        u.password = password;
    })?;
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
        failed_logins_total: 0,
    };
    state.put_user(&args.username, user);
    state.save(&ctx.config.state_path)?;
    Ok(user_data(&args.username, &args.role))
}
