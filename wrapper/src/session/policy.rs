//! mfa-login's answering rules, with no I/O: the command a prompt belongs to, who is logged
//! in and what the CLI rejected go in; a decision comes out (type this, sign that, leave the
//! prompt to the person, or refuse and say why). The session loop carries decisions out and
//! reports back what it did ([`Policy::answered`]) and what the CLI said ([`Policy::on_result`]).
//!
//! The rules, one unit test each (wrapper/README.md has the table):
//! - `--password-file` answers only the `Enter password:` of a login, never a prompt that
//!   sets a password (user create, change-password, change-mfa) and never `Confirm password:`.
//! - A login's token prompt is signed with `--key` (after a rotation in this session, with
//!   the new key), unless that user, key and password were rejected before (`rejected`:
//!   the decision names the keys that would repeat a rejected login, [`KeyChoice::check`]).
//! - change-mfa for the user logged in: tokens and public key of `--new-key` (else the only
//!   key). For another user, or with nobody known to be logged in: nothing is answered.
//! - cloudhsm_mgmt_util: `loginHSM -2fa` is a login; `changePswd -2fa` for oneself registers
//!   `--new-key`; `createUser -2fa` registers a new user's key: only an explicit `--new-key`.
//! - A prompt that comes straight back after mfa-login answered it is not answered again.

use std::path::PathBuf;

use super::decision::{came_back, new_key, not_this_command, refuse};
pub use super::decision::{Decision, KeyChoice, Lesson, Options, Repeats};
use super::password::PasswordId;
use super::rejected::{Attempt, Rejections};
use crate::command::{ChangeMfa, Command, Login, Mgmt, MgmtVerb, User};
use crate::config;
use crate::prompt::Prompt;

/// The result mfa-login waits for after its last answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaiting {
    Nothing,
    /// It typed `--password-file`'s password; no token prompt came yet.
    FilePassword,
    /// It signed a login's tokens.
    Login(Attempt),
    /// It signed a change-mfa for the user logged in.
    Rotation {
        user: User,
        fingerprint: String,
    },
}

pub struct Policy {
    options: Options,
    command: Command,
    logged_in: Option<User>,
    /// The password of the login under way.
    password: PasswordId,
    last_answered: Option<Prompt>,
    awaiting: Awaiting,
    rejections: Rejections,
    /// Keys registered by change-mfa in this session: later logins of the user use them.
    rotated: Vec<(User, String)>,
    /// The authdata path cloudhsm_mgmt_util printed (`Authentication data written to:`).
    authdata_path: Option<PathBuf>,
}

impl Policy {
    /// A session running `command`, with `logged_in` known from the environment
    /// (`CLOUDHSM_PIN` in single-command mode).
    pub fn new(options: Options, command: Command, logged_in: Option<User>) -> Self {
        let mut policy = Policy {
            options,
            command: Command::Other,
            logged_in,
            password: PasswordId::Unknown,
            last_answered: None,
            awaiting: Awaiting::Nothing,
            rejections: Rejections::default(),
            rotated: Vec::new(),
            authdata_path: None,
        };
        policy.command_started(command, PasswordId::Unknown);
        policy
    }

    /// A command line was submitted (typed or piped at the CLI's prompt). `given` is the
    /// fingerprint of its `--password`, when it has one.
    pub fn command_started(&mut self, command: Command, given: PasswordId) {
        self.password = match &command {
            Command::Login(Login {
                password: Some(_), ..
            }) => given,
            _ => PasswordId::Unknown,
        };
        self.command = command;
        self.last_answered = None;
        self.awaiting = Awaiting::Nothing;
        self.authdata_path = None;
    }

    #[cfg(test)]
    pub fn logged_in(&self) -> Option<&User> {
        self.logged_in.as_ref()
    }

    /// Where the config file is, as messages name it.
    pub fn config_file(&self) -> &str {
        &self.options.config_file
    }

    /// The command under way will ask for a signed file at a later prompt.
    pub fn command_signs(&self) -> bool {
        self.command.signs()
    }

    /// Whether the command under way asks anything (see [`Command::prompts`]).
    pub fn command_prompts(&self) -> bool {
        self.command.prompts()
    }

    /// The person typed the password of the login under way.
    pub fn person_typed_password(&mut self, password: PasswordId) {
        if self.login_user().is_some() {
            self.password = password;
        }
    }

    /// cloudhsm_mgmt_util said where it wrote the authdata file.
    pub fn authdata_written(&mut self, path: PathBuf) {
        self.authdata_path = Some(path);
    }

    /// What to do at `prompt`.
    pub fn on_prompt(&mut self, prompt: Prompt) -> Decision {
        if prompt == Prompt::Interactive {
            self.last_answered = None;
            return Decision::Person;
        }
        if self.last_answered == Some(prompt) {
            return came_back(prompt);
        }
        match prompt {
            Prompt::Interactive | Prompt::ConfirmPassword => Decision::Person,
            Prompt::Password => self.password_prompt(),
            Prompt::SignedTokenFile => self.token_prompt(),
            Prompt::PublicKeyFile => self.public_key_prompt(),
            Prompt::AuthDataFile => self.authdata_prompt(),
        }
    }

    fn password_prompt(&mut self) -> Decision {
        if self.login_user().is_none() {
            // Whose password this is, the command says: not the login's.
            return Decision::Person;
        }
        if !self.options.password_file {
            return Decision::Person;
        }
        if self.rejections.is_file_password_rejected() {
            return refuse(
                "the password from --password-file was rejected earlier in this session; not \
                 typing it again",
                "type the password yourself and press Enter (and correct the file)",
            );
        }
        Decision::TypePassword
    }

    fn token_prompt(&mut self) -> Decision {
        match &self.command {
            Command::Login(login) => match self.token_file(login.token.as_deref(), "") {
                Ok(file) => Decision::SignTokens {
                    file,
                    cli_file: login.token.clone(),
                    key: self.login_key(login.user.as_ref()),
                },
                Err(refusal) => *refusal,
            },
            Command::ChangeMfa(change) => match self.registration(change) {
                Ok(key) => match self.token_file(change.token.as_deref(), " with the new key") {
                    Ok(file) => Decision::SignTokens {
                        file,
                        cli_file: change.token.clone(),
                        key: key.for_what(format!(
                            "change-mfa: registering this key as the MFA key of {}",
                            change
                                .user
                                .as_ref()
                                .map_or("?".to_owned(), ToString::to_string)
                        )),
                    },
                    Err(refusal) => *refusal,
                },
                Err(refusal) => *refusal,
            },
            _ => not_this_command("signed token file"),
        }
    }

    fn public_key_prompt(&mut self) -> Decision {
        match &self.command {
            Command::ChangeMfa(change) => match self.registration(change) {
                Ok(key) => Decision::PublicKey { key },
                Err(refusal) => *refusal,
            },
            _ => not_this_command("public key PEM file"),
        }
    }

    fn authdata_prompt(&mut self) -> Decision {
        let Command::Mgmt(mgmt) = &self.command else {
            return not_this_command("authentication data file");
        };
        let Some(file) = self.authdata_path.clone().or(mgmt.file.clone()) else {
            return refuse(
                "cannot tell which authentication data file to sign",
                "sign it yourself (mfa-sign FILE) and press Enter",
            );
        };
        let (key, fill_public_key) =
            match mgmt.verb {
                MgmtVerb::LoginHsm => (self.login_key(mgmt.user.as_ref()), false),
                MgmtVerb::CreateUser => match &self.options.new_key {
                    Some(selector) => (
                        new_key(Some(selector.clone())).for_what(format!(
                            "createUser: registering this key for the new user {}",
                            mgmt.user
                                .as_ref()
                                .map_or("?".to_owned(), ToString::to_string)
                        )),
                        true,
                    ),
                    None => return refuse(
                        "createUser -2fa registers the new user's key; mfa-login uses only a key \
                         named with --new-key for that",
                        "sign it with the new user's key yourself (mfa-sign --key FP FILE) and \
                         press Enter; next time run mfa-login --new-key FP",
                    ),
                },
                MgmtVerb::ChangePswd => match self.own_registration(mgmt.user.as_ref()) {
                    Ok(key) => (
                        key.for_what("changePswd: registering this key as your MFA key".to_owned()),
                        true,
                    ),
                    Err(refusal) => return *refusal,
                },
            };
        Decision::SignAuthData {
            file,
            key,
            fill_public_key,
        }
    }

    /// The key the login under way will be signed with, when it is a login that signs.
    pub fn pending_login_key(&self) -> Option<KeyChoice> {
        match &self.command {
            Command::Login(login) if login.mfa => Some(self.login_key(login.user.as_ref())),
            Command::Mgmt(Mgmt {
                verb: MgmtVerb::LoginHsm,
                user,
                ..
            }) => Some(self.login_key(user.as_ref())),
            _ => None,
        }
    }

    /// The key a login of `user` is signed with: the one change-mfa registered for that user
    /// in this session, else `--key`.
    fn login_key(&self, user: Option<&User>) -> KeyChoice {
        let rotated = user.and_then(|user| {
            self.rotated
                .iter()
                .rev()
                .find(|(u, _)| u.is(user))
                .map(|(_, fp)| fp.clone())
        });
        let name = user.map(|u| u.username.as_str());
        let pairs = &self.options.keys_for_users;
        let repeats = Repeats {
            user: name.unwrap_or("this user").to_owned(),
            keys: self.rejections.repeated_keys(user, self.password),
            elsewhere: config::keys_of_others(pairs, name),
            config_file: self.options.config_file.clone(),
        };
        // --key, else the one key the config file maps to this user.
        let configured = name.and_then(|name| config::key_of(pairs, name));
        KeyChoice {
            selector: rotated.or(self.options.key.clone()).or(configured),
            option: "--key",
            repeats,
            for_what: match user {
                Some(user) => format!("a CloudHSM login as {user}"),
                None => "a CloudHSM login".to_owned(),
            },
        }
    }

    /// The key a change-mfa registers, if mfa-login may answer it at all.
    fn registration(&self, change: &ChangeMfa) -> Result<KeyChoice, Box<Decision>> {
        if change.deregister {
            return Err(Box::new(refuse(
                "change-mfa --deregister removes the MFA key: there is nothing to sign",
                "press ^C, or answer the prompt yourself",
            )));
        }
        self.own_registration(change.user.as_ref())
    }

    fn own_registration(&self, target: Option<&User>) -> Result<KeyChoice, Box<Decision>> {
        let by_hand = "if it is meant, finish it by hand: sign the file with that user's new \
                       key (mfa-sign --key FP FILE), press Enter, and give that key's public PEM \
                       if asked";
        let Some(me) = &self.logged_in else {
            return Err(Box::new(refuse(
                "nobody is known to be logged in in this session, so mfa-login cannot tell whose \
                 MFA key this registers; not answering",
                by_hand,
            )));
        };
        match target {
            Some(target) if target.is(me) => Ok(new_key(self.options.new_key.clone())),
            Some(target) => Err(Box::new(refuse(
                &format!(
                    "this registers an MFA key for {target} while {me} is logged in; mfa-login \
                     registers keys only for the user logged in"
                ),
                by_hand,
            ))),
            None => Err(Box::new(refuse(
                "cannot tell whose MFA key this registers (no --username); not answering",
                by_hand,
            ))),
        }
    }

    /// The user of the login under way (`Some(None)`: a login without `--username`); `None`
    /// when the command is not a login.
    pub fn login_user(&self) -> Option<Option<User>> {
        match &self.command {
            Command::Login(login) => Some(login.user.clone()),
            Command::Mgmt(Mgmt {
                verb: MgmtVerb::LoginHsm,
                user,
                ..
            }) => Some(user.clone()),
            _ => None,
        }
    }

    /// The session carried out `decision` at `prompt`; `fingerprint` is the key it signed with.
    pub fn answered(&mut self, prompt: Prompt, decision: &Decision, fingerprint: Option<&str>) {
        self.last_answered = Some(prompt);
        self.awaiting = match (decision, fingerprint) {
            (Decision::TypePassword, _) => {
                self.password = PasswordId::File;
                Awaiting::FilePassword
            }
            (Decision::SignTokens { .. } | Decision::SignAuthData { .. }, Some(fp)) => {
                match (self.login_user(), self.registered_user()) {
                    (Some(user), _) => Awaiting::Login(Attempt {
                        user,
                        fingerprint: fp.to_owned(),
                        password: self.password,
                    }),
                    (None, Some(user)) => Awaiting::Rotation {
                        user,
                        fingerprint: fp.to_owned(),
                    },
                    (None, None) => Awaiting::Nothing,
                }
            }
            _ => std::mem::replace(&mut self.awaiting, Awaiting::Nothing),
        };
    }

    /// A prompt was left to the person: whatever mfa-login answered before is not what the
    /// next result judges alone.
    pub fn left_to_person(&mut self, prompt: Prompt) {
        self.last_answered = None;
        if prompt == Prompt::SignedTokenFile || prompt == Prompt::AuthDataFile {
            // The person answers the tokens: a failure says nothing about mfa-login's answers.
            self.awaiting = Awaiting::Nothing;
        }
    }

    /// The user whose key a change-mfa (or changePswd) under way registers: the one logged in.
    fn registered_user(&self) -> Option<User> {
        match &self.command {
            Command::ChangeMfa(_)
            | Command::Mgmt(Mgmt {
                verb: MgmtVerb::ChangePswd,
                ..
            }) => self.logged_in.clone(),
            _ => None,
        }
    }

    /// The CLI printed a result (`error_code` 0 is success).
    pub fn on_result(&mut self, success: bool) -> Lesson {
        let awaiting = std::mem::replace(&mut self.awaiting, Awaiting::Nothing);
        match (awaiting, success) {
            (Awaiting::Login(attempt), false) => {
                self.rejections.login_rejected(attempt.clone());
                Lesson::LoginRejected(attempt)
            }
            (Awaiting::FilePassword, false) => {
                self.rejections.file_password_rejected();
                Lesson::FilePasswordRejected
            }
            (Awaiting::Rotation { user, fingerprint }, true) => {
                self.rotated.push((user.clone(), fingerprint.clone()));
                Lesson::KeyRotated { user, fingerprint }
            }
            (awaiting, true) => match self.login_user() {
                Some(Some(user)) => {
                    self.logged_in = Some(user.clone());
                    let mapped = self
                        .options
                        .keys_for_users
                        .iter()
                        .any(|(u, _)| *u == user.username);
                    match awaiting {
                        // --key chose among several keys: the config file could remember it.
                        Awaiting::Login(attempt) if self.options.key.is_some() && !mapped => {
                            Lesson::LoggedInWithUnmappedKey {
                                user,
                                fingerprint: attempt.fingerprint,
                            }
                        }
                        _ => Lesson::LoggedIn(user),
                    }
                }
                _ if self.command == Command::Logout => {
                    self.logged_in = None;
                    Lesson::LoggedOut
                }
                _ => Lesson::Nothing,
            },
            (_, false) => Lesson::Nothing,
        }
    }
}

// Which token file a prompt's answer signs.
mod token_file;

#[cfg(test)]
#[path = "policy_tests.rs"]
pub(super) mod tests;
