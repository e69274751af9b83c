//! Issue 15's other flows through mfa-login: the tokens-first login order (a mistyped
//! password does not make the right key look rejected; the same wrong password twice is not
//! answered again), a whole session piped on stdin, and cloudhsm_mgmt_util's `-2fa` commands
//! answered hands-free (createUser with `PublicKey` filled in, by mfa-login and by mfa-sign).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::fingerprint;
use cloudhsm_mfa_tests::harness::authdata::{
    read_authdata_digests, read_authdata_public_key, read_authdata_signatures,
};
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{read_signatures, verify_openssl};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::sim::commands::{PASSWORD_PROMPT, SIGNED_TOKEN_PROMPT};
use cloudhsm_mfa_tests::sim::config::Order;
use cloudhsm_mfa_tests::sim::mgmt::{FILENAME_PROMPT, MGMT_PROMPT};

use super::super::{assert_signed_by, login_args, Setup, PASSWORD, SUCCESS, USER};
use super::{add_admin, same_key, ADMIN, SHELL};

const FAILURE: &str = "\"error_code\": 1";

/// One login typed at the shell with `password` typed by the person.
fn login_typing(pty: &mut Pty, token: &str, password: &str) {
    pty.send_line(&login_args(token).join(" "));
    pty.expect(PASSWORD_PROMPT);
    pty.send_line(password);
}

#[test]
fn tokens_first_a_mistyped_password_then_the_right_one_both_hands_free() {
    let s = Setup::new();
    let cluster = s.cluster.clone().with_order(Order::TokensFirst);
    let mut pty = Pty::spawn(s.mfa_login(&cluster, &[], &["interactive"]));
    pty.expect(SHELL);
    login_typing(&mut pty, "first.json", "Mistyped-pw");
    pty.expect(FAILURE);
    pty.expect(SHELL);
    assert_signed_by(&s.public, &s.dir.join("first.json"), cluster.hsms);
    login_typing(&mut pty, "second.json", PASSWORD);
    pty.expect(SUCCESS);
    pty.expect(SHELL);
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_signed_by(&s.public, &s.dir.join("second.json"), cluster.hsms);
    assert_eq!(
        s.cluster.failed_logins_total(USER),
        1,
        "only the mistyped one failed"
    );
}

#[test]
fn tokens_first_the_same_wrong_password_twice_is_not_answered_the_second_time() {
    let s = Setup::new();
    let cluster = s.cluster.clone().with_order(Order::TokensFirst);
    let mut pty = Pty::spawn(s.mfa_login(&cluster, &[], &["interactive"]));
    pty.expect(SHELL);
    login_typing(&mut pty, "first.json", "Mistyped-pw");
    pty.expect(FAILURE);
    pty.expect(SHELL);
    login_typing(&mut pty, "second.json", "Mistyped-pw");
    pty.expect(SIGNED_TOKEN_PROMPT);
    pty.expect("was rejected; not answering again");
    let second = s.dir.join("second.json");
    assert!(
        read_signatures(&second).iter().all(Vec::is_empty),
        "the same password again: not signed"
    );
    // The person answers with a file that does not exist: a failure the CLI does not count.
    pty.send_line("typed-by-the-user");
    pty.expect(FAILURE);
    pty.expect(SHELL);
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_eq!(s.cluster.failed_logins_total(USER), 1);
}

/// `SCRIPT | mfa-login --password-file F -- cloudhsm-cli-sim interactive`, with `env` set;
/// its exit status and stdout.
fn run_piped(s: &Setup, script: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut command = s.mfa_login(&s.cluster, &s.password_option(), &["interactive"]);
    command.envs(env.iter().copied());
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mfa-login");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(script.as_bytes()).expect("pipe the script");
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mfa-login did not finish the piped script");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut output)
        .expect("read stdout");
    (status, output)
}

#[test]
fn a_piped_script_of_two_logins_and_quit_with_a_password_file() {
    let s = Setup::new();
    let script = format!(
        "{}\n{}\nquit\n",
        login_args("piped-1.json").join(" "),
        login_args("piped-2.json").join(" ")
    );
    let (status, output) = run_piped(&s, &script, &[]);
    assert!(status.success(), "{status}: {output}");
    assert_eq!(output.matches(SUCCESS).count(), 2, "{output}");
    assert_eq!(s.cluster.failed_logins_total(USER), 0, "{output}");
    assert_signed_by(&s.public, &s.dir.join("piped-1.json"), s.cluster.hsms);
    assert_signed_by(&s.public, &s.dir.join("piped-2.json"), s.cluster.hsms);
}

#[test]
fn prompt_like_key_labels_in_a_piped_session_are_output_not_prompts() {
    // Bug: a `key list` label reading like the signed-token-file prompt ended the session
    // (125); one reading `Enter password:` made mfa-login feed it the script's next line.
    let s = Setup::new();
    let labels = format!("{PASSWORD_PROMPT}\n{SIGNED_TOKEN_PROMPT}\nan ordinary label");
    let script = format!(
        "key list\n{}\nkey list\nquit\n",
        login_args("labels.json").join(" ")
    );
    let (status, output) = run_piped(&s, &script, &[("CLOUDHSM_SIM_KEY_LABELS", &labels)]);
    assert!(status.success(), "{status}: {output}");
    assert_eq!(output.matches("\"matched_keys\": 3").count(), 2, "{output}");
    assert_eq!(output.matches(SUCCESS).count(), 3, "{output}");
    assert_signed_by(&s.public, &s.dir.join("labels.json"), s.cluster.hsms);
    // The one password typed went to the login's own prompt.
    let typed = s.cluster.passwords();
    assert_eq!(typed.len(), 1, "{typed:?}");
    assert_eq!(typed[0].command, "login");
    assert_eq!(s.cluster.failed_logins_total(USER), 0, "{output}");
}

#[test]
fn mgmt_util_login_hsm_and_create_user_with_2fa_hands_free() {
    let s = Setup::new();
    add_admin(&s);
    // createUser registers the new user's key: mfa-login takes only one named by --new-key.
    let new_key = fingerprint(&s.public);
    let options = ["--new-key", new_key.as_str()];
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, &options, &["mgmt-util"]));
    pty.expect(MGMT_PROMPT);
    let login = s.dir.join("login-authdata.json");
    pty.send_line(&format!(
        "loginHSM CO {ADMIN} {PASSWORD} -2fa {}",
        login.display()
    ));
    pty.expect("loginHSM success on server 0(10.0.0.1)");
    pty.expect(MGMT_PROMPT);
    for (digest, signature) in read_authdata_digests(&login)
        .iter()
        .zip(read_authdata_signatures(&login))
    {
        assert!(
            verify_openssl(&s.public, digest, &signature),
            "openssl verifies"
        );
    }

    let create = s.dir.join("create-authdata.json");
    pty.send_line(&format!(
        "createUser CU newbie Newbie-pw1 -2fa {}",
        create.display()
    ));
    pty.expect("createUser success on server 0(10.0.0.1)");
    pty.expect(MGMT_PROMPT);
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert!(
        same_key(&read_authdata_public_key(&create), &s.public),
        "PublicKey filled"
    );
    let registered = s.cluster.public_key("newbie").expect("newbie has a key");
    assert!(same_key(&registered, &s.public));
    assert_eq!(s.cluster.failed_logins_total(ADMIN), 0);
}

#[test]
fn mfa_sign_fills_an_empty_public_key_for_create_user() {
    let s = Setup::new();
    // An officer without 2FA logs in by password; the key is the new user's.
    s.cluster.add_user(ADMIN, "admin", PASSWORD, None);
    let mut pty = Pty::spawn(s.cluster.mgmt_util());
    pty.expect(MGMT_PROMPT);
    pty.send_line(&format!("loginHSM CO {ADMIN} {PASSWORD}"));
    pty.expect("loginHSM success");
    pty.expect(MGMT_PROMPT);
    let create = s.dir.join("create-authdata.json");
    pty.send_line(&format!(
        "createUser CU newbie Newbie-pw1 -2fa {}",
        create.display()
    ));
    pty.expect(FILENAME_PROMPT);
    assert_eq!(
        read_authdata_public_key(&create),
        "",
        "createUser asks for the key"
    );
    let output = Command::new(bin("mfa-sign"))
        .arg(&create)
        .env("MFA_AUTH_SOCK", s.agent.socket())
        .output()
        .expect("run mfa-sign");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        same_key(&read_authdata_public_key(&create), &s.public),
        "PublicKey filled"
    );
    for (digest, signature) in read_authdata_digests(&create)
        .iter()
        .zip(read_authdata_signatures(&create))
    {
        assert!(
            verify_openssl(&s.public, digest, &signature),
            "openssl verifies"
        );
    }
    pty.send_line("");
    pty.expect("createUser success on server 0(10.0.0.1)");
    pty.expect(MGMT_PROMPT);
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    let registered = s.cluster.public_key("newbie").expect("newbie has a key");
    assert!(same_key(&registered, &s.public));
}
