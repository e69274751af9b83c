//! The prompts: the policy decides once per prompt; the loop carries out an answer and
//! reports back; a prompt mfa-login does not answer is left to the person, or to piped
//! stdin's next line, or fails when nobody can answer it.

use std::time::Instant;

use super::{Action, Answer, Core};
use crate::prompt::Prompt;
use crate::session::password::TypedPassword;
use crate::session::policy::Decision;

impl Core {
    pub(super) fn on_prompt(&mut self, prompt: Prompt, now: Instant) {
        if prompt != Prompt::Interactive && !self.policy.command_prompts() {
            // A command that asks nothing (key list, say): a label that reads like a prompt is
            // output. Nothing is typed, no piped line fed, the session not ended over it.
            return self.note(format!(
                "{} text in the output of a command that asks nothing: not a prompt",
                prompt.name()
            ));
        }
        self.note(format!("prompt: {}", prompt.name()));
        self.commands.at_command_line = prompt == Prompt::Interactive;
        self.stdin.left_to_user = None;
        self.stdin.typed_password = None;
        if prompt == Prompt::Interactive {
            self.out.push(Action::CommandOver);
            if let Some(line) = self.commands.typed_ahead.pop_front() {
                // The CLI reads the line typed ahead at once: its command starts now.
                self.commands.at_command_line = false;
                self.start_command(&line.text, line.certain);
            }
        }
        match self.policy.on_prompt(prompt) {
            Decision::Person => {
                self.leave_to_person(prompt, now);
                self.warm_agent(prompt);
            }
            Decision::Refuse { message, hint } => {
                self.fail(&message, Some(&hint), now);
                self.leave_to_person(prompt, now);
                self.warm_agent(prompt);
            }
            decision => self.out.push(Action::Answer { prompt, decision }),
        }
    }

    /// The loop carried out the answer to `prompt`.
    pub(super) fn on_answered(
        &mut self,
        prompt: Prompt,
        decision: &Decision,
        answer: Answer,
        now: Instant,
    ) {
        match answer {
            Ok((typed, fingerprint)) => {
                if let Some(gate) = &mut self.stdin.gate {
                    gate.answered();
                }
                self.policy
                    .answered(prompt, decision, fingerprint.as_deref());
                self.out.push(Action::Type(typed));
            }
            Err((message, hint)) => {
                self.fail(&message, Some(&hint), now);
                self.leave_to_person(prompt, now);
            }
        }
        self.warm_agent(prompt);
    }

    /// At a password prompt of a command that signs, the agent is made ready for the token
    /// prompt to come (and, for a login, checked before the password is typed).
    fn warm_agent(&mut self, prompt: Prompt) {
        if prompt == Prompt::Password && self.policy.command_signs() {
            let login = self.policy.pending_login_key();
            self.out.push(Action::WarmAgent { login });
        }
    }

    /// Leaves the prompt to the person (or to piped stdin's next line; never a password
    /// prompt's: a password comes from a person at a terminal or from --password-file).
    fn leave_to_person(&mut self, prompt: Prompt, now: Instant) {
        self.policy.left_to_person(prompt);
        let login = self.policy.login_user().is_some();
        if self.stdin.gate.is_some() && matches!(prompt, Prompt::Password | Prompt::ConfirmPassword)
        {
            let hint = if login {
                "give the login's password with --password-file FILE (mode 0600), or run \
                 mfa-login at a terminal"
            } else {
                "a new password is typed by a person: run mfa-login at a terminal"
            };
            return self.fail(
                &format!(
                    "stdin is not a terminal: nobody can answer the {} prompt (piped input is \
                     never typed into it)",
                    prompt.name()
                ),
                Some(hint),
                now,
            );
        }
        self.stdin.left_to_user = Some(prompt);
        match &mut self.stdin.gate {
            Some(gate) => gate.want(prompt),
            None if prompt == Prompt::Password && login => {
                self.stdin.typed_password = Some(TypedPassword::default());
            }
            None => {}
        }
        self.feed_waiting_prompt();
        self.check_someone_can_answer(now);
    }

    /// Fails a prompt left to the person when there is none: stdin is not a terminal and
    /// ended without a byte (`</dev/null`), or, with piped stdin fed a line per prompt, ran out.
    pub(super) fn check_someone_can_answer(&mut self, now: Instant) {
        if self.attended || !self.stdin.ended || self.exit_code.is_some() || self.own_failure {
            return;
        }
        let gated_and_empty = self.stdin.gate.as_ref().is_some_and(|g| g.is_empty());
        if self.stdin.read_any && !gated_and_empty {
            return;
        }
        let Some(prompt) = self.stdin.left_to_user.take() else {
            return;
        };
        if prompt == Prompt::Interactive && self.stdin.gate.is_some() {
            // The end of a piped script at the CLI's prompt ends the session, as quit.
            self.note("stdin ended at the prompt: typing quit".to_owned());
            return self.type_bytes(b"quit\r");
        }
        let hint = match prompt {
            Prompt::Password | Prompt::ConfirmPassword => {
                "give the password with --password-file FILE (mode 0600; it answers only a \
                 login's own password prompt), or run mfa-login at a terminal"
            }
            _ => "give the command its input on stdin, or run mfa-login at a terminal",
        };
        let what = match prompt {
            Prompt::Interactive => "aws-cloudhsm >".to_owned(),
            other => other.name().to_owned(),
        };
        let why = if self.stdin.read_any {
            "stdin is not a terminal and has no more lines"
        } else {
            "stdin is empty and not a terminal"
        };
        self.fail(
            &format!("{why}: nobody can answer the {what} prompt"),
            Some(hint),
            now,
        );
    }
}
