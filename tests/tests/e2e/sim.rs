//! The simulator and the harness, judged by openssl: the AWS guide's manual procedure (sign
//! each token with `openssl pkeyutl`, base64 it into `signed`, press Enter) logs in, in every
//! output style (readline's redraws checked byte for byte) and cluster size; wrong signatures
//! are refused and counted; five failures lock the account. The commands that set passwords
//! and MFA keys are in [`users`] and [`change_mfa`], the tokens-first login order in [`order`], cloudhsm_mgmt_util
//! in [`mgmt`].

mod change_mfa;
mod mgmt;
mod order;
mod users;

use std::path::{Path, PathBuf};
use std::process::Command;

use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, genrsa_fresh, genrsa_traditional, public_key_pem, random_token, read_signatures,
    read_unsigned_tokens, sign_hashed_again, sign_token_file_openssl, sign_token_openssl,
    verify_openssl, write_signatures,
};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::harness::workdir::{mode, WorkDir};
use cloudhsm_mfa_tests::sim::commands::{PASSWORD_PROMPT, SIGNED_TOKEN_PROMPT};
use cloudhsm_mfa_tests::sim::config::Style;
use cloudhsm_mfa_tests::sim::fixture::{self, Cluster};
use serde_json::Value;

const USER: &str = "officer1";
const ROLE: &str = "admin";
const PASSWORD: &str = "Sup3r-Secret!";

/// A test folder with a cluster whose `officer1` has `officer1.key` registered.
struct Scenario {
    dir: WorkDir,
    cluster: Cluster,
    key: PathBuf,
    token: PathBuf,
}

impl Scenario {
    fn new(cluster: impl FnOnce(Cluster) -> Cluster) -> Scenario {
        let dir = WorkDir::new();
        let cluster = cluster(Cluster::new(dir.path()));
        let key = genrsa(dir.path(), "officer1.key", 2048);
        let public = public_key_pem(&key, &dir.join("officer1.pub"));
        cluster.add_user(USER, ROLE, PASSWORD, Some(&public));
        let token = dir.join("token.json");
        Scenario {
            dir,
            cluster,
            key,
            token,
        }
    }

    fn login_args(&self) -> Vec<String> {
        let token = self.token.to_string_lossy();
        fixture::login_args(USER, ROLE, &token)
            .map(str::to_owned)
            .to_vec()
    }

    /// `cloudhsm-cli-sim login ... mfa-token-sign --token F` in a PTY.
    fn spawn_login(&self, extra: &[&str]) -> Pty {
        let mut args = self.login_args();
        args.splice(5..5, extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Pty::spawn(self.cluster.command(&args))
    }

    /// One single-command login whose tokens `sign` answers; returns the result and status.
    fn login_with(&self, sign: impl FnOnce(&Path)) -> (Value, Exit) {
        let mut pty = self.spawn_login(&["--password", PASSWORD]);
        pty.expect(SIGNED_TOKEN_PROMPT);
        sign(&self.token);
        pty.send_line("");
        let json = result_json(&pty.read_to_eof());
        (json, pty.wait())
    }
}

/// The first JSON value in a transcript, with colour codes and carriage returns removed.
fn result_json(text: &str) -> Value {
    let clean = strip_ansi(text).replace('\r', "");
    let start = clean
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in the output: {text:?}"));
    serde_json::Deserializer::from_str(&clean[start..])
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("unreadable JSON in the output: {text:?}"))
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn assert_logged_in(json: &Value) {
    assert_eq!(json["error_code"], 0, "{json}");
    assert_eq!(json["data"]["username"], USER, "{json}");
    assert_eq!(json["data"]["role"], ROLE, "{json}");
}

fn assert_refused(json: &Value, exit: Exit, reason: &str) {
    assert_ne!(json["error_code"], 0, "{json}");
    let message = json["data"].as_str().expect("an error message");
    assert!(
        message.contains(reason),
        "{message:?} should mention {reason:?}"
    );
    assert_eq!(exit, Exit::Code(1), "{json}");
}

/// The AWS guide's manual procedure, at the signed-token prompt: the file already holds one
/// unsigned token per HSM; sign each with openssl and press Enter.
fn sign_like_the_guide(pty: &mut Pty, key: &Path, token: &Path, hsms: usize) {
    pty.expect(SIGNED_TOKEN_PROMPT);
    let unsigned = read_unsigned_tokens(token);
    assert_eq!(unsigned.len(), hsms, "one token per HSM");
    assert!(
        read_signatures(token).iter().all(Vec::is_empty),
        "written unsigned"
    );
    sign_token_file_openssl(key, token);
    pty.send_line("");
}

/// Logs in by the manual procedure in every cluster size and both modes, in one style.
fn manual_procedure_logs_in(style: Style) {
    for (hsms, interactive, no_space) in [(1, true, false), (3, false, false), (7, true, true)] {
        for interactive in [interactive, !interactive] {
            let s = Scenario::new(|c| c.with_hsms(hsms).with_style(style).with_no_space(no_space));
            let shell_prompt = if no_space {
                "aws-cloudhsm>"
            } else {
                "aws-cloudhsm >"
            };
            let mut pty = if interactive {
                let mut pty = Pty::spawn(s.cluster.command(&["interactive"]));
                pty.expect(shell_prompt);
                pty.send_line(&s.login_args().join(" "));
                pty
            } else {
                s.spawn_login(&[])
            };
            pty.expect(PASSWORD_PROMPT);
            assert!(!pty.echo_enabled(), "the password prompt must not echo");
            pty.send_line(PASSWORD);
            sign_like_the_guide(&mut pty, &s.key, &s.token, hsms);
            let output = if interactive {
                let before = pty.expect(shell_prompt);
                // (The readline style's editor reads the next line with echo off.)
                if style != Style::Readline {
                    assert!(pty.echo_enabled(), "echo is restored after the password");
                }
                pty.send_line("quit");
                before
            } else {
                pty.read_to_eof()
            };
            assert_logged_in(&result_json(&output));
            assert_eq!(pty.wait(), Exit::Code(0));
            pty.assert_absent(PASSWORD);
            if style == Style::Crlf {
                assert!(pty.transcript().contains("}\r\r\n"), "crlf lines");
            }
        }
    }
}

#[test]
fn manual_procedure_logs_in_plain() {
    manual_procedure_logs_in(Style::Plain);
}

#[test]
fn manual_procedure_logs_in_slow() {
    manual_procedure_logs_in(Style::Slow);
}

#[test]
fn manual_procedure_logs_in_color() {
    manual_procedure_logs_in(Style::Color);
}

#[test]
fn manual_procedure_logs_in_crlf() {
    manual_procedure_logs_in(Style::Crlf);
}

#[test]
fn readline_style_reads_the_command_line_raw_and_redraws_it() {
    let s = Scenario::new(|c| c.with_style(Style::Readline));
    let mut pty = Pty::spawn(s.cluster.command(&["interactive"]));
    pty.expect("aws-cloudhsm > ");
    assert!(!pty.echo_enabled(), "the editor echoes, not the terminal");
    pty.send("logot\x7fut\r");
    pty.expect("\raws-cloudhsm > logo\x1b[K\raws-cloudhsm > logou\x1b[K");
    pty.expect("not logged in");
    pty.expect("aws-cloudhsm > ");
    pty.send("\x1b[Ax\x1b[D\x1b[D\x7f\r");
    // Up recalls `logout`, `x` is added, the cursor goes back two, Backspace erases the `u`.
    pty.expect("\raws-cloudhsm > logoutx\x1b[K\x1b[2D\raws-cloudhsm > logotx\x1b[K\x1b[2D");
    pty.expect("logotx");
    let json = result_json(&pty.expect("aws-cloudhsm > "));
    assert_ne!(json["error_code"], 0, "{json}");
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    manual_procedure_logs_in(Style::Readline);
}

#[test]
fn color_style_wraps_prompts_in_ansi_codes() {
    let s = Scenario::new(|c| c.with_style(Style::Color));
    let mut pty = s.spawn_login(&[]);
    pty.expect(&format!("\x1b[1;36m{PASSWORD_PROMPT}\x1b[0m "));
}

#[test]
fn password_option_skips_the_prompt_and_another_signed_file_can_be_named() {
    let s = Scenario::new(|c| c);
    let mut pty = s.spawn_login(&["--password", PASSWORD]);
    pty.expect(SIGNED_TOKEN_PROMPT);
    let signed = s.dir.join("signed.json");
    std::fs::copy(&s.token, &signed).expect("copy the token file");
    sign_token_file_openssl(&s.key, &signed);
    pty.send_line(&signed.to_string_lossy());
    assert_logged_in(&result_json(&pty.read_to_eof()));
    assert_eq!(pty.wait(), Exit::Code(0));
    pty.assert_absent(PASSWORD_PROMPT);
}

#[test]
fn rejects_signatures_that_break_the_rule() {
    let s = Scenario::new(|c| c);
    let other = genrsa(s.dir.path(), "intruder.key", 2048);
    type Forge = Box<dyn Fn(&Path, &Path)>;
    let cases: Vec<(&str, Forge, &str)> = vec![
        (
            "another key",
            Box::new(move |_: &Path, token: &Path| sign_token_file_openssl(&other, token)),
            "does not verify",
        ),
        (
            "hashed again",
            Box::new(|key: &Path, token: &Path| {
                let sigs = read_unsigned_tokens(token)
                    .iter()
                    .map(|t| sign_hashed_again(key, t))
                    .collect::<Vec<_>>();
                write_signatures(token, &sigs);
            }),
            "does not verify",
        ),
        (
            "reordered",
            Box::new(|key: &Path, token: &Path| {
                sign_token_file_openssl(key, token);
                let mut sigs = read_signatures(token);
                sigs.rotate_left(1);
                write_signatures(token, &sigs);
            }),
            "token 1",
        ),
        (
            "left unsigned",
            Box::new(|_: &Path, _: &Path| {}),
            "not signed",
        ),
    ];
    for (what, forge, reason) in cases {
        let (json, exit) = s.login_with(|token| forge(&s.key, token));
        assert_refused(&json, exit, reason);
        assert!(
            s.cluster.user(USER).failed_logins > 0,
            "{what} counts as a failed login"
        );
    }
    // A signed file the CLI cannot read never reaches the HSMs: refused, but not counted.
    let failures = s.cluster.user(USER).failed_logins;
    let mut pty = s.spawn_login(&["--password", PASSWORD]);
    pty.expect(SIGNED_TOKEN_PROMPT);
    pty.send_line(&s.dir.join("no-such-file.json").to_string_lossy());
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "cannot read");
    assert_eq!(s.cluster.user(USER).failed_logins, failures);
    // The right signatures still work (four failures do not lock) and reset the count.
    let (json, exit) = s.login_with(|token| sign_token_file_openssl(&s.key, token));
    assert_logged_in(&json);
    assert_eq!(exit, Exit::Code(0));
    assert_eq!(s.cluster.user(USER).failed_logins, 0);
}

#[test]
fn five_failures_lock_the_account() {
    let s = Scenario::new(|c| c.with_hsms(1));
    let other = genrsa(s.dir.path(), "intruder.key", 2048);
    for _ in 0..4 {
        let (json, exit) = s.login_with(|token| sign_token_file_openssl(&other, token));
        assert_refused(&json, exit, "does not verify");
    }
    // A wrong password is a failed login too, found before any token is issued.
    let mut pty = s.spawn_login(&["--password", "wrong"]);
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "incorrect password");
    pty.assert_absent(SIGNED_TOKEN_PROMPT);
    assert_eq!(s.cluster.user(USER).failed_logins, 5);
    // The sixth attempt, with the right password and key, reports the lock.
    let mut pty = s.spawn_login(&["--password", PASSWORD]);
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "locked");
}

#[test]
fn interactive_shell_reports_unknown_commands_and_logs_out() {
    let s = Scenario::new(|c| c);
    let mut pty = Pty::spawn(s.cluster.command(&["interactive"]));
    pty.expect("aws-cloudhsm > ");
    pty.send_line("frobnicate --now");
    let json = result_json(&pty.expect("aws-cloudhsm > "));
    assert_ne!(json["error_code"], 0, "{json}");
    pty.send_line("logout");
    let json = result_json(&pty.expect("aws-cloudhsm > "));
    assert_ne!(json["error_code"], 0, "logout before login fails: {json}");
    // Two logins in one session, then logout.
    for _ in 0..2 {
        pty.send_line(&s.login_args().join(" "));
        pty.expect(PASSWORD_PROMPT);
        pty.send_line(PASSWORD);
        sign_like_the_guide(&mut pty, &s.key, &s.token, 3);
        assert_logged_in(&result_json(&pty.expect("aws-cloudhsm > ")));
    }
    pty.send_line("logout");
    let json = result_json(&pty.expect("aws-cloudhsm > "));
    assert_eq!(json["error_code"], 0, "{json}");
    pty.send_line("exit");
    assert_eq!(pty.wait(), Exit::Code(0));
}

#[test]
fn harness_openssl_signs_by_the_token_rule() {
    let dir = WorkDir::new();
    let key = genrsa(dir.path(), "officer1.key", 2048);
    assert_eq!(mode(&key), 0o600);
    assert!(dir
        .read_string("officer1.key")
        .contains("BEGIN PRIVATE KEY"));
    let traditional = genrsa_traditional(dir.path(), "officer1-rsa.key", 2048);
    let text = std::fs::read_to_string(traditional).expect("read");
    assert!(text.contains("BEGIN RSA PRIVATE KEY"), "{text}");
    let public = public_key_pem(&key, &dir.join("officer1.pub"));
    let fresh = genrsa_fresh(dir.path(), "fresh.key", 2048);
    assert!(dir.read_string("fresh.key").contains("BEGIN PRIVATE KEY"));
    assert_ne!(dir.read("fresh.key"), dir.read("officer1.key"));
    let token = random_token();
    assert!(!verify_openssl(
        &fresh,
        &token,
        &sign_token_openssl(&key, &token)
    ));
    let sig = sign_token_openssl(&key, &token);
    assert_eq!(sig.len(), 256);
    assert!(verify_openssl(&public, &token, &sig));
    assert!(verify_openssl(&key, &token, &sig));
    assert!(!verify_openssl(
        &public,
        &token,
        &sign_hashed_again(&key, &token)
    ));
}

#[test]
fn harness_pty_sees_prompts_and_echo_state() {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "printf 'name: '; read name; stty -echo; printf 'secret: '; read s; stty echo; echo; echo \"hi $name\"; exit 3",
    ]);
    let mut pty = Pty::spawn(command);
    pty.expect("name: ");
    assert!(pty.echo_enabled(), "a PTY echoes like a user's terminal");
    pty.send_line("bob");
    pty.expect("secret: ");
    assert!(!pty.echo_enabled());
    pty.send_line("hunter2");
    pty.expect("hi bob");
    assert_eq!(pty.wait(), Exit::Code(3));
    pty.assert_absent("hunter2");
}
