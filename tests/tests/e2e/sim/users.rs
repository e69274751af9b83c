//! The simulator's commands that set passwords, typed by hand in a PTY and judged by the
//! simulator's own records: `user create` (an admin's session) and `user change-password`
//! (oneself, or an admin for anyone), each asking the NEW password twice without echo, each
//! refused without a session, and every password given recorded with whose it is. The helpers
//! here drive an admin's session for [`super::change_mfa`] too.

use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::sim::commands::{CONFIRM_PROMPT, PASSWORD_PROMPT};
use cloudhsm_mfa_tests::sim::fixture::Cluster;
use cloudhsm_mfa_tests::sim::record::PasswordRecord;
use serde_json::Value;

use super::{
    assert_logged_in, assert_refused, result_json, sign_like_the_guide, Scenario, PASSWORD, ROLE,
    USER,
};

pub(super) const SHELL: &str = "aws-cloudhsm > ";
pub(super) const CRYPTO: &str = "crypto1";
pub(super) const CRYPTO_ROLE: &str = "crypto-user";
pub(super) const CRYPTO_PASSWORD: &str = "Crypto-pw1";

/// `officer1` (admin, MFA) logged in at the interactive prompt, by the guide's procedure.
pub(super) fn admin_shell(s: &Scenario) -> Pty {
    let mut pty = Pty::spawn(s.cluster.command(&["interactive"]));
    pty.expect(SHELL);
    pty.send_line(&s.login_args().join(" "));
    pty.expect(PASSWORD_PROMPT);
    pty.send_line(PASSWORD);
    sign_like_the_guide(&mut pty, &s.key, &s.token, s.cluster.hsms);
    assert_logged_in(&result_json(&pty.expect(SHELL)));
    pty
}

/// Answers the NEW-password prompt pair, checking that neither echoes.
pub(super) fn answer_pair(pty: &mut Pty, first: &str, second: &str) {
    pty.expect(PASSWORD_PROMPT);
    assert!(pty.wait_for_echo(false), "Enter password: must not echo");
    pty.send_line(first);
    pty.expect(CONFIRM_PROMPT);
    assert!(pty.wait_for_echo(false), "Confirm password: must not echo");
    pty.send_line(second);
}

pub(super) fn record(
    command: &str,
    via: &str,
    user: &str,
    session: Option<&str>,
    pw: &str,
) -> PasswordRecord {
    PasswordRecord {
        command: command.into(),
        via: via.into(),
        user: user.into(),
        session: session.map(str::to_owned),
        password: pw.into(),
    }
}

/// A single command with `CLOUDHSM_PIN`/`CLOUDHSM_ROLE` set to `user`'s session; its result.
pub(super) fn single_command_as(
    cluster: &Cluster,
    session: (&str, &str, &str),
    args: &[&str],
) -> Pty {
    let mut command = cluster.command(args);
    Cluster::apply_pin(&mut command, session.0, session.1, session.2);
    Pty::spawn(command)
}

pub(super) fn password_login(
    cluster: &Cluster,
    user: &str,
    role: &str,
    password: &str,
) -> (Value, Exit) {
    let args = [
        "login",
        "--username",
        user,
        "--role",
        role,
        "--password",
        password,
    ];
    let mut pty = Pty::spawn(cluster.command(&args));
    let json = result_json(&pty.read_to_eof());
    (json, pty.wait())
}

#[test]
fn user_create_asks_the_new_password_twice_in_an_admin_session_and_records_it() {
    let s = Scenario::new(|c| c);
    let mut pty = admin_shell(&s);
    pty.send_line("user create --username newbie --role crypto-user");
    answer_pair(&mut pty, "N3w-pass!", "N3w-pass!");
    let json = result_json(&pty.expect(SHELL));
    assert_eq!(json["error_code"], 0, "{json}");
    assert_eq!(json["data"]["username"], "newbie", "{json}");
    assert_eq!(s.cluster.user("newbie").password, "N3w-pass!");
    assert_eq!(s.cluster.public_key("newbie"), None);

    pty.send_line("user create --username other --role crypto-user");
    answer_pair(&mut pty, "one", "two");
    let json = result_json(&pty.expect(SHELL));
    assert_ne!(json["error_code"], 0, "{json}");
    assert!(json["data"]
        .as_str()
        .expect("message")
        .contains("do not match"));
    pty.send_line("user create --username newbie --role crypto-user --password x");
    let json = result_json(&pty.expect(SHELL));
    assert!(json["data"]
        .as_str()
        .expect("message")
        .contains("already exists"));
    pty.send_line("user create --username flagged --role admin --password Fl4g");
    let json = result_json(&pty.expect(SHELL));
    assert_eq!(json["error_code"], 0, "{json}");
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    pty.assert_absent("N3w-pass!");

    let by = Some(USER);
    assert_eq!(
        s.cluster.passwords_for("user create"),
        [
            record("user create", PASSWORD_PROMPT, "newbie", by, "N3w-pass!"),
            record("user create", CONFIRM_PROMPT, "newbie", by, "N3w-pass!"),
            record("user create", PASSWORD_PROMPT, "other", by, "one"),
            record("user create", CONFIRM_PROMPT, "other", by, "two"),
            record("user create", "--password", "flagged", by, "Fl4g"),
        ]
    );
    assert!(
        s.cluster.state_path.exists() && !s.cluster.passwords_for("login").is_empty(),
        "the admin's own login password is recorded too"
    );
    // The new user logs in with its password; a mismatched pair created nothing.
    let (json, exit) = password_login(&s.cluster, "newbie", "crypto-user", "N3w-pass!");
    assert_eq!(
        (json["error_code"].as_i64(), exit),
        (Some(0), Exit::Code(0))
    );
    let (json, _) = password_login(&s.cluster, "other", "crypto-user", "one");
    assert!(json["data"]
        .as_str()
        .expect("message")
        .contains("does not exist"));

    // A crypto user may not create users; without a session nobody may.
    let session = ("newbie", "crypto-user", "N3w-pass!");
    let args = ["user", "create", "--username", "x", "--role", ROLE];
    let mut pty = single_command_as(&s.cluster, session, &args);
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "only an admin");
    pty.assert_absent(PASSWORD_PROMPT);
    let mut pty = Pty::spawn(s.cluster.command(&args));
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "needs a logged-in user");
    pty.assert_absent(PASSWORD_PROMPT);
    let pin = s.cluster.passwords_for("user create");
    let pin = pin.last().expect("the PIN session's password");
    assert_eq!(
        pin,
        &record("user create", "CLOUDHSM_PIN", "newbie", None, "N3w-pass!")
    );
}

#[test]
fn user_change_password_sets_a_new_password_for_oneself_or_by_an_admin() {
    let s = Scenario::new(|c| c);
    s.cluster
        .add_user(CRYPTO, CRYPTO_ROLE, CRYPTO_PASSWORD, None);
    // A user for itself, in a single command's CLOUDHSM_PIN session.
    let session = (CRYPTO, CRYPTO_ROLE, CRYPTO_PASSWORD);
    let args = [
        "user",
        "change-password",
        "--username",
        CRYPTO,
        "--role",
        CRYPTO_ROLE,
    ];
    let mut pty = single_command_as(&s.cluster, session, &args);
    answer_pair(&mut pty, "Self-set-2", "Self-set-2");
    assert_eq!(result_json(&pty.read_to_eof())["error_code"], 0);
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_eq!(s.cluster.user(CRYPTO).password, "Self-set-2");
    // ...but not another user's.
    let session = (CRYPTO, CRYPTO_ROLE, "Self-set-2");
    let other = [
        "user",
        "change-password",
        "--username",
        USER,
        "--role",
        ROLE,
    ];
    let mut pty = single_command_as(&s.cluster, session, &other);
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "may not change another user");
    assert_eq!(s.cluster.user(USER).password, PASSWORD);

    // Five wrong passwords lock crypto1; an admin's change-password sets and unlocks it.
    for _ in 0..5 {
        password_login(&s.cluster, CRYPTO, CRYPTO_ROLE, "wrong");
    }
    assert_eq!(s.cluster.failed_logins(CRYPTO), 5);
    let mut pty = admin_shell(&s);
    pty.send_line(&format!(
        "user change-password --username {CRYPTO} --role {CRYPTO_ROLE}"
    ));
    answer_pair(&mut pty, "Admin-set-3", "Admin-set-3");
    assert_eq!(result_json(&pty.expect(SHELL))["error_code"], 0);
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    let (json, exit) = password_login(&s.cluster, CRYPTO, CRYPTO_ROLE, "Admin-set-3");
    assert_eq!(
        (json["error_code"].as_i64(), exit),
        (Some(0), Exit::Code(0))
    );
    assert_eq!(s.cluster.failed_logins_total(CRYPTO), 5);
    let records = s.cluster.passwords_for("user change-password");
    let last = records.last().expect("recorded");
    assert_eq!(
        last,
        &record(
            "user change-password",
            CONFIRM_PROMPT,
            CRYPTO,
            Some(USER),
            "Admin-set-3"
        )
    );
}
