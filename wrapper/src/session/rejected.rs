//! What the CLI rejected earlier in this session, so that mfa-login never gives a known-wrong
//! answer twice: each failed login counts toward CloudHSM's five-failure lockout.
//!
//! mfa-login learns it from the result JSON (`"error_code": N`) that follows its answers:
//! - a login whose token prompt it answered, then failed: that username, role and key are
//!   not used again;
//! - a command it typed the `--password-file` password for, that failed before any token
//!   prompt: that password is not typed again. The CLI checks the password before it writes
//!   the tokens, so a failure there is the password's (or the username's; either way the
//!   same answer would fail again).
//!
//! A change-mfa (recognised by its public-key prompt) is not a login: its failure says nothing
//! about the key the user logs in with.

/// A login mfa-login answered with signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SignedLogin {
    pub username: Option<String>,
    pub role: Option<String>,
    pub fingerprint: String,
}

/// What a result JSON taught.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lesson {
    Nothing,
    LoginRejected(SignedLogin),
    PasswordRejected,
}

#[derive(Debug, Default)]
pub(super) struct Rejections {
    /// The login whose result is awaited, after mfa-login answered its token prompt.
    awaited_login: Option<SignedLogin>,
    /// mfa-login typed the password, and no token prompt came since.
    awaited_password: bool,
    logins: Vec<SignedLogin>,
    password: bool,
}

impl Rejections {
    /// mfa-login typed the `--password-file` password.
    pub fn password_typed(&mut self) {
        self.awaited_password = true;
    }

    /// A token prompt came: the password was accepted. `answered` is the login mfa-login
    /// signed for, if it answered.
    pub fn token_prompt(&mut self, answered: Option<SignedLogin>) {
        self.awaited_password = false;
        self.awaited_login = answered;
    }

    /// The public-key prompt came: the command is a change-mfa, not a login.
    pub fn public_key_prompt(&mut self) {
        self.awaited_login = None;
    }

    /// The interactive prompt came back: whatever was awaited has had its result.
    pub fn command_done(&mut self) {
        self.awaited_login = None;
        self.awaited_password = false;
    }

    /// The CLI printed a result with this `error_code`.
    pub fn result(&mut self, error_code: i64) -> Lesson {
        let login = self.awaited_login.take();
        let password = std::mem::take(&mut self.awaited_password);
        if error_code == 0 {
            return Lesson::Nothing;
        }
        match login {
            Some(login) => {
                if !self.logins.contains(&login) {
                    self.logins.push(login.clone());
                }
                Lesson::LoginRejected(login)
            }
            None if password => {
                self.password = true;
                Lesson::PasswordRejected
            }
            None => Lesson::Nothing,
        }
    }

    /// True when this login, with this key, was rejected before.
    pub fn login_rejected(&self, login: &SignedLogin) -> bool {
        self.logins.contains(login)
    }

    /// True when the `--password-file` password was rejected before.
    pub fn password_rejected(&self) -> bool {
        self.password
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str, fingerprint: &str) -> SignedLogin {
        SignedLogin {
            username: Some(user.into()),
            role: Some("admin".into()),
            fingerprint: fingerprint.into(),
        }
    }

    #[test]
    fn a_failed_login_is_remembered_with_its_key() {
        let mut r = Rejections::default();
        r.password_typed();
        r.token_prompt(Some(login("u", "SHA256:a")));
        assert_eq!(r.result(1), Lesson::LoginRejected(login("u", "SHA256:a")));
        assert!(r.login_rejected(&login("u", "SHA256:a")));
        assert!(!r.login_rejected(&login("u", "SHA256:b")));
        assert!(!r.login_rejected(&login("v", "SHA256:a")));
        assert!(
            !r.password_rejected(),
            "the tokens failed, not the password"
        );
        // A later result without an answer of mfa-login's teaches nothing.
        assert_eq!(r.result(1), Lesson::Nothing);
    }

    #[test]
    fn success_and_change_mfa_teach_nothing() {
        let mut r = Rejections::default();
        r.token_prompt(Some(login("u", "SHA256:a")));
        assert_eq!(r.result(0), Lesson::Nothing);
        r.token_prompt(Some(login("u", "SHA256:a")));
        r.public_key_prompt();
        assert_eq!(r.result(1), Lesson::Nothing);
        assert!(!r.login_rejected(&login("u", "SHA256:a")));
    }

    #[test]
    fn a_failure_before_the_token_prompt_is_the_passwords() {
        let mut r = Rejections::default();
        r.password_typed();
        assert_eq!(r.result(1), Lesson::PasswordRejected);
        assert!(r.password_rejected());
        let mut r = Rejections::default();
        r.password_typed();
        r.command_done();
        assert_eq!(r.result(1), Lesson::Nothing);
    }
}
