//! mfa-login's session: the child runs in a PTY, its output is copied to the user byte for
//! byte as it arrives, the user's keys go to the child, and the prompts mfa-login knows are
//! answered: the signed-token-file prompt with the token file signed through the agent, the
//! public-key prompt of change-mfa with the agent key's PEM, and the password prompts from
//! `--password-file`.
//!
//! Threads read the child's output, read stdin, reap the child and catch signals; each sends
//! an `Event` to one loop, which blocks on the channel (no polling). Safety rules: a failure
//! is reported in one line (with how to finish by hand) and the prompt is left unanswered; a
//! prompt that comes straight back after mfa-login answered it is not answered again, nor is
//! a login whose answer the CLI's result rejected earlier in the session (`rejected`), since
//! each wrong answer costs one of the five attempts before the account locks.

use std::io::{IsTerminal, Read, Write};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use tempfile::NamedTempFile;

use crate::line_tracker::{LineTracker, TypedLine};
use crate::login::{Config, EXIT_NOT_EXECUTABLE, EXIT_OWN_FAILURE};
use crate::prompt::{Prompt, PromptMatcher};
use crate::pty::{self, PtyProcess};
use crate::{signals, terminal};

mod answers;
mod rejected;

use rejected::{Lesson, Rejections};

/// How long the output may stay silent after the child exited before mfa-login stops
/// waiting for the rest (a background process may hold the terminal open).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long a child told to stop (SIGTERM) gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How long a password prompt may take to turn echo off before mfa-login refuses to type
/// the password into it.
const ECHO_OFF_WAIT: Duration = Duration::from_secs(2);

/// Something the session loop reacts to.
#[derive(Debug)]
enum Event {
    Output(Vec<u8>),
    OutputEnd,
    Input(Vec<u8>),
    InputEnd,
    Signal(i32),
    Exited(i32),
}

/// Runs COMMAND under mfa-login and returns the exit status to exit with.
pub fn run(config: Config) -> i32 {
    let settings = terminal::stdin_settings();
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(err) => {
            terminal::notice(&format!(
                "mfa-login: error: the current directory is gone: {err}"
            ));
            return EXIT_OWN_FAILURE;
        }
    };
    let spawned = match pty::spawn(
        &config.program,
        &config.args,
        &cwd,
        settings.as_ref(),
        terminal::window_size(),
    ) {
        Ok(spawned) => spawned,
        Err(err) => {
            terminal::notice(&format!("mfa-login: error: {err}"));
            return match err {
                pty::SpawnError::Command(_) => EXIT_NOT_EXECUTABLE,
                pty::SpawnError::Terminal(_) => EXIT_OWN_FAILURE,
            };
        }
    };
    let raw = match terminal::RawMode::enter() {
        Ok(raw) => raw,
        Err(err) => {
            spawned.process.signal(Signal::SIGHUP);
            pty::wait_for_exit(spawned.process.pid());
            terminal::notice(&format!(
                "mfa-login: error: cannot put the terminal in raw mode: {err}"
            ));
            return EXIT_OWN_FAILURE;
        }
    };
    let (tx, rx) = channel();
    start_threads(&tx, spawned.output, spawned.process.pid());
    let mut session = Session::new(config, spawned.process, raw.is_some());
    let code = session.run(&rx);
    drop(session);
    drop(raw);
    code
}

fn start_threads(tx: &Sender<Event>, mut output: Box<dyn Read + Send>, pid: nix::unistd::Pid) {
    let out_tx = tx.clone();
    let _ = std::thread::Builder::new()
        .name("child-output".into())
        .spawn(move || {
            let mut buf = vec![0u8; 8192];
            loop {
                match output.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if out_tx.send(Event::Output(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = out_tx.send(Event::OutputEnd);
        });
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
            let _ = exit_tx.send(Event::Exited(pty::wait_for_exit(pid)));
        });
    let signal_tx = tx.clone();
    let _ = signals::watch(move |signal| {
        let _ = signal_tx.send(Event::Signal(signal));
    });
}

struct Session {
    config: Config,
    child: PtyProcess,
    /// stdin is a terminal: a person can take over when mfa-login cannot answer.
    attended: bool,
    matcher: PromptMatcher,
    tracker: LineTracker,
    typed_line: Option<TypedLine>,
    echoed_line: Option<String>,
    /// When the command that the next token file belongs to was started or typed.
    command_started: SystemTime,
    /// The last prompt was the interactive one: keys typed now make a command line.
    at_command_line: bool,
    /// The prompt mfa-login answered last, until another prompt shows up.
    last_answered: Option<Prompt>,
    /// The last prompt, when mfa-login left it to the user.
    left_to_user: Option<Prompt>,
    /// stdin gave at least one byte / reached its end.
    stdin_read_any: bool,
    stdin_ended: bool,
    /// Answers the CLI rejected earlier in this session.
    rejections: Rejections,
    public_key_file: Option<NamedTempFile>,
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
        Session {
            config,
            child,
            attended,
            matcher: PromptMatcher::new(),
            tracker: LineTracker::new(),
            typed_line: None,
            echoed_line: None,
            command_started: SystemTime::now(),
            at_command_line: false,
            last_answered: None,
            left_to_user: None,
            stdin_read_any: false,
            stdin_ended: false,
            rejections: Rejections::default(),
            public_key_file: None,
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
            self.child.signal(Signal::SIGKILL);
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
            Event::Output(bytes) => self.on_output(&bytes),
            Event::OutputEnd => self.output_done = true,
            Event::Input(bytes) => self.on_input(&bytes),
            Event::InputEnd => {
                self.stdin_ended = true;
                self.check_someone_can_answer();
            }
            Event::Signal(signal) if signals::is_resize(signal) => {
                self.child.resize(terminal::window_size());
            }
            Event::Signal(signal) => {
                if self.exit_code.is_none() {
                    if let Ok(signal) = Signal::try_from(signal) {
                        self.config
                            .transcript
                            .event(&format!("passing {signal} on to the command"));
                        self.child.signal(signal);
                    }
                }
            }
            Event::Exited(code) => {
                self.exit_code = Some(code);
                self.kill_deadline = None;
                self.run_deadline = None;
                self.drain_deadline = Some(Instant::now() + DRAIN_GRACE);
                self.public_key_file = None;
            }
        }
    }

    fn on_output(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
        drop(out);
        self.config.transcript.output(bytes);
        if let Some(at) = &mut self.drain_deadline {
            *at = Instant::now() + DRAIN_GRACE;
        }
        let prompt = self.matcher.feed(bytes);
        if let Some(line) = self.matcher.take_echoed_command() {
            self.echoed_line = Some(line);
        }
        // A result comes before the prompt that may follow it in the same piece.
        if let Some(code) = self.matcher.take_result_code() {
            self.on_result(code);
        }
        if let Some(prompt) = prompt {
            if self.exit_code.is_none() {
                self.on_prompt(prompt);
            }
        }
    }

    fn on_input(&mut self, bytes: &[u8]) {
        self.stdin_read_any = true;
        if self.exit_code.is_some() {
            return;
        }
        let echo = self.child.echo_enabled();
        self.config.transcript.typed(bytes, echo);
        // What is typed without echo is a password, not a command line; unless typed at the
        // prompt of a CLI whose line editor turns echo off to draw the line itself, or piped
        // (the PTY then starts without echo). The transcript still redacts it.
        if echo || self.at_command_line || !self.attended {
            if let Some(line) = self.tracker.feed(bytes).pop() {
                self.typed_line = Some(line);
                self.command_started = SystemTime::now();
            }
        }
        let _ = self.child.write_all(bytes);
    }

    fn on_result(&mut self, error_code: i64) {
        let transcript = &self.config.transcript;
        transcript.event(&format!("result: error_code {error_code}"));
        match self.rejections.result(error_code) {
            Lesson::Nothing => {}
            Lesson::LoginRejected(login) => transcript.event(&format!(
                "the login as {} ({}) with {} was rejected: not signing it again",
                login.username.as_deref().unwrap_or("?"),
                login.role.as_deref().unwrap_or("?"),
                login.fingerprint
            )),
            Lesson::PasswordRejected => {
                transcript.event("the --password-file password was rejected: not typing it again")
            }
        }
    }

    fn on_prompt(&mut self, prompt: Prompt) {
        let transcript = &self.config.transcript;
        transcript.event(&format!("prompt: {}", prompt.name()));
        self.at_command_line = prompt == Prompt::Interactive;
        self.left_to_user = None;
        if prompt == Prompt::Interactive {
            self.last_answered = None;
            self.public_key_file = None;
            self.rejections.command_done();
            self.left_to_user = Some(prompt);
            self.check_someone_can_answer();
            return;
        }
        if self.last_answered == Some(prompt) {
            let answer = match prompt {
                Prompt::SignedTokenFile => "the signed token file's path",
                Prompt::PublicKeyFile => "the public key PEM's path",
                _ => "the password",
            };
            self.fail(
                &format!(
                    "the {} prompt came back right after mfa-login answered it; not answering \
                     again (each wrong answer counts toward the account lockout)",
                    prompt.name()
                ),
                Some(&format!(
                    "check the message above, then type {answer} yourself and press Enter, or \
                     press ^C"
                )),
            );
            return;
        }
        let answer = match prompt {
            Prompt::Password | Prompt::ConfirmPassword => match &self.config.password {
                Some(_) if self.rejections.password_rejected() => {
                    self.fail(
                        "the password from --password-file was rejected earlier in this \
                         session; not typing it again",
                        Some("type the password yourself and press Enter (and correct the file)"),
                    );
                    return;
                }
                Some(_) if !self.echo_turns_off() => {
                    self.fail(
                        "the password prompt echoes what is typed; not typing the password",
                        Some("type it yourself, or check the command's terminal settings"),
                    );
                    return;
                }
                Some(password) => {
                    let mut typed = zeroize::Zeroizing::new(password.as_bytes().to_vec());
                    typed.push(b'\r');
                    transcript.event("answered with the password from --password-file (redacted)");
                    self.rejections.password_typed();
                    Ok(Some(typed))
                }
                None => Ok(None),
            },
            Prompt::SignedTokenFile => self
                .token_prompt_answer()
                .map(|typed| Some(zeroize::Zeroizing::new(typed))),
            Prompt::PublicKeyFile => self
                .public_key_prompt_answer()
                .map(|typed| Some(zeroize::Zeroizing::new(typed))),
            Prompt::Interactive => Ok(None),
        };
        match answer {
            Ok(Some(typed)) => {
                self.last_answered = Some(prompt);
                if let Err(err) = self.child.write_all(&typed) {
                    self.fail(&format!("cannot type into the command: {err}"), None);
                }
            }
            Ok(None) => {
                self.last_answered = None;
                self.left_to_user = Some(prompt);
                self.check_someone_can_answer();
            }
            Err((err, hint)) => {
                self.last_answered = None;
                self.fail(&err.to_string(), Some(&hint));
            }
        }
    }

    /// Fails a prompt left to the user when there is none: stdin is not a terminal and ended
    /// without a byte (`</dev/null`; a pipe that gave some may have typed the answer ahead).
    fn check_someone_can_answer(&mut self) {
        if self.attended || !self.stdin_ended || self.stdin_read_any || self.exit_code.is_some() {
            return;
        }
        if let Some(prompt) = self.left_to_user.take() {
            let hint = match prompt {
                Prompt::Password | Prompt::ConfirmPassword => {
                    "give the password with --password-file FILE (mode 0600), or run mfa-login \
                     at a terminal"
                }
                _ => "give the command its input on stdin, or run mfa-login at a terminal",
            };
            let what = match prompt {
                Prompt::Interactive => "aws-cloudhsm >".to_owned(),
                other => other.name().to_owned(),
            };
            self.fail(
                &format!("stdin is empty and not a terminal: nobody can answer the {what} prompt"),
                Some(hint),
            );
        }
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

    /// Reports a failure in one line; when nobody is at the terminal, also ends the child so
    /// mfa-login can exit 125.
    fn fail(&mut self, message: &str, hint: Option<&str>) {
        let line = client::report::layout("mfa-login", &message, hint);
        self.config.transcript.event(&line);
        terminal::notice(&line);
        if !self.attended && !self.own_failure {
            self.own_failure = true;
            self.child.signal(Signal::SIGTERM);
            self.kill_deadline = Some(Instant::now() + KILL_GRACE);
        }
    }
}
