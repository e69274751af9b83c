//! Which command is under way and what its results say: commands started from COMMAND's
//! arguments, typed or piped lines and the CLI's echo; results handed to the policy; the
//! the password a login's command line gives, fingerprinted.

use super::Core;
use crate::command::Command;
use crate::session::password::{Fingerprinter, PasswordId};
use crate::session::policy::Lesson;

impl Core {
    /// A command line was submitted at the CLI's prompt.
    pub(super) fn start_command(&mut self, line: &str, certain: bool) {
        let command = Command::from_line(line);
        let given = command_password(&self.fingerprints, &command);
        self.note(format!("command: {}", describe(&command)));
        self.policy.command_started(command, given);
        self.commands.uncertain = !certain;
        self.out.push(super::Action::CommandStarted);
    }

    /// The CLI showed the line it got: it replaces a typed line the tracker was unsure of.
    pub(super) fn on_echoed_command(&mut self, line: &str) {
        if self.commands.uncertain {
            self.start_command(line, true);
        }
    }

    pub(super) fn on_result(&mut self, error_code: i64) {
        self.note(format!("result: error_code {error_code}"));
        let note = match self.policy.on_result(error_code == 0) {
            Lesson::Nothing => return,
            Lesson::LoggedIn(user) => format!("logged in as {user}"),
            Lesson::LoggedInWithUnmappedKey { user, fingerprint } => {
                // The offer to remember the key, so the next login needs no --key.
                let file = self.policy.config_file();
                self.out.push(super::Action::Inform(format!(
                    "mfa-login: to log {name} in with this key without --key, add to {file}: \
                     [[keys]] user = \"{name}\" key = \"{fingerprint}\"",
                    name = user.username
                )));
                format!("logged in as {user}")
            }
            Lesson::LoggedOut => "logged out".to_owned(),
            Lesson::LoginRejected(attempt) => format!(
                "the login as {} with {} was rejected: not signing it again with the same \
                 password",
                attempt
                    .user
                    .as_ref()
                    .map_or("?".to_owned(), ToString::to_string),
                attempt.fingerprint
            ),
            Lesson::FilePasswordRejected => {
                "the --password-file password was rejected: not typing it again".to_owned()
            }
            Lesson::KeyRotated { user, fingerprint } => {
                // Said to the person too: which key the HSM now knows for whom.
                self.out.push(super::Action::Inform(format!(
                    "mfa-login: registered {fingerprint} as the MFA key of {user}; later logins \
                     in this session use it"
                )));
                format!("{user} now logs in with {fingerprint}: later logins use it")
            }
        };
        self.note(note);
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
