//! mfa-login's session core, with no I/O (as rustls's): what happened goes in as an
//! [`Event`] with the time it happened, what to do comes out as [`Action`]s, and the session
//! loop (`super`) carries them out. Which command is under way, whether typed keys are a
//! password, the gate on piped stdin, the deadlines, the answering policy and what the CLI
//! rejected all live here; threads, the PTY, the agent, files and the clock do not.
//!
//! - `commands`: commands started from COMMAND's arguments, typed or piped lines and the
//!   CLI's echo; results handed to the policy.
//! - `input`: stdin, typed through or gated a line per prompt.
//! - `prompts`: the policy's decision at each prompt, and the prompts left to the person.
//!
//! The unit tests (`tests.rs`) drive scripted sessions, bytes and prompts in and actions out,
//! through each row of wrapper/README.md's command x prompt table.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use client::exit::Status;
use zeroize::Zeroizing;

use super::output::Seen;
use super::password::{Fingerprinter, TypedPassword};
use super::policy::{Decision, KeyChoice, Options, Policy};
use crate::command::{Command, User};
use crate::line_tracker::{LineTracker, TypedLine};
use crate::prompt::Prompt;
use crate::sys::ChildSignal;

mod commands;
mod input;
mod prompts;
#[cfg(test)]
mod tests;

/// How long the output may stay silent after the child exited before mfa-login stops
/// waiting for the rest (a background process may hold the terminal open).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long a child told to stop (SIGTERM) gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// What the answer to a prompt typed, and the fingerprint of the key it used; else the
/// one-line error and the hint on finishing by hand.
pub(crate) type Answer = Result<(Zeroizing<Vec<u8>>, Option<String>), (String, String)>;

/// Something that happened, for the core to react to.
#[derive(Debug)]
pub(crate) enum Event {
    /// What a piece of the child's output said; the person has seen it.
    Output(Seen),
    /// The child's side of the terminal is gone.
    OutputEnd,
    /// Keys from stdin; `echo`: the child's terminal echoes what is typed now.
    Input {
        bytes: Vec<u8>,
        echo: bool,
    },
    InputEnd,
    /// Someone asked mfa-login to end: the signal goes on to COMMAND.
    Signal(ChildSignal),
    /// COMMAND ended with this exit status.
    Exited(Status),
    /// The loop carried out [`Action::Answer`].
    Answered {
        prompt: Prompt,
        decision: Decision,
        answer: Answer,
    },
    /// The loop could not carry out an action (typing into COMMAND): the message.
    Failed(String),
    /// The time came ([`Core::deadline`]).
    Tick,
}

/// Something for the loop to do, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Type these bytes into COMMAND.
    Type(Zeroizing<Vec<u8>>),
    /// Carry out `decision` at `prompt` (type `--password-file`'s password, sign a file, write
    /// the public key) and report with [`Event::Answered`].
    Answer {
        prompt: Prompt,
        decision: Decision,
    },
    /// Get the agent ready for the token prompt to come; with the key of the login under way,
    /// say now, before the password is typed, when it cannot be signed.
    WarmAgent {
        login: Option<KeyChoice>,
    },
    /// A new command started: token files older than now are not its.
    CommandStarted,
    /// The command is over: drop what was kept for it (agent connection, public key file).
    CommandOver,
    Signal(ChildSignal),
    /// Tell the person, in one line (and the transcript).
    Notice(String),
    /// Tell the person what mfa-login did, set apart from the CLI's output (and the transcript).
    Inform(String),
    /// Write this to the transcript only.
    Note(String),
    /// Record typed keys in the transcript (redacted when the terminal did not echo them).
    Record {
        bytes: Zeroizing<Vec<u8>>,
        echo: bool,
    },
    /// The session is over: exit with this status.
    Exit(Status),
}

/// What the session starts with.
pub(crate) struct Setup {
    pub options: Options,
    /// The command COMMAND's arguments name (`Command::Interactive` for `interactive`).
    pub command: Command,
    /// Who is logged in from the start (single-command mode's `CLOUDHSM_PIN`).
    pub user: Option<User>,
    /// stdin is a terminal: a person can take over when mfa-login cannot answer.
    pub attended: bool,
    /// Piped stdin goes to a CloudHSM CLI a line per prompt (see `input`).
    pub gate_stdin: bool,
    /// `--timeout`: with nobody at a terminal, how long COMMAND may run.
    pub timeout: Option<Duration>,
    pub fingerprints: Fingerprinter,
}

/// The command line being typed, and the command under way.
#[derive(Default)]
struct Commands {
    /// Rebuilds command lines typed at the CLI's prompt.
    tracker: LineTracker,
    /// The command under way came from a line the tracker could not follow for certain:
    /// the line the CLI echoes replaces it.
    uncertain: bool,
    /// The last prompt was the interactive one: keys typed now make a command line.
    at_command_line: bool,
    /// Lines typed (with echo on) before the CLI showed its prompt: each starts the command
    /// of a later prompt.
    typed_ahead: VecDeque<TypedLine>,
}

/// stdin, and the prompt waiting for it.
#[derive(Default)]
struct Stdin {
    /// Piped stdin, fed to COMMAND a line at a time at the prompts left to it.
    gate: Option<input::StdinGate>,
    /// What the person types at a login's password prompt, to tell passwords apart.
    typed_password: Option<TypedPassword>,
    /// The last prompt, when mfa-login left it to the person.
    left_to_user: Option<Prompt>,
    /// stdin gave at least one byte / reached its end.
    read_any: bool,
    ended: bool,
}

#[derive(Default)]
struct Deadlines {
    /// `--timeout`, when nobody is at a terminal.
    run: Option<Instant>,
    /// SIGKILL for a child that did not end after SIGTERM.
    kill: Option<Instant>,
    /// The end of the output's grace after the child exited.
    drain: Option<Instant>,
}

pub(crate) struct Core {
    policy: Policy,
    fingerprints: Fingerprinter,
    attended: bool,
    timeout: Option<Duration>,
    commands: Commands,
    stdin: Stdin,
    deadlines: Deadlines,
    /// COMMAND's exit status, once it ended.
    exit_code: Option<Status>,
    output_done: bool,
    /// mfa-login failed where nobody could take over: it exits 125 whatever COMMAND does.
    own_failure: bool,
    /// The actions of the event under way.
    out: Vec<Action>,
}

impl Core {
    pub fn new(setup: Setup, now: Instant) -> Self {
        let mut policy = Policy::new(setup.options, Command::Other, setup.user);
        let given = commands::command_password(&setup.fingerprints, &setup.command);
        policy.command_started(setup.command, given);
        let run = match (setup.attended, setup.timeout) {
            (false, Some(limit)) => now.checked_add(limit),
            _ => None,
        };
        Core {
            policy,
            fingerprints: setup.fingerprints,
            attended: setup.attended,
            timeout: setup.timeout,
            commands: Commands::default(),
            stdin: Stdin {
                gate: setup.gate_stdin.then(input::StdinGate::default),
                ..Stdin::default()
            },
            deadlines: Deadlines {
                run,
                ..Deadlines::default()
            },
            exit_code: None,
            output_done: false,
            own_failure: false,
            out: Vec::new(),
        }
    }

    /// Reacts to `event`, which happened at `now`: what to do, in order.
    pub fn on(&mut self, event: Event, now: Instant) -> Vec<Action> {
        match event {
            Event::Output(seen) => self.on_output(seen, now),
            Event::OutputEnd => self.output_done = true,
            Event::Input { bytes, echo } => self.on_input(&bytes, echo),
            Event::InputEnd => self.on_input_end(now),
            Event::Signal(signal) => {
                if self.exit_code.is_none() {
                    self.note(format!("passing {} on to the command", signal.name()));
                    self.out.push(Action::Signal(signal));
                }
            }
            Event::Exited(code) => {
                self.exit_code = Some(code);
                self.deadlines = Deadlines {
                    drain: Some(now + DRAIN_GRACE),
                    ..Deadlines::default()
                };
                self.out.push(Action::CommandOver);
            }
            Event::Answered {
                prompt,
                decision,
                answer,
            } => self.on_answered(prompt, &decision, answer, now),
            Event::Failed(message) => self.fail(&message, None, now),
            Event::Tick => self.on_tick(now),
        }
        if let (Some(code), true) = (self.exit_code, self.output_done) {
            self.exit(code);
        }
        std::mem::take(&mut self.out)
    }

    /// stdin is a terminal: a person is there.
    pub fn attended(&self) -> bool {
        self.attended
    }

    /// When the core wants [`Event::Tick`], if nothing else happens first.
    pub fn deadline(&self) -> Option<Instant> {
        let Deadlines { run, kill, drain } = &self.deadlines;
        [run, kill, drain].into_iter().flatten().min().copied()
    }

    fn on_tick(&mut self, now: Instant) {
        if let Some(code) = self.exit_code.filter(|_| passed(self.deadlines.drain, now)) {
            return self.exit(code);
        }
        if passed(self.deadlines.kill, now) {
            self.deadlines.kill = None;
            self.out.push(Action::Signal(ChildSignal::Kill));
        }
        if passed(self.deadlines.run, now) {
            self.deadlines.run = None;
            let limit = self.timeout.unwrap_or_default().as_secs();
            self.fail(
                &format!("the command did not finish within --timeout {limit}"),
                None,
                now,
            );
        }
    }

    fn exit(&mut self, child_code: Status) {
        let code = if self.own_failure {
            Status::OWN_FAILURE
        } else {
            child_code
        };
        self.out.push(Action::Exit(code));
    }

    /// What a piece of the child's output said, once the person saw it.
    fn on_output(&mut self, seen: Seen, now: Instant) {
        if let Some(at) = &mut self.deadlines.drain {
            *at = now + DRAIN_GRACE;
        }
        if let Some(line) = seen.echoed_command {
            self.on_echoed_command(&line);
        }
        if let Some(path) = seen.authdata_path {
            self.policy.authdata_written(path.into());
        }
        // A result comes before the prompt that may follow it in the same piece.
        if let Some(code) = seen.result_code {
            self.on_result(code);
        }
        if let Some(prompt) = seen.prompt {
            if self.exit_code.is_none() {
                self.on_prompt(prompt, now);
            }
        }
    }

    /// Reports a failure in one line; when nobody is at the terminal, also ends the child so
    /// mfa-login can exit 125.
    fn fail(&mut self, message: &str, hint: Option<&str>, now: Instant) {
        let line = client::report::layout("mfa-login", &message, hint);
        self.out.push(Action::Notice(line));
        if !self.attended && !self.own_failure {
            self.own_failure = true;
            self.out.push(Action::Signal(ChildSignal::Terminate));
            self.deadlines.kill = Some(now + KILL_GRACE);
        }
    }

    fn note(&mut self, text: String) {
        self.out.push(Action::Note(text));
    }

    fn type_bytes(&mut self, bytes: &[u8]) {
        self.out.push(Action::Type(Zeroizing::new(bytes.to_vec())));
    }
}

fn passed(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|at| at <= now)
}
