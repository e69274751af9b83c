//! mfa-login's session: the child runs in a PTY, its output is copied to the user byte for
//! byte as it arrives, the user's keys go to the child, and the prompts are answered as the
//! policy decides.
//!
//! Threads read the child's output (showing it and matching it there: `output`), read
//! stdin, reap the child and catch signals; each sends an `Event` to one loop, which blocks on the channel (no polling). The loop only carries
//! out decisions: what to answer is `policy`'s (pure, unit-tested rule by rule), what it
//! learned from results is `rejected`'s, and stdin is handled in `input`; `answers`
//! signs token files and writes public keys. A failure is reported in one line with how to
//! finish by hand, and the prompt is left unanswered: each wrong answer costs one of the five
//! attempts before a CloudHSM account locks.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant, SystemTime};

use client::exit::ChildExit;
use tempfile::NamedTempFile;

use crate::command::Command;
use crate::line_tracker::LineTracker;
use crate::login::{Config, EXIT_NOT_EXECUTABLE, EXIT_OWN_FAILURE};
use crate::prompt::Prompt;
use crate::sys::{self, ChildSignal, PtyProcess, Reaper, ReceivedSignal};

mod answers;
mod commands;
mod decision;
mod input;
mod output;
pub(crate) mod password;
pub(crate) mod policy;
mod prompts;
mod rejected;

use commands::{command_password, runs_the_cli, user_from_env};
use input::StdinGate;
use output::Seen;
use password::{Fingerprinter, TypedPassword};
use policy::{Options, Policy};

/// How long the output may stay silent after the child exited before mfa-login stops
/// waiting for the rest (a background process may hold the terminal open).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long a child told to stop (SIGTERM) gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How many events may wait for the loop; beyond it the thread that sends the next one waits
/// (the output's, when the transcript wants every piece, and then so does the child).
const EVENTS_QUEUED: usize = 64;

/// Something the session loop reacts to.
#[derive(Debug)]
enum Event {
    /// A piece of the child's output that says something, already shown to the user.
    Output(Seen),
    OutputEnd,
    Input(Vec<u8>),
    InputEnd,
    Signal(ReceivedSignal),
    /// The child ended; `None` when how is unknown.
    Exited(Option<ChildExit>),
}

/// Runs COMMAND under mfa-login and returns the exit status to exit with.
pub fn run(config: Config) -> i32 {
    let settings = sys::stdin_settings();
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(err) => {
            sys::notice(&format!(
                "mfa-login: error: the current directory is gone: {err}"
            ));
            return EXIT_OWN_FAILURE;
        }
    };
    let spawned = match sys::spawn(
        &config.program,
        &config.args,
        &cwd,
        settings.as_ref(),
        sys::window_size(),
    ) {
        Ok(spawned) => spawned,
        Err(err) => {
            sys::notice(&format!("mfa-login: error: {err}"));
            return match err {
                sys::SpawnError::Command(_) => EXIT_NOT_EXECUTABLE,
                sys::SpawnError::Terminal(_) => EXIT_OWN_FAILURE,
            };
        }
    };
    // COMMAND has its own core limit; mfa-login, which holds the password, writes no core.
    if let Err(err) = client::harden::no_core_files() {
        spawned.process.signal(ChildSignal::Hangup);
        spawned.process.reaper().wait();
        sys::notice(&format!(
            "mfa-login: error: cannot turn off core files: {err}"
        ));
        return EXIT_OWN_FAILURE;
    }
    let raw = match sys::RawMode::enter() {
        Ok(raw) => raw,
        Err(err) => {
            spawned.process.signal(ChildSignal::Hangup);
            spawned.process.reaper().wait();
            sys::notice(&format!(
                "mfa-login: error: cannot put the terminal in raw mode: {err}"
            ));
            return EXIT_OWN_FAILURE;
        }
    };
    let (tx, rx) = sync_channel(EVENTS_QUEUED);
    output::start(spawned.output, config.transcript.enabled(), tx.clone());
    start_threads(&tx, spawned.process.reaper());
    let mut session = Session::new(config, spawned.process, raw.is_some());
    let code = session.run(&rx);
    drop(session);
    drop(raw);
    code
}

fn start_threads(tx: &SyncSender<Event>, reaper: Reaper) {
    let in_tx = tx.clone();
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 4096];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                    Ok(n) => {
                        if in_tx.send(Event::Input(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = in_tx.send(Event::InputEnd);
        });
    let exit_tx = tx.clone();
    let _ = std::thread::Builder::new()
        .name("reaper".into())
        .spawn(move || {
            let _ = exit_tx.send(Event::Exited(reaper.wait()));
        });
    let signal_tx = tx.clone();
    let _ = sys::watch_signals(move |signal| {
        let _ = signal_tx.send(Event::Signal(signal));
    });
}

struct Session {
    config: Config,
    child: PtyProcess,
    /// stdin is a terminal: a person can take over when mfa-login cannot answer.
    attended: bool,
    policy: Policy,
    fingerprints: Fingerprinter,
    /// Rebuilds command lines typed at the CLI's prompt.
    tracker: LineTracker,
    /// The command under way came from a line the tracker could not follow for certain:
    /// the line the CLI echoes replaces it.
    command_uncertain: bool,
    /// When the command that the next token file belongs to was started or typed.
    command_started: SystemTime,
    /// The last prompt was the interactive one: keys typed now make a command line.
    at_command_line: bool,
    /// Lines typed (with echo on) before the CLI showed its prompt: each starts the command
    /// of a later prompt.
    typed_ahead: std::collections::VecDeque<crate::line_tracker::TypedLine>,
    /// What the person types at a login's password prompt, to tell passwords apart.
    typed_password: Option<TypedPassword>,
    /// Piped stdin, fed to COMMAND a line at a time at the prompts left to it.
    gate: Option<StdinGate>,
    /// The last prompt, when mfa-login left it to the user.
    left_to_user: Option<Prompt>,
    /// stdin gave at least one byte / reached its end.
    stdin_read_any: bool,
    stdin_ended: bool,
    public_key_file: Option<NamedTempFile>,
    /// The agent connection opened at the command's password prompt.
    warm: Option<answers::WarmAgent>,
    own_failure: bool,
    exit_code: Option<i32>,
    output_done: bool,
    run_deadline: Option<Instant>,
    kill_deadline: Option<Instant>,
    drain_deadline: Option<Instant>,
}

impl Session {
    fn new(config: Config, child: PtyProcess, attended: bool) -> Self {
        let attended = attended || std::io::stdin().is_terminal();
        let run_deadline = match (attended, config.timeout) {
            (false, Some(limit)) => Instant::now().checked_add(limit),
            _ => None,
        };
        let options = Options {
            password_file: config.password.is_some(),
            key: config.key.clone(),
            new_key: config.new_key.clone(),
            token_file: config.token_file.clone(),
        };
        let fingerprints = Fingerprinter::new();
        let command = Command::from_args(&config.args);
        let mut policy = Policy::new(options, Command::Other, user_from_env());
        let given = command_password(&fingerprints, &command);
        policy.command_started(command, given);
        let gate = (!attended && runs_the_cli(&config)).then(StdinGate::default);
        Session {
            config,
            child,
            attended,
            policy,
            fingerprints,
            tracker: LineTracker::new(),
            command_uncertain: false,
            command_started: SystemTime::now(),
            at_command_line: false,
            typed_ahead: std::collections::VecDeque::new(),
            typed_password: None,
            gate,
            left_to_user: None,
            stdin_read_any: false,
            stdin_ended: false,
            public_key_file: None,
            warm: None,
            own_failure: false,
            exit_code: None,
            output_done: false,
            run_deadline,
            kill_deadline: None,
            drain_deadline: None,
        }
    }

    fn run(&mut self, rx: &Receiver<Event>) -> i32 {
        loop {
            if let (Some(code), true) = (self.exit_code, self.output_done) {
                return self.final_code(code);
            }
            let deadline = [self.run_deadline, self.kill_deadline, self.drain_deadline]
                .into_iter()
                .flatten()
                .min();
            let event = match deadline {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match event {
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(code) = self.on_deadline() {
                        return self.final_code(code);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return self.final_code(EXIT_OWN_FAILURE),
            }
        }
    }

    fn final_code(&self, child_code: i32) -> i32 {
        if self.own_failure {
            EXIT_OWN_FAILURE
        } else {
            child_code
        }
    }

    /// A deadline passed; returns the exit status when the session is over.
    fn on_deadline(&mut self) -> Option<i32> {
        let now = Instant::now();
        if self.drain_deadline.is_some_and(|at| at <= now) {
            return self.exit_code;
        }
        if self.kill_deadline.is_some_and(|at| at <= now) {
            self.kill_deadline = None;
            self.child.signal(ChildSignal::Kill);
        }
        if self.run_deadline.is_some_and(|at| at <= now) {
            self.run_deadline = None;
            let limit = self.config.timeout.unwrap_or_default().as_secs();
            self.fail(
                &format!("the command did not finish within --timeout {limit}"),
                None,
            );
        }
        None
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Output(seen) => self.on_output(seen),
            Event::OutputEnd => self.output_done = true,
            Event::Input(bytes) => self.on_input(&bytes),
            Event::InputEnd => self.on_input_end(),
            Event::Signal(ReceivedSignal::Resize) => {
                self.child.resize(sys::window_size());
            }
            Event::Signal(ReceivedSignal::Pass(signal)) => {
                if self.exit_code.is_none() {
                    self.config
                        .transcript
                        .event(&format!("passing {} on to the command", signal.name()));
                    self.child.signal(signal);
                }
            }
            Event::Exited(exit) => {
                self.exit_code = Some(exit.map_or(EXIT_OWN_FAILURE, ChildExit::status));
                self.kill_deadline = None;
                self.run_deadline = None;
                self.drain_deadline = Some(Instant::now() + DRAIN_GRACE);
                self.public_key_file = None;
            }
        }
    }

    /// What a piece of the child's output said, once the user saw it.
    fn on_output(&mut self, seen: Seen) {
        if let Some(bytes) = &seen.bytes {
            self.config.transcript.output(bytes);
        }
        if let Some(at) = &mut self.drain_deadline {
            *at = Instant::now() + DRAIN_GRACE;
        }
        if let Some(line) = seen.echoed_command {
            self.on_echoed_command(&line);
        }
        if let Some(path) = seen.authdata_path {
            self.policy.authdata_written(PathBuf::from(path));
        }
        // A result comes before the prompt that may follow it in the same piece.
        if let Some(code) = seen.result_code {
            self.on_result(code);
        }
        if let Some(prompt) = seen.prompt {
            if self.exit_code.is_none() {
                self.on_prompt(prompt);
            }
        }
    }

    /// Fails a prompt left to the user when there is none: stdin is not a terminal and ended
    /// without a byte (`</dev/null`), or, with piped stdin fed a line per prompt, ran out.
    fn check_someone_can_answer(&mut self) {
        if self.attended || !self.stdin_ended || self.exit_code.is_some() || self.own_failure {
            return;
        }
        let gated_and_empty = self.gate.as_ref().is_some_and(StdinGate::is_empty);
        if self.stdin_read_any && !gated_and_empty {
            return;
        }
        if let Some(prompt) = self.left_to_user.take() {
            if prompt == Prompt::Interactive && self.gate.is_some() {
                // The end of a piped script at the CLI's prompt ends the session, as quit.
                self.config
                    .transcript
                    .event("stdin ended at the prompt: typing quit");
                let _ = self.child.write_all(b"quit\r");
                return;
            }
            let hint = match prompt {
                Prompt::Password | Prompt::ConfirmPassword => {
                    "give the password with --password-file FILE (mode 0600; it answers only a \
                     login's own password prompt), or run mfa-login \
                     at a terminal"
                }
                _ => "give the command its input on stdin, or run mfa-login at a terminal",
            };
            let what = match prompt {
                Prompt::Interactive => "aws-cloudhsm >".to_owned(),
                other => other.name().to_owned(),
            };
            let why = if self.stdin_read_any {
                "stdin is not a terminal and has no more lines"
            } else {
                "stdin is empty and not a terminal"
            };
            self.fail(
                &format!("{why}: nobody can answer the {what} prompt"),
                Some(hint),
            );
        }
    }

    /// Reports a failure in one line; when nobody is at the terminal, also ends the child so
    /// mfa-login can exit 125.
    fn fail(&mut self, message: &str, hint: Option<&str>) {
        let line = client::report::layout("mfa-login", &message, hint);
        self.config.transcript.event(&line);
        sys::notice(&line);
        if !self.attended && !self.own_failure {
            self.own_failure = true;
            self.child.signal(ChildSignal::Terminate);
            self.kill_deadline = Some(Instant::now() + KILL_GRACE);
        }
    }
}
