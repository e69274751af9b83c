//! The policy's vocabulary: the options it reads, the decisions it returns and what results
//! teach; and the refusals several rules share.

use std::path::{Path, PathBuf};

use super::rejected::Attempt;
use crate::command::User;
use crate::prompt::Prompt;

/// What the options say, checked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub password_file: bool,
    /// `--key`: the key logins are signed with.
    pub key: Option<String>,
    /// `--new-key`: the key change-mfa registers.
    pub new_key: Option<String>,
    pub token_file: Option<PathBuf>,
    /// The config file's `(HSM user, key fingerprint)` pairs.
    pub keys_for_users: Vec<(String, String)>,
    /// Where the config file is, as messages name it.
    pub config_file: String,
}

/// Which key answers, and what for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChoice {
    /// A fingerprint or comment, as `--key` takes; `None`: the agent's only key.
    pub selector: Option<String>,
    /// The option that names it, for hints (`--key` or `--new-key`).
    pub option: &'static str,
    /// Keys the CLI rejected for this same login: signing with one repeats a failed login.
    pub repeats: Repeats,
    /// What the signatures answer (`a CloudHSM login as officer1 (admin)`), told to the agent
    /// for its confirmation question and its log.
    pub for_what: String,
}

/// The keys a login must not be signed with: those of earlier logins the CLI rejected for the
/// same user with the same password (see `rejected`), and those the config file ties to
/// another user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repeats {
    /// Whose login it is, for the message.
    pub user: String,
    pub keys: Vec<String>,
    /// `(fingerprint, user)`: keys the config file maps to other users only.
    pub elsewhere: Vec<(String, String)>,
    /// Where the config file is, for the hint.
    pub config_file: String,
}

impl KeyChoice {
    /// The same choice, its signatures for `what`.
    pub fn for_what(self, what: String) -> KeyChoice {
        KeyChoice {
            for_what: what,
            ..self
        }
    }

    /// Refuses the key with `fingerprint` when signing `file` with it repeats a rejected login:
    /// the message and the hint.
    pub fn check(&self, fingerprint: &str, file: &Path) -> Result<(), (String, String)> {
        if let Some((_, other)) = self
            .repeats
            .elsewhere
            .iter()
            .find(|(key, _)| fingerprint.starts_with(key.as_str()))
        {
            return Err((
                format!(
                    "the config file maps key {fingerprint} to {other}, not to {}; not answering \
                     this login with it",
                    self.repeats.user
                ),
                format!(
                    "name the right key (mfa-login --key FP), or correct {}; to finish by hand: \
                     mfa-sign --key FP {}, and press Enter",
                    self.repeats.config_file,
                    file.display()
                ),
            ));
        }
        if !self.repeats.keys.iter().any(|key| key == fingerprint) {
            return Ok(());
        }
        Err((
            format!(
                "the last login as {} with key {fingerprint} and this same password was \
                 rejected; not answering again",
                self.repeats.user
            ),
            format!(
                "if the password is wrong, press ^C and log in again typing the right one; if the \
                 key is, load the right one (mfa-add -d KEY; mfa-add RIGHT-KEY) or sign it \
                 yourself: mfa-sign --key FP {}, and press Enter",
                file.display()
            ),
        ))
    }
}

/// What to do at a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Leave the prompt to the person; nothing to say (their password, the command prompt).
    Person,
    /// Leave the prompt to the person and say why mfa-login does not answer it.
    Refuse { message: String, hint: String },
    /// Type the password from `--password-file`.
    TypePassword,
    /// Sign the token file, rewrite it, press Enter (`cli_file`: the path the CLI wrote, if
    /// known, so Enter alone names it).
    SignTokens {
        file: PathBuf,
        cli_file: Option<PathBuf>,
        key: KeyChoice,
    },
    /// Type the path of a PEM file of this key's public key.
    PublicKey { key: KeyChoice },
    /// Sign the cloudhsm_mgmt_util authdata file (filling an empty `PublicKey`), press Enter.
    SignAuthData {
        file: PathBuf,
        key: KeyChoice,
        fill_public_key: bool,
    },
}

/// What a result taught, for the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lesson {
    Nothing,
    LoggedIn(User),
    /// Logged in with the key `--key` named, which the config file maps to nobody.
    LoggedInWithUnmappedKey {
        user: User,
        fingerprint: String,
    },
    LoggedOut,
    LoginRejected(Attempt),
    FilePasswordRejected,
    KeyRotated {
        user: User,
        fingerprint: String,
    },
}

pub(super) fn refuse(message: &str, hint: &str) -> Decision {
    Decision::Refuse {
        message: message.to_owned(),
        hint: hint.to_owned(),
    }
}

pub(super) fn new_key(selector: Option<String>) -> KeyChoice {
    KeyChoice {
        selector,
        option: "--new-key",
        repeats: Repeats::default(),
        for_what: String::new(),
    }
}

pub(super) fn came_back(prompt: Prompt) -> Decision {
    let answer = match prompt {
        Prompt::SignedTokenFile => "the signed token file's path",
        Prompt::PublicKeyFile => "the public key PEM's path",
        Prompt::AuthDataFile => "the authentication data file's path",
        _ => "the password",
    };
    refuse(
        &format!(
            "the {} prompt came back right after mfa-login answered it; not answering again \
             (each wrong answer counts toward the account lockout)",
            prompt.name()
        ),
        &format!(
            "check the message above, then type {answer} yourself and press Enter, or press ^C"
        ),
    )
}

pub(super) fn not_this_command(what: &str) -> Decision {
    refuse(
        &format!(
            "a {what} prompt, but the command it belongs to is not one mfa-login answers (a login, \
             or change-mfa for the user logged in)"
        ),
        "answer it yourself and press Enter, or press ^C",
    )
}
