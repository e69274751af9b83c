//! Which command is under way and what its results say: commands started from COMMAND's
//! arguments, typed or piped lines and the CLI's echo; results handed to the policy; the
//! session's user from the environment.

use super::password::{Fingerprinter, PasswordId};
use super::policy::Lesson;
use super::Session;
use crate::command::{Command, User};
use crate::login::Config;
use std::time::SystemTime;

/// The user running COMMAND in single-command mode: `CLOUDHSM_PIN=user:password` and
/// `CLOUDHSM_ROLE`, as the AWS guide documents them.
pub(super) fn user_from_env() -> Option<User> {
    let pin = std::env::var("CLOUDHSM_PIN").ok()?;
    let (username, _) = pin.split_once(':')?;
    Some(User {
        username: username.to_owned(),
        role: std::env::var("CLOUDHSM_ROLE")
            .ok()
            .filter(|r| !r.is_empty()),
    })
}

/// COMMAND is a CloudHSM CLI: its arguments name a command of one, or its name says so
/// (`cloudhsm_mgmt_util CONFIG`).
pub(super) fn runs_the_cli(config: &Config) -> bool {
    Command::from_args(&config.args) != Command::Other
        || config
            .program
            .file_name()
            .is_some_and(|name| name.to_string_lossy().contains("cloudhsm"))
}

impl Session {
    /// A command line was submitted at the CLI's prompt.
    pub(super) fn start_command(&mut self, line: &str, certain: bool) {
        let command = Command::from_line(line);
        let given = command_password(&self.fingerprints, &command);
        self.config
            .transcript
            .event(&format!("command: {}", describe(&command)));
        self.policy.command_started(command, given);
        self.command_uncertain = !certain;
        self.command_started = SystemTime::now();
    }

    /// The CLI showed the line it got: it replaces a typed line the tracker was unsure of.
    pub(super) fn on_echoed_command(&mut self, line: &str) {
        if self.command_uncertain {
            self.start_command(line, true);
        }
    }

    pub(super) fn on_result(&mut self, error_code: i64) {
        let transcript = &self.config.transcript;
        transcript.event(&format!("result: error_code {error_code}"));
        match self.policy.on_result(error_code == 0) {
            Lesson::Nothing => {}
            Lesson::LoggedIn(user) => transcript.event(&format!("logged in as {user}")),
            Lesson::LoggedOut => transcript.event("logged out"),
            Lesson::LoginRejected(attempt) => transcript.event(&format!(
                "the login as {} with {} was rejected: not signing it again with the same \
                 password",
                attempt
                    .user
                    .as_ref()
                    .map_or("?".to_owned(), ToString::to_string),
                attempt.fingerprint
            )),
            Lesson::FilePasswordRejected => {
                transcript.event("the --password-file password was rejected: not typing it again")
            }
            Lesson::KeyRotated { user, fingerprint } => transcript.event(&format!(
                "{user} now logs in with {fingerprint}: later logins use it"
            )),
        }
    }
}

/// The fingerprint of a login's `--password P`, when it has one.
pub(super) fn command_password(fingerprints: &Fingerprinter, command: &Command) -> PasswordId {
    match command {
        Command::Login(login) => login.password.as_ref().map_or(PasswordId::Unknown, |p| {
            fingerprints.fingerprint(p.0.as_bytes())
        }),
        _ => PasswordId::Unknown,
    }
}

/// A command for the transcript, without any password it carries.
fn describe(command: &Command) -> String {
    match command {
        Command::Login(login) => format!(
            "login as {}{}",
            login
                .user
                .as_ref()
                .map_or("?".to_owned(), ToString::to_string),
            if login.mfa {
                " with mfa-token-sign"
            } else {
                ""
            }
        ),
        Command::ChangeMfa(change) => format!(
            "change-mfa for {}",
            change
                .user
                .as_ref()
                .map_or("?".to_owned(), ToString::to_string)
        ),
        Command::SetPassword { verb, .. } => (*verb).to_owned(),
        Command::Mgmt(mgmt) => format!(
            "{:?} for {}",
            mgmt.verb,
            mgmt.user
                .as_ref()
                .map_or("?".to_owned(), ToString::to_string)
        ),
        other => format!("{other:?}"),
    }
}
