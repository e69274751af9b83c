//! mfa-login's session: the child runs in a PTY, its output is copied to the user byte for
//! byte as it arrives, the user's keys go to the child, and the prompts are answered as the
//! core decides.
//!
//! Threads read the child's output (showing it and matching it there: `output`), read
//! stdin, reap the child and catch signals; each sends a `Message` to one loop, which
//! blocks on the channel (no polling). What to do is the `core`'s, with no I/O (which command
//! is under way, the stdin gate, the deadlines, the `policy`, what was `rejected`); the loop
//! only carries out its actions, and `answers` signs token files and writes public keys
//! through the agent. A failure is reported in one line with how to finish by hand, and the
//! prompt is left unanswered: each wrong answer costs one of the five attempts before a
//! CloudHSM account locks.

use std::io::{IsTerminal, Read};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Instant, SystemTime};

use client::exit::{ChildExit, Status};
use tempfile::NamedTempFile;

use crate::command::{Command, User};
use crate::login::Config;
use crate::sys::{self, ChildSignal, PtyProcess, Reaper, ReceivedSignal};

mod answers;
mod core;
mod decision;
mod output;
pub(crate) mod password;
pub(crate) mod policy;
mod rejected;

use self::core::{Action, Core, Event, Setup};
use output::Seen;
use password::Fingerprinter;
use policy::Options;

/// How many messages may wait for the loop; beyond it the thread that sends the next one
/// waits (the output's, when the transcript wants every piece, and then so does the child).
const MESSAGES_QUEUED: usize = 64;

/// What the threads tell the loop.
#[derive(Debug)]
enum Message {
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
pub fn run(config: Config) -> Status {
    let settings = sys::stdin_settings();
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(err) => {
            sys::notice(&format!(
                "mfa-login: error: the current directory is gone: {err}"
            ));
            return Status::OWN_FAILURE;
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
                sys::SpawnError::Command(_) => Status::NOT_EXECUTABLE,
                sys::SpawnError::Terminal(_) => Status::OWN_FAILURE,
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
        return Status::OWN_FAILURE;
    }
    let raw = match sys::RawMode::enter() {
        Ok(raw) => raw,
        Err(err) => {
            spawned.process.signal(ChildSignal::Hangup);
            spawned.process.reaper().wait();
            sys::notice(&format!(
                "mfa-login: error: cannot put the terminal in raw mode: {err}"
            ));
            return Status::OWN_FAILURE;
        }
    };
    let (tx, rx) = sync_channel(MESSAGES_QUEUED);
    let output_tx = tx.clone();
    output::start(spawned.output, config.transcript.enabled(), move |seen| {
        let message = seen.map_or(Message::OutputEnd, Message::Output);
        output_tx.send(message).is_ok()
    });
    start_threads(&tx, spawned.process.reaper());
    let mut session = Session::new(config, spawned.process, raw.is_some());
    let code = session.run(&rx);
    drop(session);
    drop(raw);
    code
}

fn start_threads(tx: &SyncSender<Message>, reaper: Reaper) {
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
                        if in_tx.send(Message::Input(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = in_tx.send(Message::InputEnd);
        });
    let exit_tx = tx.clone();
    let _ = std::thread::Builder::new()
        .name("reaper".into())
        .spawn(move || {
            let _ = exit_tx.send(Message::Exited(reaper.wait()));
        });
    let signal_tx = tx.clone();
    let _ = sys::watch_signals(move |signal| {
        let _ = signal_tx.send(Message::Signal(signal));
    });
}

/// The user running COMMAND in single-command mode: `CLOUDHSM_PIN=user:password` and
/// `CLOUDHSM_ROLE`, as the AWS guide documents them.
fn user_from_env() -> Option<User> {
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
fn runs_the_cli(config: &Config) -> bool {
    Command::from_args(&config.args) != Command::Other
        || config
            .program
            .file_name()
            .is_some_and(|name| name.to_string_lossy().contains("cloudhsm"))
}

/// The loop's side of the session: the child, the agent connection and the files kept for
/// the command under way, and the core that decides.
struct Session {
    config: Config,
    child: PtyProcess,
    core: Core,
    /// The agent connection opened at the command's password prompt.
    warm: Option<answers::WarmAgent>,
    /// change-mfa's public key PEM, kept until the command is over.
    public_key_file: Option<NamedTempFile>,
    /// When the command that the next token file belongs to was started or typed.
    command_started: SystemTime,
}

impl Session {
    fn new(config: Config, child: PtyProcess, attended: bool) -> Self {
        let attended = attended || std::io::stdin().is_terminal();
        let setup = Setup {
            options: Options {
                password_file: config.password.is_some(),
                key: config.key.clone(),
                new_key: config.new_key.clone(),
                token_file: config.token_file.clone(),
                keys_for_users: config.keys_for_users.clone(),
                config_file: crate::config::path().map_or_else(
                    || "~/.config/cloudhsm-mfa/config.toml".to_owned(),
                    |p| p.display().to_string(),
                ),
            },
            command: Command::from_args(&config.args),
            user: user_from_env(),
            attended,
            gate_stdin: !attended && runs_the_cli(&config),
            timeout: config.timeout,
            fingerprints: Fingerprinter::new(),
        };
        Session {
            core: Core::new(setup, Instant::now()),
            config,
            child,
            warm: None,
            public_key_file: None,
            command_started: SystemTime::now(),
        }
    }

    fn run(&mut self, rx: &Receiver<Message>) -> Status {
        loop {
            let message = match self.core.deadline() {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            let event = match message {
                Ok(message) => match self.event_of(message) {
                    Some(event) => event,
                    None => continue,
                },
                Err(RecvTimeoutError::Timeout) => Event::Tick,
                Err(RecvTimeoutError::Disconnected) => return Status::OWN_FAILURE,
            };
            if let Some(code) = self.step(event) {
                return code;
            }
        }
    }

    /// What a thread's message means to the core; `None` when the loop handles it alone.
    fn event_of(&mut self, message: Message) -> Option<Event> {
        Some(match message {
            Message::Output(seen) => {
                if let Some(bytes) = &seen.bytes {
                    self.config.transcript.output(bytes);
                }
                Event::Output(seen)
            }
            Message::OutputEnd => Event::OutputEnd,
            Message::Input(bytes) => {
                let bytes = self.suspend_at_the_key(bytes)?;
                Event::Input {
                    bytes,
                    echo: self.child.echo_enabled(),
                }
            }
            Message::InputEnd => Event::InputEnd,
            Message::Signal(ReceivedSignal::Resize) => {
                self.child.resize(sys::window_size());
                return None;
            }
            Message::Signal(ReceivedSignal::Pass(signal)) => Event::Signal(signal),
            Message::Exited(exit) => Event::Exited(exit.map_or(Status::OWN_FAILURE, Status::of)),
        })
    }

    /// ^Z typed at the terminal suspends mfa-login (the shell's job), not COMMAND; the other
    /// keys go on to the core. `None` when nothing else was typed.
    fn suspend_at_the_key(&mut self, mut bytes: Vec<u8>) -> Option<Vec<u8>> {
        if self.core.attended() && bytes.contains(&sys::SUSPEND_KEY) {
            bytes.retain(|&b| b != sys::SUSPEND_KEY);
            sys::suspend();
            self.child.resize(sys::window_size());
        }
        (!bytes.is_empty()).then_some(bytes)
    }

    /// Gives the core `event` and carries out its actions, and those of what they lead to;
    /// the exit status once the session is over.
    fn step(&mut self, event: Event) -> Option<Status> {
        for action in self.core.on(event, Instant::now()) {
            let next = match action {
                Action::Exit(code) => return Some(code),
                action => self.perform(action),
            };
            if let Some(code) = next.and_then(|event| self.step(event)) {
                return Some(code);
            }
        }
        None
    }

    /// Carries out one action; what came of it, when the core needs to know.
    fn perform(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Type(bytes) => {
                let typed = self.child.write_all(&bytes);
                return typed
                    .err()
                    .map(|err| Event::Failed(format!("cannot type into the command: {err}")));
            }
            Action::Answer { prompt, decision } => {
                let answer = self.answer(&decision);
                return Some(Event::Answered {
                    prompt,
                    decision,
                    answer,
                });
            }
            Action::WarmAgent { login } => self.warm_agent(login.as_ref()),
            Action::CommandStarted => self.command_started = SystemTime::now(),
            Action::CommandOver => {
                self.warm = None;
                self.public_key_file = None;
            }
            Action::Signal(signal) => self.child.signal(signal),
            Action::Notice(line) => {
                self.config.transcript.event(&line);
                sys::notice(&line);
            }
            Action::Inform(line) => {
                self.config.transcript.event(&line);
                sys::notice(&sys::dim(&line));
            }
            Action::Note(text) => self.config.transcript.event(&text),
            Action::Record { bytes, echo } => self.config.transcript.typed(&bytes, echo),
            Action::Exit(_) => {}
        }
        None
    }
}
