//! stdin. Keys typed at a terminal go to COMMAND at once; on the way the tracker rebuilds
//! command lines typed at the CLI's prompt, and a login's password typed by the person is
//! fingerprinted (never kept) so a rejected one is recognised if typed again.
//!
//! Piped stdin (not a terminal) into a CloudHSM CLI is held back and fed a line at a time,
//! only at a prompt mfa-login leaves to it (the CLI's prompt, other questions): never ahead,
//! and never into a password prompt, where the CLI would read a script's next line as a
//! password (a counted failed login). Its end at the CLI's prompt ends the session as `quit`
//! would.

use zeroize::Zeroizing;

use super::{Action, Core};
use crate::prompt::Prompt;
use crate::session::password::PasswordId;

/// Lines typed ahead of the CLI's prompt that mfa-login keeps to know the commands they start.
const MAX_TYPED_AHEAD: usize = 4;

/// Piped stdin waiting for the prompts it answers.
#[derive(Default)]
pub(in crate::session) struct StdinGate {
    pending: Zeroizing<Vec<u8>>,
    /// The prompt left to stdin, waiting for its line.
    wanted: Option<Prompt>,
}

impl StdinGate {
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// A prompt now waits for stdin's next line.
    pub fn want(&mut self, prompt: Prompt) {
        self.wanted = Some(prompt);
    }

    /// mfa-login answered the prompt itself.
    pub fn answered(&mut self) {
        self.wanted = None;
    }

    /// The next whole line with its line end; when stdin has ended, also the rest.
    fn next_line(&mut self, ended: bool) -> Option<Zeroizing<Vec<u8>>> {
        let end = match self.pending.iter().position(|&b| b == b'\n') {
            Some(at) => at + 1,
            None if ended && !self.pending.is_empty() => self.pending.len(),
            None => return None,
        };
        let rest = Zeroizing::new(self.pending[end..].to_vec());
        let mut line = std::mem::replace(&mut self.pending, rest);
        line.truncate(end);
        Some(line)
    }
}

/// A line without its line end.
fn text_of(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl Core {
    pub(super) fn on_input(&mut self, bytes: &[u8], echo: bool) {
        self.stdin.read_any = true;
        if self.exit_code.is_some() {
            return;
        }
        if let Some(gate) = &mut self.stdin.gate {
            gate.pending.extend_from_slice(bytes);
            return self.feed_waiting_prompt();
        }
        self.out.push(Action::Record {
            bytes: Zeroizing::new(bytes.to_vec()),
            echo,
        });
        if let Some(typing) = &mut self.stdin.typed_password {
            if let Some(line) = typing.feed(bytes) {
                let id = line.map_or(PasswordId::Unknown, |l| self.fingerprints.fingerprint(&l));
                self.policy.person_typed_password(id);
                self.stdin.typed_password = None;
            }
        } else if self.commands.at_command_line || echo {
            for line in self.commands.tracker.feed(bytes) {
                if std::mem::take(&mut self.commands.at_command_line) {
                    self.start_command(&line.text, line.certain);
                } else if self.commands.typed_ahead.len() < MAX_TYPED_AHEAD {
                    // Typed before the CLI's prompt: the CLI reads it at its next prompt.
                    self.commands.typed_ahead.push_back(line);
                }
            }
        }
        self.type_bytes(bytes);
    }

    pub(super) fn on_input_end(&mut self, now: std::time::Instant) {
        self.stdin.ended = true;
        self.feed_waiting_prompt();
        self.check_someone_can_answer(now);
    }

    /// Gives the prompt waiting for piped stdin its line, once the line is there.
    pub(super) fn feed_waiting_prompt(&mut self) {
        let Some(gate) = &mut self.stdin.gate else {
            return;
        };
        let Some(prompt) = gate.wanted else {
            return;
        };
        let Some(line) = gate.next_line(self.stdin.ended) else {
            return;
        };
        gate.wanted = None;
        self.stdin.left_to_user = None;
        // No password prompt waits here (see `leave_to_person`): the CLI echoes the line.
        self.out.push(Action::Record {
            bytes: line.clone(),
            echo: true,
        });
        if prompt == Prompt::Interactive {
            self.commands.at_command_line = false;
            self.start_command(&String::from_utf8_lossy(text_of(&line)), true);
        }
        self.out.push(Action::Type(line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piped_lines_come_out_one_at_a_time_and_the_rest_at_the_end() {
        let mut gate = StdinGate::default();
        gate.pending.extend_from_slice(b"login a\npw\nqu");
        assert_eq!(
            gate.next_line(false).as_deref().map(Vec::as_slice),
            Some(&b"login a\n"[..])
        );
        assert_eq!(
            gate.next_line(false).as_deref().map(Vec::as_slice),
            Some(&b"pw\n"[..])
        );
        assert_eq!(gate.next_line(false), None, "a partial line waits");
        assert_eq!(
            gate.next_line(true).as_deref().map(Vec::as_slice),
            Some(&b"qu"[..])
        );
        assert!(gate.is_empty());
        assert_eq!(text_of(b"pw\r\n"), b"pw");
    }
}
