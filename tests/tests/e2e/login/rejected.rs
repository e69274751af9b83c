//! mfa-login never repeats an answer the CLI rejected earlier in the same session: a login
//! signed with a key the cluster does not know, and a `--password-file` password that is
//! wrong. Judged by the simulator's failure count in its state file.

use cloudhsm_mfa_tests::harness::agent::fingerprint;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, public_key_pem, read_signatures};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::sim::commands::{PASSWORD_PROMPT, SIGNED_TOKEN_PROMPT};

use super::{agent_in, login_args, Setup, PASSWORD, ROLE, SUCCESS, USER};

const SHELL: &str = "aws-cloudhsm > ";

/// Reads the next `mfa-login: error:` line and the `hint:` line after it, as
/// `MESSAGE (hint: HINT)`.
fn error_line(pty: &mut Pty) -> String {
    pty.expect("mfa-login: error: ");
    let message = pty.expect("\n").trim_end().to_owned();
    pty.expect("hint: ");
    let hint = pty.expect("\n").trim_end().to_owned();
    format!("{message} (hint: {hint})")
}

#[test]
fn a_login_rejected_with_a_key_is_not_signed_with_it_again() {
    let s = Setup::new();
    let stranger_key = genrsa(s.dir.path(), "stranger.key", 2048);
    let stranger_public = public_key_pem(&stranger_key, &s.dir.join("stranger.pub"));
    let stranger = agent_in(&s.dir, "stranger");
    stranger.add_key(&stranger_key);

    let mut command = s.mfa_login(&s.cluster, &s.password_option(), &["interactive"]);
    command.env("MFA_AUTH_SOCK", stranger.socket());
    let mut pty = Pty::spawn(command);
    pty.expect(SHELL);
    pty.send_line(&login_args("first.json").join(" "));
    pty.expect("\"error_code\": 1");
    pty.expect(SHELL);
    assert_eq!(
        s.cluster.user(USER).failed_logins,
        1,
        "the first login failed"
    );

    pty.send_line(&login_args("second.json").join(" "));
    pty.expect(SIGNED_TOKEN_PROMPT);
    let line = error_line(&mut pty);
    let expected = format!(
        "the last login as {USER} with key {} and this same password was rejected; not answering again",
        fingerprint(&stranger_public)
    );
    assert!(line.starts_with(&expected), "{line}");
    let second = s.dir.join("second.json");
    assert!(
        line.contains(&format!(
            "mfa-sign --key FP {}, and press Enter",
            second.display()
        )),
        "the hint says how to finish by hand: {line}"
    );
    assert!(
        read_signatures(&second).iter().all(Vec::is_empty),
        "the token file is left unsigned for the user"
    );
    // No Enter was sent: the simulator still waits at the prompt and takes this line, which
    // names no readable file (a failure the simulator does not count).
    pty.send_line("typed-by-the-user");
    pty.expect("signed token file typed-by-the-user");
    pty.expect(SHELL);
    assert_eq!(
        s.cluster.user(USER).failed_logins,
        1,
        "the second login was not answered with the rejected key"
    );
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
}

#[test]
fn a_rejected_password_file_is_not_typed_again() {
    let s = Setup::new();
    let wrong = s.dir.write("wrong-password", "not-the-password\n");
    let options = ["--password-file", wrong.to_str().expect("UTF-8 path")];
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, &options, &["interactive"]));
    pty.expect(SHELL);
    pty.send_line(&login_args("first.json").join(" "));
    pty.expect("incorrect password");
    pty.expect(SHELL);
    assert_eq!(s.cluster.user(USER).failed_logins, 1);

    pty.send_line(&login_args("second.json").join(" "));
    pty.expect(PASSWORD_PROMPT);
    let line = error_line(&mut pty);
    assert!(
        line.starts_with(
            "the password from --password-file was rejected earlier in this session; not \
             typing it again (hint: type the password yourself"
        ),
        "{line}"
    );
    assert_eq!(s.cluster.user(USER).failed_logins, 1, "not typed again");
    // The user types it; mfa-login still signs the tokens.
    pty.send_line(PASSWORD);
    pty.expect(SUCCESS);
    pty.expect(SHELL);
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_eq!(s.cluster.user(USER).failed_logins, 0);
    assert_eq!(s.cluster.user(USER).role, ROLE);
}
