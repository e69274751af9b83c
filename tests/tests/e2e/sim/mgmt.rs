//! `cloudhsm-cli-sim mgmt-util`, cloudhsm_mgmt_util's 2FA commands, driven by hand in a PTY
//! with openssl signing each `Digest`: loginHSM against the registered key, createUser and
//! changePswd against the new key the signer pastes into `PublicKey` (refused when empty).

use std::path::Path;

use cloudhsm_mfa_tests::harness::authdata::{
    read_authdata, read_authdata_digests, read_authdata_public_key, read_authdata_signatures,
    sign_authdata_openssl,
};
use cloudhsm_mfa_tests::harness::openssl::{genrsa, public_key_pem, verify_openssl};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::sim::commands::{CONFIRM_PROMPT, PASSWORD_PROMPT};
use cloudhsm_mfa_tests::sim::mgmt::{FILENAME_PROMPT, LEAVE_BLANK, MGMT_PROMPT};

use super::{Scenario, PASSWORD, USER};

/// Runs a `-2fa FILE` command up to `Enter filename:`, checks what it printed and wrote,
/// lets `sign` sign FILE, and presses Enter; returns the result line(s) before the prompt.
fn two_factor(pty: &mut Pty, line: &str, file: &Path, sign: impl FnOnce(&Path)) -> String {
    pty.send_line(line);
    pty.expect(&format!(
        "Authentication data written to: \"{}\"",
        file.display()
    ));
    pty.expect(LEAVE_BLANK);
    pty.expect(FILENAME_PROMPT);
    let doc = read_authdata(file);
    let fields: Vec<&String> = doc.as_object().expect("an object").keys().collect();
    assert_eq!(fields, ["Version", "PublicKey", "Data"], "{doc}");
    assert_eq!(doc["Version"], "1.0");
    let entries = doc["Data"].as_array().expect("Data");
    assert_eq!(entries.len(), 3, "one digest per HSM: {doc}");
    for entry in entries {
        assert!(
            entry["HsmId"]
                .as_str()
                .is_some_and(|id| id.starts_with("hsm-")),
            "{doc}"
        );
        assert_eq!(entry["Signature"], "", "{doc}");
    }
    sign(file);
    pty.send_line("");
    pty.expect(MGMT_PROMPT)
}

fn login_hsm(pty: &mut Pty, key: &Path, file: &Path) -> String {
    let line = format!("loginHSM CO {USER} {PASSWORD} -2fa {}", file.display());
    two_factor(pty, &line, file, |f| sign_authdata_openssl(key, f, None))
}

#[test]
fn mgmt_util_login_hsm_with_2fa_signed_by_openssl() {
    let s = Scenario::new(|c| c);
    let stranger = genrsa(s.dir.path(), "intruder.key", 2048);
    let mut pty = Pty::spawn(s.cluster.mgmt_util());
    pty.expect(MGMT_PROMPT);
    assert!(
        pty.transcript().ends_with(MGMT_PROMPT),
        "no space after the prompt"
    );

    let file = s.dir.join("authdata.json");
    let result = login_hsm(&mut pty, &s.key, &file);
    for i in 0..3 {
        let success = format!("loginHSM success on server {i}(10.0.0.{})", i + 1);
        assert!(result.contains(&success), "{result}");
    }
    let public = s.dir.join("officer1.pub");
    assert_eq!(read_authdata_public_key(&file), s.dir.read_string(&public));
    for (digest, signature) in read_authdata_digests(&file)
        .iter()
        .zip(read_authdata_signatures(&file))
    {
        assert!(
            verify_openssl(&public, digest, &signature),
            "openssl verifies"
        );
    }
    assert_eq!(s.cluster.failed_logins(USER), 0);

    // Another key's signatures: a counted failure, named by HSM.
    let result = login_hsm(&mut pty, &stranger, &file);
    assert!(
        result.contains("loginHSM failed: 2FA failed: the signature for hsm-"),
        "{result}"
    );
    assert_eq!(s.cluster.failed_logins(USER), 1);
    // A wrong password fails before any file is written; no -2fa is refused for a 2FA user.
    let unused = s.dir.join("unused.json");
    pty.send_line(&format!(
        "loginHSM CO {USER} Wr0ng -2fa {}",
        unused.display()
    ));
    assert!(pty
        .expect(MGMT_PROMPT)
        .contains("loginHSM failed: incorrect password"));
    assert!(!unused.exists());
    assert_eq!(s.cluster.failed_logins(USER), 2);
    pty.send_line(&format!("loginHSM CO {USER} {PASSWORD}"));
    assert!(pty.expect(MGMT_PROMPT).contains("requires 2FA"));
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    let given: Vec<(String, String)> = s
        .cluster
        .passwords_for("loginHSM")
        .into_iter()
        .map(|r| (r.via, r.password))
        .collect();
    let argument = |p: &str| ("argument".to_owned(), p.to_owned());
    assert_eq!(
        given,
        [
            argument(PASSWORD),
            argument(PASSWORD),
            argument("Wr0ng"),
            argument(PASSWORD)
        ]
    );
}

#[test]
fn mgmt_util_create_user_and_change_pswd_need_the_new_key_in_public_key() {
    let s = Scenario::new(|c| c);
    let alice = genrsa(s.dir.path(), "alice.key", 2048);
    let alice_pub = public_key_pem(&alice, &s.dir.join("alice.pub"));
    let next = genrsa(s.dir.path(), "alice-next.key", 2048);
    let next_pub = public_key_pem(&next, &s.dir.join("alice-next.pub"));
    let mut pty = Pty::spawn(s.cluster.mgmt_util());
    pty.expect(MGMT_PROMPT);
    pty.send_line("createUser CU alice Alice-pw1");
    assert!(pty
        .expect(MGMT_PROMPT)
        .contains("createUser failed: not logged in"));
    assert!(login_hsm(&mut pty, &s.key, &s.dir.join("login.json")).contains("loginHSM success"));

    let file = s.dir.join("create.json");
    let create = format!("createUser CU alice Alice-pw1 -2fa {}", file.display());
    // Signed, but PublicKey left empty: refused, nobody created.
    let result = two_factor(&mut pty, &create, &file, |f| {
        assert_eq!(
            read_authdata_public_key(f),
            "",
            "createUser asks for the key"
        );
        sign_authdata_openssl(&alice, f, None);
    });
    assert!(
        result.contains("createUser failed: PublicKey is empty"),
        "{result}"
    );
    // PublicKey of one key, signatures of another: refused.
    let result = two_factor(&mut pty, &create, &file, |f| {
        sign_authdata_openssl(&next, f, Some(&alice_pub))
    });
    assert!(result.contains("does not verify"), "{result}");
    assert!(std::fs::read_to_string(&s.cluster.state_path)
        .expect("state")
        .contains("officer1"));
    // Signed and PublicKey filled: created with that key.
    let result = two_factor(&mut pty, &create, &file, |f| {
        sign_authdata_openssl(&alice, f, Some(&alice_pub))
    });
    assert!(
        result.contains("createUser success on server 2(10.0.0.3)"),
        "{result}"
    );
    let user = s.cluster.user("alice");
    assert_eq!(
        (user.role.as_str(), user.password.as_str()),
        ("crypto-user", "Alice-pw1")
    );
    assert_eq!(user.public_key, Some(s.dir.read_string(&alice_pub)));

    // changePswd rotates the password and the key the same way.
    let file = s.dir.join("change.json");
    let change = format!("changePswd CU alice Alice-pw2 -2fa {}", file.display());
    let result = two_factor(&mut pty, &change, &file, |f| {
        sign_authdata_openssl(&next, f, Some(&next_pub))
    });
    assert!(
        result.contains("changePswd success on server 0(10.0.0.1)"),
        "{result}"
    );
    assert_eq!(s.cluster.user("alice").password, "Alice-pw2");
    assert_eq!(
        s.cluster.public_key("alice"),
        Some(s.dir.read_string(&next_pub))
    );

    // -hpswd asks a new user's password twice without echo.
    pty.send_line("createUser CU bob -hpswd");
    pty.expect(PASSWORD_PROMPT);
    assert!(pty.wait_for_echo(false));
    pty.send_line("Bob-pw1");
    pty.expect(CONFIRM_PROMPT);
    pty.send_line("Bob-pw1");
    assert!(pty.expect(MGMT_PROMPT).contains("createUser success"));
    pty.assert_absent("Bob-pw1");
    assert_eq!(s.cluster.public_key("bob"), None);

    // alice logs in with the new key; a CU may not create users or change another's password.
    let file = s.dir.join("alice-login.json");
    let line = format!("loginHSM CU alice Alice-pw2 -2fa {}", file.display());
    let result = two_factor(&mut pty, &line, &file, |f| {
        sign_authdata_openssl(&next, f, None)
    });
    assert!(result.contains("loginHSM success"), "{result}");
    pty.send_line("createUser CU carol Carol-pw1");
    assert!(pty.expect(MGMT_PROMPT).contains("only a crypto officer"));
    pty.send_line(&format!("changePswd CO {USER} Hijack-1"));
    assert!(pty.expect(MGMT_PROMPT).contains("only its own password"));
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_eq!(s.cluster.user(USER).password, PASSWORD);
    let created = s.cluster.passwords_for("createUser");
    assert!(
        created.iter().all(|r| r.session.as_deref() == Some(USER)),
        "{created:?}"
    );
    // Three -2fa attempts and bob's pair; the refused commands never took a password.
    assert_eq!(created.len(), 3 + 2, "{created:?}");
}
