//! Issue 15, mfa-login answers by command: it never types into a prompt that sets a password
//! (user create, change-password, change-mfa's pair), with or without `--password-file`, as
//! the simulator's password log shows; it answers nothing for another user's change-mfa; it
//! rotates its own key with `--key OLD --new-key NEW`. The login orders, piped scripts and
//! cloudhsm_mgmt_util are in [`flows`].

mod flows;

use std::path::Path;
use std::time::Duration;

use cloudhsm_mfa_tests::harness::agent::fingerprint;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, public_key_pem, read_signatures};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::sim::commands::{
    CONFIRM_PROMPT, PASSWORD_PROMPT, PUBLIC_KEY_PROMPT, SIGNED_TOKEN_PROMPT,
};
use cloudhsm_mfa_tests::sim::fixture::{self, Cluster};
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;

use super::{assert_signed_by, login_args, Setup, PASSWORD, ROLE, SUCCESS, USER};

pub(crate) const SHELL: &str = "aws-cloudhsm > ";
pub(crate) const ADMIN: &str = "officer1";
const ADMIN_ROLE: &str = "admin";

/// An expectation that fails fast: these tests wait for prompts mfa-login may have answered.
const TIMEOUT: Duration = Duration::from_secs(15);

/// `officer1`, an admin whose MFA key is the agent's key and whose password is the
/// password file's.
pub(crate) fn add_admin(s: &Setup) {
    s.cluster
        .add_user(ADMIN, ADMIN_ROLE, PASSWORD, Some(&s.public));
}

/// `mfa-login OPTIONS -- cloudhsm-cli-sim interactive`, logged in hands-free as `user`
/// (the test types the password when `options` has no `--password-file`).
pub(crate) fn session_as(s: &Setup, options: &[&str], user: &str, role: &str) -> Pty {
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, options, &["interactive"]));
    pty.set_timeout(TIMEOUT);
    pty.expect(SHELL);
    pty.send_line(&fixture::login_args(user, role, "session-login.json").join(" "));
    if !options.contains(&"--password-file") {
        pty.expect(PASSWORD_PROMPT);
        pty.send_line(PASSWORD);
    }
    pty.expect(SUCCESS);
    pty.expect(SHELL);
    pty
}

/// Types `password` at the NEW-password pair the way a person does: each prompt waited for.
pub(crate) fn type_pair(pty: &mut Pty, password: &str) {
    pty.expect(PASSWORD_PROMPT);
    pty.send_line(password);
    pty.expect(CONFIRM_PROMPT);
    pty.send_line(password);
}

/// What the simulator recorded for `command`: (prompt or option, whose, password).
pub(crate) fn recorded(cluster: &Cluster, command: &str) -> Vec<(String, String, String)> {
    cluster
        .passwords_for(command)
        .into_iter()
        .map(|r| (r.via, r.user, r.password))
        .collect()
}

/// The pair as the test typed it for `user`.
fn typed_pair(user: &str, password: &str) -> Vec<(String, String, String)> {
    [PASSWORD_PROMPT, CONFIRM_PROMPT]
        .iter()
        .map(|via| (via.to_string(), user.to_owned(), password.to_owned()))
        .collect()
}

pub(crate) fn same_key(pem: &str, public: &Path) -> bool {
    let file = std::fs::read_to_string(public).expect("read the public key");
    RsaPublicKey::from_public_key_pem(pem.trim()).ok()
        == RsaPublicKey::from_public_key_pem(file.trim()).ok()
}

#[test]
fn never_types_into_the_new_password_prompts_with_or_without_a_password_file() {
    for with_file in [true, false] {
        let s = Setup::new();
        add_admin(&s);
        let options: Vec<&str> = if with_file {
            s.password_option().to_vec()
        } else {
            vec![]
        };
        let mut pty = session_as(&s, &options, ADMIN, ADMIN_ROLE);
        pty.send_line("user create --username newbie --role crypto-user");
        type_pair(&mut pty, "Newbie-1st");
        pty.expect(SUCCESS);
        pty.expect(SHELL);
        pty.send_line("user change-password --username newbie --role crypto-user");
        type_pair(&mut pty, "Newbie-2nd");
        pty.expect(SUCCESS);
        pty.expect(SHELL);
        // change-mfa for oneself: the pair is the person's; the tokens and key are mfa-login's.
        pty.send_line(&format!(
            "user change-mfa token-sign --username {ADMIN} --role {ADMIN_ROLE} --token self.json"
        ));
        type_pair(&mut pty, "Officer1-new");
        pty.expect(SUCCESS);
        pty.expect(SHELL);
        pty.send_line("quit");
        assert_eq!(
            pty.wait(),
            Exit::Code(0),
            "with --password-file: {with_file}"
        );

        assert_eq!(
            recorded(&s.cluster, "user create"),
            typed_pair("newbie", "Newbie-1st")
        );
        assert_eq!(
            recorded(&s.cluster, "user change-password"),
            typed_pair("newbie", "Newbie-2nd")
        );
        assert_eq!(
            recorded(&s.cluster, "user change-mfa token-sign"),
            typed_pair(ADMIN, "Officer1-new")
        );
        assert_eq!(s.cluster.user("newbie").password, "Newbie-2nd");
        assert_eq!(s.cluster.user(ADMIN).password, "Officer1-new");
        assert_signed_by(&s.public, &s.dir.join("self.json"), s.cluster.hsms);
    }
}

#[test]
fn change_mfa_for_another_user_answers_neither_prompt_and_leaves_its_key() {
    let s = Setup::new();
    add_admin(&s);
    let other_key = genrsa(s.dir.path(), "officer2.key", 2048);
    let other_pub = public_key_pem(&other_key, &s.dir.join("officer2.pub"));
    s.cluster
        .add_user("officer2", ADMIN_ROLE, "Officer2-pw", Some(&other_pub));
    let before = s.cluster.public_key("officer2");

    let mut pty = session_as(&s, &s.password_option(), ADMIN, ADMIN_ROLE);
    pty.send_line(&format!(
        "user change-mfa token-sign --username officer2 --role {ADMIN_ROLE} --token other.json"
    ));
    type_pair(&mut pty, "Officer2-new");
    pty.expect(SIGNED_TOKEN_PROMPT);
    // mfa-login says at once why it leaves the prompt alone (no fixed wait needed).
    pty.expect("mfa-login: error: this registers an MFA key for officer2");
    let other = s.dir.join("other.json");
    assert!(
        read_signatures(&other).iter().all(Vec::is_empty),
        "officer2's tokens are not signed with officer1's key"
    );
    // The person gives up: a file that does not exist, and no public key.
    pty.send_line("not-signed.json");
    pty.expect(PUBLIC_KEY_PROMPT);
    pty.expect("mfa-login: error: this registers an MFA key for officer2");
    pty.send_line("");
    pty.expect("no public key file given");
    pty.expect(SHELL);
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_eq!(
        s.cluster.public_key("officer2"),
        before,
        "officer2's key unchanged"
    );
    assert_eq!(s.cluster.user("officer2").password, "Officer2-pw");
    assert_eq!(
        recorded(&s.cluster, "user change-mfa token-sign"),
        typed_pair("officer2", "Officer2-new")
    );
}

#[test]
fn rotation_in_one_session_with_key_old_and_new_key_new() {
    let s = Setup::new();
    let new_key = genrsa(s.dir.path(), "crypto1-next.key", 2048);
    let new_pub = public_key_pem(&new_key, &s.dir.join("crypto1-next.pub"));
    s.agent.add_key(&new_key);
    let (old_fp, new_fp) = (fingerprint(&s.public), fingerprint(&new_pub));
    let mut options = s.password_option().to_vec();
    options.extend(["--key", &old_fp, "--new-key", &new_fp]);

    let mut pty = session_as(&s, &options, USER, ROLE);
    assert_signed_by(&s.public, &s.dir.join("session-login.json"), s.cluster.hsms);
    pty.send_line(&format!(
        "user change-mfa token-sign --username {USER} --role {ROLE} --token rotate.json \
         --change-password {PASSWORD}"
    ));
    pty.expect(SUCCESS);
    // mfa-login says which key the HSM now knows, for whom (after the CLI's result, which
    // comes with its next prompt).
    pty.expect(&format!(
        "mfa-login: registered {new_fp} as the MFA key of {USER} ({ROLE})"
    ));
    assert_signed_by(&new_pub, &s.dir.join("rotate.json"), s.cluster.hsms);
    let registered = s.cluster.public_key(USER).expect("a key is registered");
    assert!(same_key(&registered, &new_pub), "the NEW key is registered");
    // The next login of the session signs with the new key.
    pty.send_line(&login_args("after.json").join(" "));
    pty.expect(SUCCESS);
    pty.expect(SHELL);
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_signed_by(&new_pub, &s.dir.join("after.json"), s.cluster.hsms);

    // A fresh mfa-login --key NEW logs in.
    let mut options = s.password_option().to_vec();
    options.extend(["--key", &new_fp]);
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, &options, &login_args("fresh.json")));
    pty.expect(SUCCESS);
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_eq!(s.cluster.failed_logins_total(USER), 0);
}
