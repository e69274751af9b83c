//! One test per answering rule of [`super::Policy`].

use super::*;
use crate::session::password::Fingerprinter;
use std::path::Path;

const ME: &str = "login --username officer1 --role admin mfa-token-sign --token t.json";

/// `--password-file`, `--key OLD`, `--new-key NEW`.
pub(crate) fn options() -> Options {
    Options {
        password_file: true,
        key: Some("OLD".into()),
        new_key: Some("NEW".into()),
        token_file: None,
        keys_for_users: vec![],
        config_file: "config.toml".into(),
    }
}

fn officer(name: &str) -> User {
    User {
        username: name.into(),
        role: Some("admin".into()),
    }
}

/// An interactive session whose next command is `line`.
fn at(policy: &mut Policy, line: &str) {
    assert_eq!(policy.on_prompt(Prompt::Interactive), Decision::Person);
    policy.command_started(Command::from_line(line), PasswordId::Unknown);
}

fn session(options: Options) -> Policy {
    Policy::new(options, Command::Interactive, None)
}

/// Logs in as officer1 through the policy, with the tokens signed by `fp`.
fn logged_in(options: Options, fp: &str) -> Policy {
    let mut p = session(options);
    at(&mut p, ME);
    let d = p.on_prompt(Prompt::Password);
    p.answered(Prompt::Password, &d, None);
    let d = p.on_prompt(Prompt::SignedTokenFile);
    p.answered(Prompt::SignedTokenFile, &d, Some(fp));
    assert!(logged_in_as(&p.on_result(true), "officer1"));
    p
}

/// A successful login of `name`, with or without the offer to remember its key.
fn logged_in_as(lesson: &Lesson, name: &str) -> bool {
    match lesson {
        Lesson::LoggedIn(user) | Lesson::LoggedInWithUnmappedKey { user, .. } => {
            user.username == name
        }
        _ => false,
    }
}

fn signs_with(decision: &Decision) -> Option<&str> {
    match decision {
        Decision::SignTokens { key, .. }
        | Decision::PublicKey { key }
        | Decision::SignAuthData { key, .. } => key.selector.as_deref(),
        _ => None,
    }
}

/// What signing `decision`'s file with the key `fp` would say (see [`KeyChoice::check`]).
fn check(decision: &Decision, fp: &str) -> Result<(), (String, String)> {
    match decision {
        Decision::SignTokens { key, .. } | Decision::SignAuthData { key, .. } => {
            key.check(fp, Path::new("t.json"))
        }
        other => panic!("not a signing decision: {other:?}"),
    }
}

fn is_refusal(decision: &Decision, needle: &str) -> bool {
    matches!(decision, Decision::Refuse { message, .. } if message.contains(needle))
}

#[test]
fn the_password_file_answers_only_a_logins_own_password_prompt() {
    let mut p = session(options());
    at(&mut p, ME);
    assert_eq!(p.on_prompt(Prompt::Password), Decision::TypePassword);
    for line in [
        "user create --username newbie --role crypto-user",
        "user change-password --username officer1 --role admin",
        "user change-mfa token-sign --username officer1 --role admin --token f.json",
        "key list",
    ] {
        at(&mut p, line);
        assert_eq!(p.on_prompt(Prompt::Password), Decision::Person, "{line}");
        assert_eq!(
            p.on_prompt(Prompt::ConfirmPassword),
            Decision::Person,
            "{line}"
        );
    }
    at(&mut p, ME);
    assert_eq!(
        p.on_prompt(Prompt::ConfirmPassword),
        Decision::Person,
        "never Confirm password:"
    );
    let mut p = session(Options {
        password_file: false,
        ..options()
    });
    at(&mut p, ME);
    assert_eq!(p.on_prompt(Prompt::Password), Decision::Person, "no file");
}

#[test]
fn a_file_password_rejected_before_any_token_prompt_is_not_typed_again() {
    let mut p = session(options());
    at(&mut p, ME);
    let d = p.on_prompt(Prompt::Password);
    p.answered(Prompt::Password, &d, None);
    assert_eq!(p.on_result(false), Lesson::FilePasswordRejected);
    at(&mut p, ME);
    assert!(is_refusal(
        &p.on_prompt(Prompt::Password),
        "rejected earlier"
    ));
}

#[test]
fn a_login_is_signed_with_key_and_its_own_token_file_unless_token_file_says() {
    let mut p = session(options());
    at(&mut p, ME);
    assert_eq!(
        p.on_prompt(Prompt::SignedTokenFile),
        Decision::SignTokens {
            file: "t.json".into(),
            cli_file: Some("t.json".into()),
            key: KeyChoice {
                repeats: Repeats {
                    user: "officer1".into(),
                    keys: vec![],
                    elsewhere: vec![],
                    config_file: "config.toml".into(),
                },
                selector: Some("OLD".into()),
                option: "--key",
                for_what: "a CloudHSM login as officer1 (admin)".into(),
            },
        }
    );
    let mut p = session(Options {
        token_file: Some("./t.json".into()),
        ..options()
    });
    at(&mut p, ME);
    assert!(matches!(
        p.on_prompt(Prompt::SignedTokenFile),
        Decision::SignTokens { file, cli_file: Some(_), .. } if file == Path::new("./t.json")
    ));
    at(
        &mut p,
        "login --username officer1 --role admin mfa-token-sign",
    );
    assert!(matches!(
        p.on_prompt(Prompt::SignedTokenFile),
        Decision::SignTokens { file, cli_file: None, .. } if file == Path::new("./t.json")
    ));
}

#[test]
fn a_token_file_option_that_names_another_file_than_the_command_is_not_signed() {
    let mut p = session(Options {
        token_file: Some("mine.json".into()),
        ..options()
    });
    at(&mut p, ME);
    match p.on_prompt(Prompt::SignedTokenFile) {
        Decision::Refuse { message, hint } => {
            assert!(
                message.contains("--token-file mine.json and the command's --token t.json"),
                "{message}"
            );
            assert!(
                hint.contains("mfa-sign t.json"),
                "the CLI's own file: {hint}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_login_without_a_token_file_is_not_guessed() {
    let mut p = session(options());
    at(
        &mut p,
        "login --username officer1 --role admin mfa-token-sign",
    );
    assert!(is_refusal(
        &p.on_prompt(Prompt::SignedTokenFile),
        "which token file"
    ));
}

#[test]
fn change_mfa_for_oneself_registers_the_new_key_else_the_only_key() {
    let mut p = logged_in(options(), "SHA256:old");
    at(
        &mut p,
        "user change-mfa token-sign --username officer1 --role admin --token c.json",
    );
    assert_eq!(
        p.on_prompt(Prompt::Password),
        Decision::Person,
        "a NEW password"
    );
    let d = p.on_prompt(Prompt::SignedTokenFile);
    assert_eq!(signs_with(&d), Some("NEW"));
    p.answered(Prompt::SignedTokenFile, &d, Some("SHA256:new"));
    assert_eq!(signs_with(&p.on_prompt(Prompt::PublicKeyFile)), Some("NEW"));

    let mut p = logged_in(
        Options {
            new_key: None,
            ..options()
        },
        "SHA256:old",
    );
    at(
        &mut p,
        "user change-mfa token-sign --username officer1 --role admin --token c.json",
    );
    let d = p.on_prompt(Prompt::SignedTokenFile);
    assert!(
        matches!(&d, Decision::SignTokens { key, .. } if key.selector.is_none() && key.option == "--new-key"),
        "{d:?}"
    );
}

#[test]
fn change_mfa_for_another_user_is_never_answered() {
    let mut p = logged_in(options(), "SHA256:old");
    at(
        &mut p,
        "user change-mfa token-sign --username officer2 --role admin --token c.json",
    );
    assert!(is_refusal(
        &p.on_prompt(Prompt::SignedTokenFile),
        "for officer2 (admin) while officer1 (admin)"
    ));
    assert!(is_refusal(&p.on_prompt(Prompt::PublicKeyFile), "officer2"));
}

#[test]
fn change_mfa_with_nobody_logged_in_is_never_answered() {
    let mut p = session(options());
    at(
        &mut p,
        "user change-mfa token-sign --username officer1 --role admin --token c.json",
    );
    assert!(is_refusal(
        &p.on_prompt(Prompt::SignedTokenFile),
        "nobody is known"
    ));
    assert!(is_refusal(
        &p.on_prompt(Prompt::PublicKeyFile),
        "nobody is known"
    ));
    // Single-command mode: CLOUDHSM_PIN names who runs the command.
    let change = Command::from_line(
        "user change-mfa token-sign --username officer1 --role admin --token c.json",
    );
    let mut p = Policy::new(options(), change, Some(officer("officer1")));
    assert_eq!(
        signs_with(&p.on_prompt(Prompt::SignedTokenFile)),
        Some("NEW")
    );
}

#[test]
fn deregister_has_nothing_to_sign() {
    let mut p = logged_in(options(), "SHA256:old");
    at(
        &mut p,
        "user change-mfa token-sign --username officer1 --role admin --token c.json --deregister",
    );
    assert_eq!(p.on_prompt(Prompt::Password), Decision::Person);
    assert!(is_refusal(
        &p.on_prompt(Prompt::SignedTokenFile),
        "--deregister"
    ));
}

#[test]
fn after_a_rotation_later_logins_of_that_user_use_the_new_key() {
    let mut p = logged_in(options(), "SHA256:old");
    at(
        &mut p,
        "user change-mfa token-sign --username officer1 --role admin --token c.json",
    );
    let d = p.on_prompt(Prompt::SignedTokenFile);
    p.answered(Prompt::SignedTokenFile, &d, Some("SHA256:new"));
    let d = p.on_prompt(Prompt::PublicKeyFile);
    p.answered(Prompt::PublicKeyFile, &d, Some("SHA256:new"));
    assert_eq!(
        p.on_result(true),
        Lesson::KeyRotated {
            user: officer("officer1"),
            fingerprint: "SHA256:new".into()
        }
    );
    at(&mut p, ME);
    assert_eq!(
        signs_with(&p.on_prompt(Prompt::SignedTokenFile)),
        Some("SHA256:new")
    );
    at(
        &mut p,
        "login --username officer2 --role admin mfa-token-sign --token t.json",
    );
    assert_eq!(
        signs_with(&p.on_prompt(Prompt::SignedTokenFile)),
        Some("OLD")
    );
}

#[test]
fn a_failed_rotation_changes_no_key() {
    let mut p = logged_in(options(), "SHA256:old");
    at(
        &mut p,
        "user change-mfa token-sign --username officer1 --role admin --token c.json",
    );
    let d = p.on_prompt(Prompt::SignedTokenFile);
    p.answered(Prompt::SignedTokenFile, &d, Some("SHA256:new"));
    assert_eq!(p.on_result(false), Lesson::Nothing);
    at(&mut p, ME);
    assert_eq!(
        signs_with(&p.on_prompt(Prompt::SignedTokenFile)),
        Some("OLD")
    );
}

#[test]
fn tokens_first_a_different_password_is_answered_again_the_same_one_is_not() {
    let f = Fingerprinter::with_key([9; 32]);
    let mut p = session(Options {
        password_file: false,
        ..options()
    });
    let attempt = |p: &mut Policy, password: &[u8]| {
        at(p, ME);
        p.person_typed_password(f.fingerprint(password));
        let d = p.on_prompt(Prompt::SignedTokenFile);
        let checked = check(&d, "SHA256:old");
        if checked.is_ok() {
            p.answered(Prompt::SignedTokenFile, &d, Some("SHA256:old"));
        }
        checked
    };
    assert!(attempt(&mut p, b"typo").is_ok());
    assert!(matches!(p.on_result(false), Lesson::LoginRejected(_)));
    assert!(
        attempt(&mut p, b"right").is_ok(),
        "another password: answered"
    );
    assert!(logged_in_as(&p.on_result(true), "officer1"));

    let mut p = session(Options {
        password_file: false,
        ..options()
    });
    assert!(attempt(&mut p, b"typo").is_ok());
    p.on_result(false);
    let again = attempt(&mut p, b"typo");
    assert!(
        matches!(&again, Err((message, _)) if message.contains("was rejected; not answering again")),
        "{again:?}"
    );
}

#[test]
fn a_login_rejected_with_the_file_password_is_not_signed_again_with_that_key() {
    let mut p = session(options());
    at(&mut p, ME);
    let d = p.on_prompt(Prompt::Password);
    p.answered(Prompt::Password, &d, None);
    let d = p.on_prompt(Prompt::SignedTokenFile);
    assert!(check(&d, "SHA256:old").is_ok());
    p.answered(Prompt::SignedTokenFile, &d, Some("SHA256:old"));
    assert!(matches!(p.on_result(false), Lesson::LoginRejected(_)));
    at(&mut p, ME);
    let d = p.on_prompt(Prompt::Password);
    p.answered(Prompt::Password, &d, None);
    let d = p.on_prompt(Prompt::SignedTokenFile);
    assert!(check(&d, "SHA256:old").is_err());
    assert!(
        check(&d, "SHA256:other").is_ok(),
        "another key may be right"
    );
}

#[test]
fn a_prompt_that_comes_straight_back_is_not_answered_again() {
    let mut p = session(options());
    at(&mut p, ME);
    let d = p.on_prompt(Prompt::SignedTokenFile);
    p.answered(Prompt::SignedTokenFile, &d, Some("SHA256:old"));
    assert!(is_refusal(
        &p.on_prompt(Prompt::SignedTokenFile),
        "came back"
    ));
    let d = p.on_prompt(Prompt::Password);
    assert_eq!(d, Decision::TypePassword);
    p.answered(Prompt::Password, &d, None);
    assert!(is_refusal(&p.on_prompt(Prompt::Password), "came back"));
}

#[test]
fn a_logout_forgets_who_is_logged_in() {
    let mut p = logged_in(options(), "SHA256:old");
    assert_eq!(p.logged_in(), Some(&officer("officer1")));
    at(&mut p, "logout");
    assert_eq!(p.on_result(true), Lesson::LoggedOut);
    assert_eq!(p.logged_in(), None);
}

#[test]
fn token_prompts_of_other_commands_are_not_answered() {
    let mut p = session(options());
    at(
        &mut p,
        "quorum token-sign generate --service user --token q.json",
    );
    assert!(is_refusal(
        &p.on_prompt(Prompt::SignedTokenFile),
        "not one mfa-login answers"
    ));
    assert!(is_refusal(
        &p.on_prompt(Prompt::PublicKeyFile),
        "not one mfa-login answers"
    ));
    assert!(is_refusal(
        &p.on_prompt(Prompt::AuthDataFile),
        "not one mfa-login answers"
    ));
}

#[test]
fn mgmt_util_login_signs_with_key_and_create_user_needs_new_key() {
    let mut p = session(options());
    at(&mut p, "loginHSM CO officer1 pw -2fa /tmp/a.json");
    p.authdata_written("/tmp/printed.json".into());
    let d = p.on_prompt(Prompt::AuthDataFile);
    assert_eq!(
        d,
        Decision::SignAuthData {
            file: "/tmp/printed.json".into(),
            key: KeyChoice {
                repeats: Repeats {
                    user: "officer1".into(),
                    keys: vec![],
                    elsewhere: vec![],
                    config_file: "config.toml".into(),
                },
                selector: Some("OLD".into()),
                option: "--key",
                for_what: "a CloudHSM login as officer1 (CO)".into(),
            },
            fill_public_key: false,
        }
    );
    p.answered(Prompt::AuthDataFile, &d, Some("SHA256:old"));
    assert!(logged_in_as(&p.on_result(true), "officer1"));

    at(&mut p, "createUser CU alice pw -2fa /tmp/c.json");
    assert!(matches!(
        p.on_prompt(Prompt::AuthDataFile),
        Decision::SignAuthData { fill_public_key: true, key, file } if key.selector.as_deref() == Some("NEW") && file == Path::new("/tmp/c.json")
    ));
    let mut p = session(Options {
        new_key: None,
        ..options()
    });
    at(&mut p, "createUser CU alice pw -2fa /tmp/c.json");
    assert!(is_refusal(&p.on_prompt(Prompt::AuthDataFile), "--new-key"));
}

#[test]
fn mgmt_util_login_hsm_with_hpswd_is_a_login_password_prompt() {
    let mut p = session(options());
    at(&mut p, "loginHSM CO officer1 -hpswd -2fa /tmp/a.json");
    assert_eq!(p.on_prompt(Prompt::Password), Decision::TypePassword);
    at(&mut p, "createUser CU alice -hpswd -2fa /tmp/c.json");
    assert_eq!(
        p.on_prompt(Prompt::Password),
        Decision::Person,
        "a NEW password"
    );
    assert_eq!(p.on_prompt(Prompt::ConfirmPassword), Decision::Person);
}

#[test]
fn mgmt_util_change_pswd_registers_only_for_the_user_logged_in() {
    let mut p = session(options());
    at(&mut p, "loginHSM CO officer1 pw -2fa /tmp/a.json");
    let d = p.on_prompt(Prompt::AuthDataFile);
    p.answered(Prompt::AuthDataFile, &d, Some("SHA256:old"));
    p.on_result(true);
    at(&mut p, "changePswd CO officer1 newpw -2fa /tmp/p.json");
    assert!(matches!(
        p.on_prompt(Prompt::AuthDataFile),
        Decision::SignAuthData {
            fill_public_key: true,
            ..
        }
    ));
    at(&mut p, "changePswd CO officer2 newpw -2fa /tmp/p.json");
    assert!(is_refusal(&p.on_prompt(Prompt::AuthDataFile), "officer2"));
}

#[test]
fn the_config_file_chooses_a_users_key_and_never_signs_with_another_users() {
    let mut p = session(Options {
        key: None,
        keys_for_users: vec![
            ("officer1".into(), "SHA256:aaa".into()),
            ("officer2".into(), "SHA256:bbb".into()),
        ],
        ..options()
    });
    at(&mut p, ME);
    let d = p.on_prompt(Prompt::SignedTokenFile);
    assert_eq!(
        signs_with(&d),
        Some("SHA256:aaa"),
        "officer1's key, with no --key"
    );
    assert!(check(&d, "SHA256:aaa1234").is_ok());
    let refused = check(&d, "SHA256:bbb1234").expect_err("officer2's key");
    assert!(
        refused
            .0
            .contains("maps key SHA256:bbb1234 to officer2, not to officer1"),
        "{refused:?}"
    );
    // --key wins over the file, but still never another user's key.
    let mut p = session(Options {
        key: Some("SHA256:bbb".into()),
        keys_for_users: vec![("officer2".into(), "SHA256:bbb".into())],
        ..options()
    });
    at(&mut p, ME);
    let d = p.on_prompt(Prompt::SignedTokenFile);
    assert_eq!(signs_with(&d), Some("SHA256:bbb"));
    assert!(check(&d, "SHA256:bbb1234").is_err());
}

#[test]
fn a_login_with_key_and_no_mapping_offers_to_remember_it() {
    let mut p = session(options());
    at(&mut p, ME);
    let d = p.on_prompt(Prompt::SignedTokenFile);
    p.answered(Prompt::SignedTokenFile, &d, Some("SHA256:old"));
    assert_eq!(
        p.on_result(true),
        Lesson::LoggedInWithUnmappedKey {
            user: officer("officer1"),
            fingerprint: "SHA256:old".into()
        }
    );
}
