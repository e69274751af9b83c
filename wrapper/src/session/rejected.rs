//! What the CLI rejected earlier in this session, so that mfa-login never gives a known-wrong
//! answer twice: each failed login counts toward CloudHSM's five-failure lockout.
//!
//! The AWS guide leaves open whether the CLI judges the password before it hands out the
//! tokens, or the password and the signatures together after Enter. So a rejected login
//! says only that this user, this key and this password do not go together: it rules out
//! signing again for the same user with the same key when the password is the same one
//! (`--password-file`'s, or one the person typed again, told apart by
//! [`super::password::PasswordId`]). With a different password mfa-login answers again: the
//! password may have been the mistake. A failure after mfa-login typed `--password-file`'s
//! password and before any token prompt is the password's: it is not typed again.

use super::password::PasswordId;
use crate::command::User;

/// A login mfa-login answered with signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub user: Option<User>,
    pub fingerprint: String,
    pub password: PasswordId,
}

#[derive(Debug, Default)]
pub struct Rejections {
    attempts: Vec<Attempt>,
    file_password: bool,
}

impl Rejections {
    pub fn login_rejected(&mut self, attempt: Attempt) {
        if !self.attempts.contains(&attempt) {
            self.attempts.push(attempt);
        }
    }

    pub fn file_password_rejected(&mut self) {
        self.file_password = true;
    }

    /// True when the `--password-file` password was rejected before.
    pub fn is_file_password_rejected(&self) -> bool {
        self.file_password
    }

    /// The keys whose signatures for `user`, after `password`, would repeat a rejected login.
    /// An unknown password may be the same as any other.
    pub fn repeated_keys(&self, user: Option<&User>, password: PasswordId) -> Vec<String> {
        let same_user = |a: &Attempt| match (&a.user, user) {
            (Some(a), Some(b)) => a.is(b),
            (None, None) => true,
            _ => false,
        };
        let same_password = |a: &Attempt| {
            a.password == password
                || a.password == PasswordId::Unknown
                || password == PasswordId::Unknown
        };
        self.attempts
            .iter()
            .filter(|a| same_user(a) && same_password(a))
            .map(|a| a.fingerprint.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Option<User> {
        Some(User {
            username: name.into(),
            role: Some("admin".into()),
        })
    }

    fn attempt(name: &str, fp: &str, password: PasswordId) -> Attempt {
        Attempt {
            user: user(name),
            fingerprint: fp.into(),
            password,
        }
    }

    /// Signing for `name` with `fp` after `password` repeats a rejected login.
    fn would_repeat(r: &Rejections, name: &str, fp: &str, password: PasswordId) -> bool {
        r.repeated_keys(user(name).as_ref(), password)
            .iter()
            .any(|key| key == fp)
    }

    #[test]
    fn a_rejected_login_rules_out_the_same_user_key_and_password_only() {
        let typo = PasswordId::Fingerprint([1; 32]);
        let right = PasswordId::Fingerprint([2; 32]);
        let mut r = Rejections::default();
        r.login_rejected(attempt("u", "SHA256:a", typo));
        assert!(would_repeat(&r, "u", "SHA256:a", typo));
        assert!(
            !would_repeat(&r, "u", "SHA256:a", right),
            "another password"
        );
        assert!(!would_repeat(&r, "u", "SHA256:b", typo), "another key");
        assert!(!would_repeat(&r, "v", "SHA256:a", typo), "another user");
        assert!(
            would_repeat(&r, "u", "SHA256:a", PasswordId::Unknown),
            "an unknown password may be the same one"
        );
    }

    #[test]
    fn the_file_password_is_always_the_same_answer() {
        let mut r = Rejections::default();
        r.login_rejected(attempt("u", "SHA256:a", PasswordId::File));
        assert!(would_repeat(&r, "u", "SHA256:a", PasswordId::File));
        assert!(!r.is_file_password_rejected());
        r.file_password_rejected();
        assert!(r.is_file_password_rejected());
    }
}
