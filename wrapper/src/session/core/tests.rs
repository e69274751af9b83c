//! Scripted sessions through the core: prompts, keys and results in, actions out. One test
//! per row of wrapper/README.md's command x prompt table, then the core's own rules (piped
//! stdin, deadlines, lines typed ahead, rejected logins).

use std::time::{Duration, Instant};

use client::exit::ChildExit;
use zeroize::Zeroizing;

use super::*;
use crate::session::policy::Repeats;

const LOGIN: &str = "login --username officer1 --role admin mfa-token-sign --token t.json";
const CHANGE_MFA: &str =
    "user change-mfa token-sign --username officer1 --role admin --token c.json";

use crate::session::policy::tests::options;

/// The options of a person who types the login's password.
fn typing_the_password() -> Options {
    Options {
        password_file: false,
        ..options()
    }
}

/// The answer among `actions` signs with the new key and fills the public key.
fn registers_new_key(actions: &[Action]) -> bool {
    matches!(
        decision(actions),
        Some(Decision::SignAuthData {
            fill_public_key: true,
            ..
        })
    ) && signs_with(actions) == Some("NEW")
}

/// A core and the time it lives in (tests move it on by hand).
struct Script {
    core: Core,
    now: Instant,
}

impl Script {
    /// An interactive session at a terminal.
    fn new(options: Options) -> Self {
        Self::with(options, true, None)
    }

    /// An interactive session; `attended`: stdin is a terminal (else it is piped and gated).
    fn with(options: Options, attended: bool, timeout: Option<Duration>) -> Self {
        let now = Instant::now();
        let setup = Setup {
            options,
            command: Command::Interactive,
            user: None,
            attended,
            gate_stdin: !attended,
            timeout,
            fingerprints: Fingerprinter::with_key([3; 32]),
        };
        Script {
            core: Core::new(setup, now),
            now,
        }
    }

    fn on(&mut self, event: Event) -> Vec<Action> {
        self.core.on(event, self.now)
    }

    fn prompt(&mut self, prompt: Prompt) -> Vec<Action> {
        self.on(Event::Output(Seen {
            prompt: Some(prompt),
            ..Seen::default()
        }))
    }

    fn result(&mut self, error_code: i64) -> Vec<Action> {
        self.on(Event::Output(Seen {
            result_code: Some(error_code),
            ..Seen::default()
        }))
    }

    /// Keys from stdin, with echo on or off.
    fn keys(&mut self, keys: &str, echo: bool) -> Vec<Action> {
        self.on(Event::Input {
            bytes: keys.as_bytes().to_vec(),
            echo,
        })
    }

    /// The CLI's prompt, then `line` typed and Enter.
    fn command(&mut self, line: &str) -> Vec<Action> {
        self.prompt(Prompt::Interactive);
        self.keys(&format!("{line}\r"), true)
    }

    /// Carries out the answer among `actions` as the loop would, typing `typed` and having
    /// signed with `fingerprint`.
    fn answer(
        &mut self,
        actions: &[Action],
        typed: &str,
        fingerprint: Option<&str>,
    ) -> Vec<Action> {
        let (prompt, decision) = answer_of(actions).expect("an answer to carry out");
        self.on(Event::Answered {
            prompt,
            decision: decision.clone(),
            answer: Ok((
                Zeroizing::new(typed.as_bytes().to_vec()),
                fingerprint.map(str::to_owned),
            )),
        })
    }

    /// Logs in as officer1: the person types `password`, the tokens are signed with `fp`,
    /// and the CLI says `error_code`.
    fn login(&mut self, password: &str, fp: &str, error_code: i64) -> Decision {
        let options_say_file = self.prompt(Prompt::Password);
        if answer_of(&options_say_file).is_some() {
            self.answer(&options_say_file, "pw\r", None);
        } else {
            self.keys(&format!("{password}\r"), false);
        }
        let at_tokens = self.prompt(Prompt::SignedTokenFile);
        let (_, decision) = answer_of(&at_tokens).expect("the tokens are signed");
        let decision = decision.clone();
        self.answer(&at_tokens, "\r", Some(fp));
        self.result(error_code);
        decision
    }

    fn pass(&mut self, time: Duration) {
        self.now += time;
    }
}

fn answer_of(actions: &[Action]) -> Option<(Prompt, &Decision)> {
    actions.iter().find_map(|a| match a {
        Action::Answer { prompt, decision } => Some((*prompt, decision)),
        _ => None,
    })
}

fn decision(actions: &[Action]) -> Option<&Decision> {
    answer_of(actions).map(|(_, d)| d)
}

/// The key selector the answer among `actions` signs with.
fn signs_with(actions: &[Action]) -> Option<&str> {
    match decision(actions)? {
        Decision::SignTokens { key, .. }
        | Decision::PublicKey { key }
        | Decision::SignAuthData { key, .. } => key.selector.as_deref(),
        _ => None,
    }
}

/// Everything the actions type into COMMAND.
fn typed(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Type(bytes) => Some(bytes.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The lines shown to the person.
fn notices(actions: &[Action]) -> String {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notice(line) => Some(line.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn has(actions: &[Action], wanted: &Action) -> bool {
    actions.contains(wanted)
}

// The command x prompt table, row by row.

#[test]
fn login_types_the_password_file_once_echo_is_off_and_signs_with_key() {
    let mut s = Script::new(options());
    let started = s.command(LOGIN);
    assert!(has(&started, &Action::CommandStarted));
    assert_eq!(typed(&started), format!("{LOGIN}\r").as_bytes());

    let at_password = s.prompt(Prompt::Password);
    assert_eq!(decision(&at_password), Some(&Decision::TypePassword));
    assert!(
        typed(&at_password).is_empty(),
        "typed only once carried out"
    );
    let answered = s.answer(&at_password, "pw\r", None);
    assert_eq!(typed(&answered), b"pw\r");
    assert!(
        matches!(&answered[..], [.., Action::WarmAgent { login: Some(key) }] if key.selector.as_deref() == Some("OLD")),
        "the agent is made ready (and checked) at the password prompt: {answered:?}"
    );

    let at_tokens = s.prompt(Prompt::SignedTokenFile);
    assert!(matches!(
        decision(&at_tokens),
        Some(Decision::SignTokens { file, .. }) if file.as_os_str() == "t.json"
    ));
    assert_eq!(signs_with(&at_tokens), Some("OLD"));
    assert_eq!(
        typed(&s.answer(&at_tokens, "\r", Some("SHA256:old"))),
        b"\r"
    );

    let at_key = s.prompt(Prompt::PublicKeyFile);
    assert_eq!(
        decision(&at_key),
        None,
        "a login's public key prompt: not answered"
    );
    assert!(notices(&at_key).contains("not one mfa-login answers"));
    assert!(typed(&at_key).is_empty());
}

#[test]
fn a_logins_confirm_password_prompt_is_the_persons() {
    let mut s = Script::new(options());
    s.command(LOGIN);
    let confirm = s.prompt(Prompt::ConfirmPassword);
    assert_eq!(decision(&confirm), None);
    assert!(typed(&confirm).is_empty() && notices(&confirm).is_empty());
}

#[test]
fn change_mfa_for_the_user_logged_in_signs_and_registers_the_new_key() {
    let mut s = Script::new(options());
    s.command(LOGIN);
    s.login("secret", "SHA256:old", 0);
    s.command(CHANGE_MFA);
    let at_password = s.prompt(Prompt::Password);
    assert_eq!(
        decision(&at_password),
        None,
        "a NEW password is the person's"
    );
    assert!(has(&at_password, &Action::WarmAgent { login: None }));
    let new_password = s.keys("new-secret\r", false);
    assert!(has(
        &new_password,
        &Action::Record {
            bytes: Zeroizing::new(b"new-secret\r".to_vec()),
            echo: false
        }
    ));
    assert_eq!(typed(&new_password), b"new-secret\r");
    assert_eq!(decision(&s.prompt(Prompt::ConfirmPassword)), None);
    let at_tokens = s.prompt(Prompt::SignedTokenFile);
    assert_eq!(signs_with(&at_tokens), Some("NEW"));
    s.answer(&at_tokens, "\r", Some("SHA256:new"));
    let at_key = s.prompt(Prompt::PublicKeyFile);
    assert!(
        matches!(decision(&at_key), Some(Decision::PublicKey { key }) if key.selector.as_deref() == Some("NEW"))
    );
    s.answer(&at_key, "/tmp/new.pem\r", Some("SHA256:new"));
    let done = s.result(0);
    let said = "mfa-login: registered SHA256:new as the MFA key of officer1 (admin); later \
                logins in this session use it";
    assert!(has(&done, &Action::Inform(said.to_owned())), "{done:?}");
}

#[test]
fn change_mfa_for_another_user_or_with_nobody_logged_in_is_not_answered() {
    let mut s = Script::new(options());
    s.command(CHANGE_MFA);
    let at_tokens = s.prompt(Prompt::SignedTokenFile);
    assert_eq!(decision(&at_tokens), None);
    assert!(notices(&at_tokens).contains("nobody is known to be logged in"));

    let mut s = Script::new(options());
    s.command(LOGIN);
    s.login("secret", "SHA256:old", 0);
    s.command(&CHANGE_MFA.replace("officer1", "officer2"));
    let at_tokens = s.prompt(Prompt::SignedTokenFile);
    assert_eq!(decision(&at_tokens), None);
    assert!(notices(&at_tokens).contains("for officer2 (admin) while officer1 (admin)"));
    assert_eq!(decision(&s.prompt(Prompt::PublicKeyFile)), None);
}

#[test]
fn change_mfa_deregister_is_not_answered() {
    let mut s = Script::new(options());
    s.command(LOGIN);
    s.login("secret", "SHA256:old", 0);
    s.command(&format!("{CHANGE_MFA} --deregister"));
    let at_password = s.prompt(Prompt::Password);
    assert_eq!(decision(&at_password), None);
    assert!(
        !at_password
            .iter()
            .any(|a| matches!(a, Action::WarmAgent { .. })),
        "nothing will be signed: the agent is not asked"
    );
    let at_tokens = s.prompt(Prompt::SignedTokenFile);
    assert_eq!(decision(&at_tokens), None);
    assert!(notices(&at_tokens).contains("--deregister"));
}

#[test]
fn commands_that_set_a_password_never_get_the_password_file() {
    for line in [
        "user create --username u2 --role crypto-user",
        "user change-password --username officer1 --role admin",
    ] {
        let mut s = Script::new(options());
        s.command(line);
        let at_password = s.prompt(Prompt::Password);
        assert_eq!(decision(&at_password), None, "{line}");
        assert!(typed(&at_password).is_empty(), "{line}");
        assert_eq!(decision(&s.prompt(Prompt::ConfirmPassword)), None, "{line}");
        let at_tokens = s.prompt(Prompt::SignedTokenFile);
        assert_eq!(decision(&at_tokens), None, "{line}");
        assert!(notices(&at_tokens).contains("not one mfa-login answers"));
    }
}

#[test]
fn mgmt_util_login_hsm_types_the_password_file_and_signs_with_key() {
    let mut s = Script::new(options());
    s.command("loginHSM CO officer1 -hpswd -2fa /tmp/a.json");
    let at_password = s.prompt(Prompt::Password);
    assert_eq!(decision(&at_password), Some(&Decision::TypePassword));
    s.answer(&at_password, "pw\r", None);
    s.on(Event::Output(Seen {
        authdata_path: Some("/tmp/written.json".into()),
        ..Seen::default()
    }));
    let at_file = s.prompt(Prompt::AuthDataFile);
    assert!(matches!(
        decision(&at_file),
        Some(Decision::SignAuthData { file, fill_public_key: false, .. })
            if file.as_os_str() == "/tmp/written.json"
    ));
    assert_eq!(signs_with(&at_file), Some("OLD"));
}

#[test]
fn mgmt_util_change_pswd_registers_the_new_key_only_for_the_user_logged_in() {
    let mut s = Script::new(options());
    s.command("loginHSM CO officer1 -hpswd -2fa /tmp/a.json");
    let at_password = s.prompt(Prompt::Password);
    s.answer(&at_password, "pw\r", None);
    let at_file = s.prompt(Prompt::AuthDataFile);
    s.answer(&at_file, "\r", Some("SHA256:old"));
    s.on(Event::Output(Seen {
        result_code: Some(0),
        ..Seen::default()
    }));
    s.command("changePswd CO officer1 newpw -2fa /tmp/p.json");
    let at_file = s.prompt(Prompt::AuthDataFile);
    assert!(registers_new_key(&at_file), "{at_file:?}");
    s.command("changePswd CO officer2 newpw -2fa /tmp/p.json");
    assert_eq!(decision(&s.prompt(Prompt::AuthDataFile)), None);
}

#[test]
fn mgmt_util_create_user_is_signed_only_with_an_explicit_new_key() {
    let mut s = Script::new(options());
    s.command("createUser CU alice -hpswd -2fa /tmp/c.json");
    assert_eq!(
        decision(&s.prompt(Prompt::Password)),
        None,
        "alice's password"
    );
    let at_file = s.prompt(Prompt::AuthDataFile);
    assert!(registers_new_key(&at_file), "{at_file:?}");

    let mut s = Script::new(Options {
        new_key: None,
        ..options()
    });
    s.command("createUser CU alice -hpswd -2fa /tmp/c.json");
    let at_file = s.prompt(Prompt::AuthDataFile);
    assert_eq!(decision(&at_file), None);
    assert!(notices(&at_file).contains("--new-key"));
}

#[test]
fn any_other_command_prompts_nothing_and_its_prompt_like_output_is_output() {
    let mut s = Script::with(options(), false, None);
    s.on(Event::Input {
        bytes: b"key list\n".to_vec(),
        echo: true,
    });
    s.prompt(Prompt::Interactive);
    for prompt in [
        Prompt::Password,
        Prompt::SignedTokenFile,
        Prompt::PublicKeyFile,
    ] {
        let label = s.prompt(prompt);
        assert!(
            matches!(&label[..], [Action::Note(note)] if note.contains("not a prompt")),
            "{label:?}"
        );
    }
    s.on(Event::InputEnd);
    assert_eq!(typed(&s.prompt(Prompt::Interactive)), b"quit\r");
}

// The core's own rules.

#[test]
fn piped_lines_wait_for_the_clis_prompt_and_never_reach_a_password_prompt() {
    let mut s = Script::with(typing_the_password(), false, None);
    let early = s.on(Event::Input {
        bytes: format!("{LOGIN}\nquit\n").into_bytes(),
        echo: true,
    });
    assert!(
        typed(&early).is_empty(),
        "nothing is typed ahead of a prompt"
    );
    let at_prompt = s.prompt(Prompt::Interactive);
    assert_eq!(typed(&at_prompt), format!("{LOGIN}\n").as_bytes());
    assert!(has(&at_prompt, &Action::CommandStarted));

    let at_password = s.prompt(Prompt::Password);
    assert!(typed(&at_password).is_empty(), "quit is not a password");
    assert!(notices(&at_password).contains("--password-file"));
    assert!(has(&at_password, &Action::Signal(ChildSignal::Terminate)));
    assert_eq!(s.core.deadline(), Some(s.now + KILL_GRACE));
    s.pass(KILL_GRACE);
    assert!(has(&s.on(Event::Tick), &Action::Signal(ChildSignal::Kill)));
    s.on(Event::Exited(Status::of(ChildExit::Code(143))));
    assert_eq!(
        s.on(Event::OutputEnd),
        vec![Action::Exit(Status::OWN_FAILURE)]
    );
}

#[test]
fn empty_stdin_at_a_prompt_nobody_can_answer_fails() {
    let mut s = Script::with(typing_the_password(), false, None);
    s.on(Event::InputEnd);
    let at_prompt = s.prompt(Prompt::Interactive);
    assert_eq!(typed(&at_prompt), b"quit\r", "an empty script is a quit");

    // Ungated (COMMAND is not a CloudHSM CLI), `</dev/null`: a prompt left to the person
    // with nobody there fails.
    let setup = Setup {
        options: options(),
        command: Command::from_line("user create --username u2 --role crypto-user"),
        user: None,
        attended: false,
        gate_stdin: false,
        timeout: None,
        fingerprints: Fingerprinter::with_key([3; 32]),
    };
    let mut s = Script {
        core: Core::new(setup, Instant::now()),
        now: Instant::now(),
    };
    s.on(Event::InputEnd);
    let at_password = s.prompt(Prompt::Password);
    assert!(
        notices(&at_password).contains("stdin is empty and not a terminal: nobody can answer"),
        "{at_password:?}"
    );
    assert!(has(&at_password, &Action::Signal(ChildSignal::Terminate)));
}

#[test]
fn the_timeout_ends_an_unattended_run_and_the_exit_status_is_125() {
    let mut s = Script::with(options(), false, Some(Duration::from_secs(7)));
    assert_eq!(s.core.deadline(), Some(s.now + Duration::from_secs(7)));
    s.pass(Duration::from_secs(7));
    let late = s.on(Event::Tick);
    assert!(notices(&late).contains("did not finish within --timeout 7"));
    assert!(has(&late, &Action::Signal(ChildSignal::Terminate)));
    s.on(Event::Exited(Status::of(ChildExit::Code(0))));
    assert_eq!(
        s.on(Event::OutputEnd),
        vec![Action::Exit(Status::OWN_FAILURE)]
    );

    let attended = Script::with(options(), true, Some(Duration::from_secs(7)));
    assert_eq!(
        attended.core.deadline(),
        None,
        "a person is there: no timeout"
    );
}

#[test]
fn after_the_child_exits_output_drains_until_it_ends_or_falls_silent() {
    let mut s = Script::new(options());
    let exited = s.on(Event::Exited(Status::of(ChildExit::Code(3))));
    assert_eq!(exited, vec![Action::CommandOver]);
    assert_eq!(s.core.deadline(), Some(s.now + DRAIN_GRACE));
    s.pass(Duration::from_secs(1));
    s.on(Event::Output(Seen::default()));
    assert_eq!(
        s.core.deadline(),
        Some(s.now + DRAIN_GRACE),
        "output renews it"
    );
    s.pass(DRAIN_GRACE);
    assert_eq!(
        s.on(Event::Tick),
        vec![Action::Exit(Status::of(ChildExit::Code(3)))]
    );

    let mut s = Script::new(options());
    s.on(Event::Exited(Status::of(ChildExit::Code(3))));
    assert_eq!(
        s.on(Event::OutputEnd),
        vec![Action::Exit(Status::of(ChildExit::Code(3)))]
    );
}

#[test]
fn signals_go_on_to_a_running_command_only() {
    let mut s = Script::new(options());
    assert!(has(
        &s.on(Event::Signal(ChildSignal::Interrupt)),
        &Action::Signal(ChildSignal::Interrupt)
    ));
    s.on(Event::Exited(Status::of(ChildExit::Code(130))));
    assert!(s.on(Event::Signal(ChildSignal::Interrupt)).is_empty());
}

#[test]
fn a_line_typed_ahead_starts_its_command_at_the_next_prompt() {
    let mut s = Script::new(options());
    s.prompt(Prompt::Interactive);
    s.keys("key list\r", true);
    // Typed while key list runs: the CLI reads it at its next prompt.
    let ahead = s.keys(&format!("{LOGIN}\r"), true);
    assert!(!has(&ahead, &Action::CommandStarted));
    assert!(has(&s.prompt(Prompt::Interactive), &Action::CommandStarted));
    assert_eq!(
        decision(&s.prompt(Prompt::Password)),
        Some(&Decision::TypePassword)
    );
}

#[test]
fn an_uncertain_line_is_replaced_by_the_clis_echo() {
    let mut s = Script::new(options());
    s.prompt(Prompt::Interactive);
    // History recall: the tracker cannot know the line.
    s.keys("\x1b[A\r", true);
    assert_eq!(decision(&s.prompt(Prompt::SignedTokenFile)), None);
    s.on(Event::Output(Seen {
        echoed_command: Some(LOGIN.into()),
        ..Seen::default()
    }));
    assert_eq!(signs_with(&s.prompt(Prompt::SignedTokenFile)), Some("OLD"));
}

#[test]
fn a_rejected_login_names_its_key_for_the_same_password_only() {
    let mut s = Script::new(typing_the_password());
    s.command(LOGIN);
    s.login("typo", "SHA256:old", 1);
    s.command(LOGIN);
    let again = s.login("typo", "SHA256:old", 1);
    let Decision::SignTokens { key, .. } = &again else {
        panic!("{again:?}")
    };
    assert_eq!(
        key.repeats,
        Repeats {
            user: "officer1".into(),
            keys: vec!["SHA256:old".into()],
            elsewhere: vec![],
            config_file: "config.toml".into(),
        }
    );
    assert!(key.check("SHA256:old", "t.json".as_ref()).is_err());
    assert!(key.check("SHA256:other", "t.json".as_ref()).is_ok());
    s.command(LOGIN);
    let Decision::SignTokens { key, .. } = s.login("right", "SHA256:old", 0) else {
        panic!()
    };
    assert!(
        key.repeats.keys.is_empty(),
        "another password: answered again"
    );
}

#[test]
fn a_failed_answer_is_said_and_left_to_the_person_at_a_terminal() {
    let mut s = Script::new(options());
    s.command(LOGIN);
    let at_tokens = s.prompt(Prompt::SignedTokenFile);
    let (prompt, decision) = answer_of(&at_tokens).expect("an answer");
    let failed = s.on(Event::Answered {
        prompt,
        decision: decision.clone(),
        answer: Err(("mfa-agent is locked".into(), "mfa-add -X".into())),
    });
    assert!(notices(&failed).contains("mfa-agent is locked"));
    assert!(typed(&failed).is_empty());
    assert!(!failed.iter().any(|a| matches!(a, Action::Signal(_))));
    // The person answers; the next token prompt is this one's, not a repeat.
    s.keys("t.json\r", true);
    assert!(decision_is_sign(&s.prompt(Prompt::SignedTokenFile)));
}

fn decision_is_sign(actions: &[Action]) -> bool {
    matches!(decision(actions), Some(Decision::SignTokens { .. }))
}

#[test]
fn a_prompt_that_comes_straight_back_is_not_answered_again() {
    let mut s = Script::new(options());
    s.command(LOGIN);
    let at_tokens = s.prompt(Prompt::SignedTokenFile);
    s.answer(&at_tokens, "\r", Some("SHA256:old"));
    let back = s.prompt(Prompt::SignedTokenFile);
    assert_eq!(decision(&back), None);
    assert!(notices(&back).contains("came back right after"));
}
