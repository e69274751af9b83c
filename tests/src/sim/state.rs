//! The simulator's state file: the cluster's users, their passwords, registered MFA public
//! keys and failed-login counts. Read before and written after every command, so several
//! simulator processes (and `add-user` between commands) see the same cluster.
//!
//! Format (JSON, written pretty and atomically):
//!
//! ```json
//! {
//!   "users": {
//!     "officer1": {
//!       "role": "admin",
//!       "password": "Passw0rd!",
//!       "public_key": "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n",
//!       "failed_logins": 0,
//!       "failed_logins_total": 0
//!     },
//!     "crypto1": { "role": "crypto-user", "password": "pw", "public_key": null, "failed_logins": 0 }
//!   }
//! }
//! ```
//!
//! `role` is `admin` or `crypto-user`. `public_key` is the SPKI PEM of the user's token-sign
//! MFA key, `null` (or absent) for a user without MFA. `failed_logins` counts failed logins
//! since the last success; at [`MAX_FAILED_LOGINS`] the account is locked. `failed_logins_total`
//! counts every failed login of the user, never reset by a success (only by `add-user`), so a
//! test can see a failure that a later success hid. A missing file is
//! an empty cluster. Passwords are plain text: this is a test fixture, not a vault.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use serde_json::{json, Map, Value};

/// Failed logins after which an account is locked, as CloudHSM does.
pub const MAX_FAILED_LOGINS: u64 = 5;

/// The roles cloudhsm-cli knows.
pub const ROLES: [&str; 2] = ["admin", "crypto-user"];

/// One user of the simulated cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub role: String,
    pub password: String,
    /// SPKI PEM of the registered MFA key, if the user has token-sign MFA.
    pub public_key: Option<String>,
    pub failed_logins: u64,
    /// Every failed login since the user was added, successes notwithstanding.
    pub failed_logins_total: u64,
}

impl User {
    pub fn is_locked(&self) -> bool {
        self.failed_logins >= MAX_FAILED_LOGINS
    }

    /// The registered MFA key, parsed.
    pub fn mfa_key(&self) -> Result<Option<RsaPublicKey>> {
        self.public_key
            .as_deref()
            .map(|pem| {
                RsaPublicKey::from_public_key_pem(pem)
                    .context("the registered public key is unreadable")
            })
            .transpose()
    }

    fn from_json(name: &str, value: &Value) -> Result<User> {
        let field = |f: &str| value.get(f).and_then(Value::as_str).map(str::to_owned);
        Ok(User {
            role: field("role").with_context(|| format!("user {name:?} has no role"))?,
            password: field("password")
                .with_context(|| format!("user {name:?} has no password"))?,
            public_key: field("public_key"),
            failed_logins: value
                .get("failed_logins")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            failed_logins_total: value
                .get("failed_logins_total")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "role": self.role,
            "password": self.password,
            "public_key": self.public_key,
            "failed_logins": self.failed_logins,
            "failed_logins_total": self.failed_logins_total,
        })
    }
}

/// All users, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    users: Vec<(String, User)>,
}

impl State {
    /// Reads the state file; a missing file is an empty cluster.
    pub fn load(path: &Path) -> Result<State> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let doc: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let Some(users) = doc.get("users").and_then(Value::as_object) else {
            bail!("{} has no \"users\" object", path.display());
        };
        let users = users
            .iter()
            .map(|(name, value)| Ok((name.clone(), User::from_json(name, value)?)))
            .collect::<Result<_>>()?;
        Ok(State { users })
    }

    /// Writes the state file atomically (temporary file in the same folder, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let users: Map<String, Value> = self
            .users
            .iter()
            .map(|(name, user)| (name.clone(), user.to_json()))
            .collect();
        let mut text = serde_json::to_string_pretty(&json!({ "users": users }))?;
        text.push('\n');
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut scratch = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        scratch.write_all(text.as_bytes())?;
        scratch.as_file().sync_all()?;
        scratch
            .persist(path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|(n, _)| n == name).map(|(_, u)| u)
    }

    pub fn user_mut(&mut self, name: &str) -> Option<&mut User> {
        self.users
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, u)| u)
    }

    /// Adds a user, or replaces one of the same name.
    pub fn put_user(&mut self, name: &str, user: User) {
        match self.user_mut(name) {
            Some(existing) => *existing = user,
            None => self.users.push((name.to_owned(), user)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        assert_eq!(
            State::load(&path).expect("missing is empty"),
            State::default()
        );
        let mut state = State::default();
        state.put_user(
            "officer1",
            User {
                role: "admin".into(),
                password: "pw".into(),
                public_key: None,
                failed_logins: 2,
                failed_logins_total: 3,
            },
        );
        state.save(&path).expect("save");
        assert_eq!(State::load(&path).expect("load"), state);
    }
}
