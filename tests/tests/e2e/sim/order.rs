//! The two orders a token-sign login may judge in, typed by hand and signed with openssl:
//! password first (the default: a wrong password fails before any token is handed out) and
//! `CLOUDHSM_SIM_ORDER=tokens-first` (the tokens are handed out whatever the password, and one
//! failure after Enter covers a wrong password and wrong signatures alike, each counted).

use cloudhsm_mfa_tests::harness::openssl::{genrsa, read_signatures, sign_token_file_openssl};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::sim::commands::{
    PASSWORD_PROMPT, SIGNED_TOKEN_PROMPT, TOKENS_FIRST_FAILURE,
};
use cloudhsm_mfa_tests::sim::config::Order;

use super::{
    assert_logged_in, assert_refused, result_json, sign_like_the_guide, Scenario, PASSWORD, USER,
};

const SHELL: &str = "aws-cloudhsm > ";

#[test]
fn password_first_is_the_default_and_hands_out_no_token_for_a_wrong_password() {
    let s = Scenario::new(|c| c);
    assert_eq!(s.cluster.order, Order::PasswordFirst);
    let mut pty = s.spawn_login(&[]);
    pty.expect(PASSWORD_PROMPT);
    pty.send_line("Wr0ng!");
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "incorrect password");
    pty.assert_absent(SIGNED_TOKEN_PROMPT);
    assert!(!s.token.exists(), "no token file written");
    assert_eq!(s.cluster.failed_logins(USER), 1);
}

#[test]
fn tokens_first_judges_the_password_and_the_signatures_together_after_enter() {
    let s = Scenario::new(|c| c.with_order(Order::TokensFirst));
    let stranger = genrsa(s.dir.path(), "intruder.key", 2048);
    // A wrong password: the tokens are handed out all the same, then the login fails.
    let mut pty = s.spawn_login(&[]);
    pty.expect(PASSWORD_PROMPT);
    assert!(!pty.echo_enabled());
    pty.send_line("Wr0ng!");
    sign_like_the_guide(&mut pty, &s.key, &s.token, 3);
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), TOKENS_FIRST_FAILURE);
    assert_eq!(s.cluster.failed_logins(USER), 1, "a wrong password counts");
    // The right password and another key's signatures: the same failure, counted.
    let (json, exit) = s.login_with(|token| sign_token_file_openssl(&stranger, token));
    assert_refused(&json, exit, TOKENS_FIRST_FAILURE);
    assert_eq!(s.cluster.failed_logins(USER), 2);
    // A signed file the CLI cannot read reaches no HSM: refused, not counted, even with a
    // wrong password.
    let mut pty = s.spawn_login(&["--password", "Wr0ng!"]);
    pty.expect(SIGNED_TOKEN_PROMPT);
    pty.send_line(&s.dir.join("missing.json").to_string_lossy());
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "cannot read");
    assert_eq!(s.cluster.failed_logins(USER), 2);
    // Right password, right key: logged in; the count resets, the total keeps both failures.
    let (json, exit) = s.login_with(|token| sign_token_file_openssl(&s.key, token));
    assert_logged_in(&json);
    assert_eq!(exit, Exit::Code(0));
    assert_eq!(s.cluster.failed_logins(USER), 0);
    assert_eq!(s.cluster.failed_logins_total(USER), 2);
    let typed: Vec<String> = s
        .cluster
        .passwords_for("login")
        .into_iter()
        .map(|r| format!("{} {}", r.via, r.password))
        .collect();
    assert_eq!(
        typed,
        [
            format!("{PASSWORD_PROMPT} Wr0ng!"),
            format!("--password {PASSWORD}"),
            "--password Wr0ng!".to_owned(),
            format!("--password {PASSWORD}"),
        ]
    );
}

#[test]
fn tokens_first_a_mistyped_password_then_the_right_one_in_one_session() {
    let s = Scenario::new(|c| c.with_order(Order::TokensFirst).with_hsms(1));
    let mut pty = Pty::spawn(s.cluster.command(&["interactive"]));
    pty.expect(SHELL);
    for (password, ok) in [("Wr0ng!", false), (PASSWORD, true)] {
        pty.send_line(&s.login_args().join(" "));
        pty.expect(PASSWORD_PROMPT);
        pty.send_line(password);
        sign_like_the_guide(&mut pty, &s.key, &s.token, 1);
        assert_eq!(read_signatures(&s.token).len(), 1);
        let json = result_json(&pty.expect(SHELL));
        assert_eq!(json["error_code"] == 0, ok, "{json}");
    }
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_eq!(s.cluster.failed_logins(USER), 0);
    assert_eq!(s.cluster.failed_logins_total(USER), 1);
}
