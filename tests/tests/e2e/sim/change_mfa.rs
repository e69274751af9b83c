//! `user change-mfa token-sign` typed by hand, the tokens signed with openssl: for oneself
//! (the NEW password, tokens that must verify with the NEW key, no space after the PEM
//! prompt), from an admin's session for another user with `--change-password`, `--deregister`
//! (only the password pair), and never without a session.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, genrsa_traditional, public_key_pem, sign_token_file_openssl,
};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use cloudhsm_mfa_tests::sim::commands::{PASSWORD_PROMPT, PUBLIC_KEY_PROMPT, SIGNED_TOKEN_PROMPT};
use cloudhsm_mfa_tests::sim::fixture::Cluster;
use serde_json::Value;

use super::users::{
    admin_shell, answer_pair, password_login, record, single_command_as, CRYPTO, CRYPTO_PASSWORD,
    CRYPTO_ROLE, SHELL,
};
use super::{
    assert_logged_in, assert_refused, result_json, sign_like_the_guide, Scenario, PASSWORD, ROLE,
    USER,
};

/// Runs `user change-mfa token-sign` for `officer1` in a single command whose session is
/// officer1's own (`CLOUDHSM_PIN`), signing with `signer` and offering `public` as the key.
fn change_mfa(s: &Scenario, signer: &Path, public: &Path) -> (Value, Exit) {
    let token = s.token.to_string_lossy();
    let args = [
        "user",
        "change-mfa",
        "token-sign",
        "--username",
        USER,
        "--role",
        ROLE,
        "--token",
        &token,
    ];
    let mut pty = single_command_as(&s.cluster, (USER, ROLE, PASSWORD), &args);
    answer_pair(&mut pty, PASSWORD, PASSWORD);
    sign_like_the_guide(&mut pty, signer, &s.token, 3);
    pty.expect(PUBLIC_KEY_PROMPT);
    pty.send_line(&public.to_string_lossy());
    let json = result_json(&pty.read_to_eof());
    let exit = pty.wait();
    pty.assert_absent(PASSWORD);
    (json, exit)
}

#[test]
fn change_mfa_registers_a_key_proven_with_openssl() {
    let dir = WorkDir::new();
    let cluster = Cluster::new(dir.path());
    cluster.add_user(USER, ROLE, PASSWORD, None);
    let s = Scenario {
        key: genrsa_traditional(dir.path(), "new-mfa.key", 2048),
        token: dir.join("token.json"),
        cluster,
        dir,
    };
    // Without MFA, the password alone logs in (read from a pipe: stdin is not a terminal).
    let mut child = s
        .cluster
        .command(&["login", "--username", USER, "--role", ROLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the simulator");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{PASSWORD}").expect("type the password");
    drop(stdin);
    let output = child.wait_with_output().expect("wait");
    assert_logged_in(&result_json(&String::from_utf8_lossy(&output.stdout)));
    assert!(output.status.success());

    // Tokens signed with one key but another public key offered: refused, nothing registered.
    let stranger = genrsa(s.dir.path(), "intruder.key", 2048);
    let stranger_pub = public_key_pem(&stranger, &s.dir.join("intruder.pub"));
    let (json, exit) = change_mfa(&s, &s.key, &stranger_pub);
    assert_refused(&json, exit, "do not verify");
    assert_eq!(s.cluster.public_key(USER), None);

    let public = public_key_pem(&s.key, &s.dir.join("new-mfa.pub"));
    let (json, exit) = change_mfa(&s, &s.key, &public);
    assert_logged_in(&json);
    assert_eq!(exit, Exit::Code(0));
    let registered = s.cluster.public_key(USER).expect("a key is registered");
    assert_eq!(registered, s.dir.read_string("new-mfa.pub"));

    // Now the password alone is not enough (nor a CLOUDHSM_PIN session), the new key logs in.
    let (json, exit) = password_login(&s.cluster, USER, ROLE, PASSWORD);
    assert_refused(&json, exit, "requires token-sign MFA");
    let (json, exit) = change_mfa_needs_session(&s, Some((USER, ROLE, PASSWORD)));
    assert_refused(&json, exit, "CLOUDHSM_PIN cannot log it in");
    let (json, exit) = s.login_with(|token| sign_token_file_openssl(&s.key, token));
    assert_logged_in(&json);
    assert_eq!(exit, Exit::Code(0));
}

/// `user change-mfa token-sign` for officer1 as a single command in `session` (or none),
/// which must be refused before any prompt.
fn change_mfa_needs_session(s: &Scenario, session: Option<(&str, &str, &str)>) -> (Value, Exit) {
    let token = s.token.to_string_lossy();
    let args = [
        "user",
        "change-mfa",
        "token-sign",
        "--username",
        USER,
        "--role",
        ROLE,
        "--token",
        &token,
    ];
    let mut pty = match session {
        Some(session) => single_command_as(&s.cluster, session, &args),
        None => Pty::spawn(s.cluster.command(&args)),
    };
    let json = result_json(&pty.read_to_eof());
    let exit = pty.wait();
    pty.assert_absent(PASSWORD_PROMPT);
    (json, exit)
}

#[test]
fn change_mfa_for_oneself_takes_the_new_password_and_tokens_signed_with_the_new_key() {
    let s = Scenario::new(|c| c);
    let new_key = genrsa(s.dir.path(), "officer1-next.key", 2048);
    let new_public = public_key_pem(&new_key, &s.dir.join("officer1-next.pub"));
    let old_public = s.dir.join("officer1.pub");
    let (json, exit) = change_mfa_needs_session(&s, None);
    assert_refused(&json, exit, "needs a logged-in user");

    let mut pty = admin_shell(&s);
    let rotate = s.dir.join("rotate.json");
    let line = format!(
        "user change-mfa token-sign --username {USER} --role {ROLE} --token {}",
        rotate.display()
    );
    // Signed with the old key, the new key offered: refused, nothing changed.
    pty.send_line(&line);
    answer_pair(&mut pty, "Rotated-1", "Rotated-1");
    sign_like_the_guide(&mut pty, &s.key, &rotate, 3);
    pty.expect(PUBLIC_KEY_PROMPT);
    assert!(
        pty.transcript().ends_with(PUBLIC_KEY_PROMPT),
        "no space after the PEM prompt"
    );
    pty.send_line(&new_public.to_string_lossy());
    let json = result_json(&pty.expect(SHELL));
    assert!(
        json["data"]
            .as_str()
            .expect("message")
            .contains("do not verify"),
        "{json}"
    );
    assert_eq!(
        s.cluster.public_key(USER),
        Some(s.dir.read_string(&old_public))
    );
    assert_eq!(s.cluster.user(USER).password, PASSWORD);
    // Signed with the new key: registered, with the new password.
    pty.send_line(&line);
    answer_pair(&mut pty, "Rotated-1", "Rotated-1");
    sign_like_the_guide(&mut pty, &new_key, &rotate, 3);
    pty.expect(PUBLIC_KEY_PROMPT);
    pty.send_line(&new_public.to_string_lossy());
    assert_logged_in(&result_json(&pty.expect(SHELL)));
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_eq!(
        s.cluster.public_key(USER),
        Some(s.dir.read_string(&new_public))
    );
    assert_eq!(s.cluster.user(USER).password, "Rotated-1");
    let records = s.cluster.passwords_for("user change-mfa token-sign");
    assert_eq!(records.len(), 4);
    assert!(records
        .iter()
        .all(|r| r.user == USER && r.session.as_deref() == Some(USER)));

    // The old key no longer logs in; the new one (with the new password) does.
    let mut pty = s.spawn_login(&["--password", "Rotated-1"]);
    sign_like_the_guide(&mut pty, &s.key, &s.token, 3);
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "does not verify");
    let mut pty = s.spawn_login(&["--password", "Rotated-1"]);
    sign_like_the_guide(&mut pty, &new_key, &s.token, 3);
    assert_logged_in(&result_json(&pty.read_to_eof()));
}

#[test]
fn change_mfa_for_another_user_from_an_admin_session_and_deregister() {
    let s = Scenario::new(|c| c);
    let officer2_key = genrsa(s.dir.path(), "officer2.key", 2048);
    let officer2_pub = public_key_pem(&officer2_key, &s.dir.join("officer2.pub"));
    s.cluster
        .add_user("officer2", ROLE, "Officer2-pw", Some(&officer2_pub));
    s.cluster
        .add_user(CRYPTO, CRYPTO_ROLE, CRYPTO_PASSWORD, None);
    let next_key = genrsa(s.dir.path(), "officer2-next.key", 2048);
    let next_pub = public_key_pem(&next_key, &s.dir.join("officer2-next.pub"));

    // A crypto user may not change an admin's MFA.
    let token = s.dir.join("other.json");
    let token_arg = token.to_string_lossy();
    let args = [
        "user",
        "change-mfa",
        "token-sign",
        "--username",
        "officer2",
        "--role",
        ROLE,
        "--token",
        &token_arg,
    ];
    let mut pty = single_command_as(&s.cluster, (CRYPTO, CRYPTO_ROLE, CRYPTO_PASSWORD), &args);
    let json = result_json(&pty.read_to_eof());
    assert_refused(&json, pty.wait(), "may not change another user");
    assert!(!token.exists(), "no token issued");

    // officer1 (admin) rotates officer2's key, the new password given with --change-password.
    let mut pty = admin_shell(&s);
    pty.send_line(&format!(
        "{} --change-password Officer2-new",
        args.join(" ")
    ));
    pty.expect(SIGNED_TOKEN_PROMPT);
    sign_token_file_openssl(&next_key, &token);
    pty.send_line("");
    pty.expect(PUBLIC_KEY_PROMPT);
    pty.send_line(&next_pub.to_string_lossy());
    let json = result_json(&pty.expect(SHELL));
    assert_eq!(json["data"]["username"], "officer2", "{json}");
    assert_eq!(
        s.cluster.public_key("officer2"),
        Some(s.dir.read_string(&next_pub))
    );
    assert_eq!(s.cluster.user("officer2").password, "Officer2-new");
    // The crypto user's refused attempt recorded only its CLOUDHSM_PIN session's password.
    let records = s.cluster.passwords_for("user change-mfa token-sign");
    assert_eq!(
        records,
        [
            record(
                "user change-mfa token-sign",
                "CLOUDHSM_PIN",
                CRYPTO,
                None,
                CRYPTO_PASSWORD
            ),
            record(
                "user change-mfa token-sign",
                "--change-password",
                "officer2",
                Some(USER),
                "Officer2-new"
            )
        ]
    );

    // --deregister: only the password pair, then officer2 has no MFA key.
    let deregister = s.dir.join("deregister.json");
    pty.send_line(&format!(
        "user change-mfa token-sign --username officer2 --role {ROLE} --token {} --deregister",
        deregister.display()
    ));
    answer_pair(&mut pty, "Officer2-3rd", "Officer2-3rd");
    let before = pty.expect(SHELL);
    assert_eq!(result_json(&before)["error_code"], 0, "{before}");
    assert!(
        !before.contains(SIGNED_TOKEN_PROMPT) && !before.contains(PUBLIC_KEY_PROMPT),
        "{before}"
    );
    assert!(!deregister.exists(), "no token file for --deregister");
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_eq!(s.cluster.public_key("officer2"), None);
    let (json, exit) = password_login(&s.cluster, "officer2", ROLE, "Officer2-3rd");
    assert_eq!(
        (json["error_code"].as_i64(), exit),
        (Some(0), Exit::Code(0))
    );
    // officer1 itself is untouched.
    assert_eq!(
        s.cluster.public_key(USER),
        Some(s.dir.read_string("officer1.pub"))
    );
    assert_eq!(s.cluster.user(USER).password, PASSWORD);
}
