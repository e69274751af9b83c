//! Carrying out the policy's decision at each prompt: type, sign, or leave it to the person.

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::policy::Decision;
use super::Session;
use crate::prompt::Prompt;
use crate::session::password::TypedPassword;

/// How long a password prompt may take to turn echo off before mfa-login refuses to type
/// the password into it.
const ECHO_OFF_WAIT: Duration = Duration::from_secs(2);

impl Session {
    pub(super) fn on_prompt(&mut self, prompt: Prompt) {
        if prompt != Prompt::Interactive && !self.policy.command_prompts() {
            // A command that asks nothing (key list, say): a label that reads like a prompt is
            // output. Nothing is typed, no piped line fed, the session not ended over it.
            self.config.transcript.event(&format!(
                "{} text in the output of a command that asks nothing: not a prompt",
                prompt.name()
            ));
            return;
        }
        self.config
            .transcript
            .event(&format!("prompt: {}", prompt.name()));
        self.at_command_line = prompt == Prompt::Interactive;
        self.left_to_user = None;
        self.typed_password = None;
        if prompt == Prompt::Interactive {
            self.public_key_file = None;
            self.warm = None;
            if let Some(line) = self.typed_ahead.pop_front() {
                // The CLI reads the line typed ahead at once: its command starts now.
                self.at_command_line = false;
                self.start_command(&line.text, line.certain);
            }
        }
        let decision = self.policy.on_prompt(prompt);
        let answer = match &decision {
            Decision::Person => {
                self.leave_to_person(prompt);
                if prompt == Prompt::Password {
                    self.warm_agent();
                }
                return;
            }
            Decision::Refuse { message, hint } => Err((message.clone(), hint.clone())),
            Decision::TypePassword => self.password_answer(),
            Decision::SignTokens {
                file,
                cli_file,
                key,
            } => self.token_answer(file, cli_file.as_deref(), key),
            Decision::PublicKey { key } => self.public_key_answer(key),
            Decision::SignAuthData {
                file,
                key,
                fill_public_key,
            } => self.authdata_answer(file, key, *fill_public_key),
        };
        match answer {
            Ok((typed, fingerprint)) => {
                if let Some(gate) = &mut self.gate {
                    gate.answered();
                }
                self.policy
                    .answered(prompt, &decision, fingerprint.as_deref());
                if let Err(err) = self.child.write_all(&typed) {
                    self.fail(&format!("cannot type into the command: {err}"), None);
                }
            }
            Err((message, hint)) => {
                self.fail(&message, Some(&hint));
                self.leave_to_person(prompt);
            }
        }
        if prompt == Prompt::Password {
            self.warm_agent();
        }
    }

    /// Leaves the prompt to the person (or to piped stdin's next line; never a password
    /// prompt's: a password comes from a person at a terminal or from --password-file).
    fn leave_to_person(&mut self, prompt: Prompt) {
        self.policy.left_to_person(prompt);
        let login = self.policy.login_user().is_some();
        if self.gate.is_some() && matches!(prompt, Prompt::Password | Prompt::ConfirmPassword) {
            let hint = if login {
                "give the login's password with --password-file FILE (mode 0600), or run \
                 mfa-login at a terminal"
            } else {
                "a new password is typed by a person: run mfa-login at a terminal"
            };
            self.fail(
                &format!(
                    "stdin is not a terminal: nobody can answer the {} prompt (piped input is \
                     never typed into it)",
                    prompt.name()
                ),
                Some(hint),
            );
            return;
        }
        self.left_to_user = Some(prompt);
        match &mut self.gate {
            Some(gate) => gate.want(prompt),
            None if prompt == Prompt::Password && login => {
                self.typed_password = Some(TypedPassword::default());
            }
            None => {}
        }
        self.feed_waiting_prompt();
        self.check_someone_can_answer();
    }

    /// The password from `--password-file` and Enter, once the prompt stopped echoing.
    fn password_answer(&mut self) -> super::answers::Answer {
        let Some(password) = &self.config.password else {
            return Err((
                "no --password-file password to type".to_owned(),
                "type the password yourself and press Enter".to_owned(),
            ));
        };
        let mut typed = Zeroizing::new(password.as_bytes().to_vec());
        typed.push(b'\r');
        if !self.echo_turns_off() {
            return Err((
                "the password prompt echoes what is typed; not typing the password".to_owned(),
                "type it yourself, or check the command's terminal settings".to_owned(),
            ));
        }
        self.config
            .transcript
            .event("answered with the password from --password-file (redacted)");
        Ok((typed, None))
    }

    /// Waits briefly for the child to turn echo off at a password prompt: some programs
    /// print the prompt first and change the terminal after, and a password typed in between
    /// would be echoed to the screen.
    fn echo_turns_off(&self) -> bool {
        let deadline = Instant::now() + ECHO_OFF_WAIT;
        while self.child.echo_enabled() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}
