//! The password log: every password the simulator is given, with the command, the prompt or
//! option it came through, the user it is the password of, and who was logged in, so a test
//! can assert who typed what (for example that mfa-login never typed a new user's password).
//!
//! One JSON object per line, appended (`CLOUDHSM_SIM_PASSWORD_LOG`, by default
//! `cloudhsm-sim-passwords.jsonl` beside the state file):
//!
//! ```json
//! {"command": "user create", "via": "Enter password:", "user": "newbie", "session": "officer1", "password": "N3w!"}
//! ```
//!
//! `via` is the prompt's text (`Enter password:`, `Confirm password:`), the option
//! (`--password`, `--change-password`), `argument` (cloudhsm_mgmt_util's positional password)
//! or `CLOUDHSM_PIN`. `session` is the logged-in user, or null. Plain text: a test fixture.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// How a password reached the simulator when it came through an option or argument.
pub const VIA_PASSWORD_OPTION: &str = "--password";
pub const VIA_CHANGE_PASSWORD_OPTION: &str = "--change-password";
pub const VIA_ARGUMENT: &str = "argument";
pub const VIA_PIN: &str = "CLOUDHSM_PIN";

/// One password given to the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRecord {
    /// `login`, `user create`, `user change-password`, `user change-mfa token-sign`,
    /// `loginHSM`, `createUser`, `changePswd`, or `CLOUDHSM_PIN` for a single command's session.
    pub command: String,
    /// The prompt's text, the option, `argument` or `CLOUDHSM_PIN`.
    pub via: String,
    /// Whose password it is (the user logging in, created or changed).
    pub user: String,
    /// Who was logged in when it was given.
    pub session: Option<String>,
    pub password: String,
}

impl PasswordRecord {
    fn to_json(&self) -> Value {
        json!({
            "command": self.command,
            "via": self.via,
            "user": self.user,
            "session": self.session,
            "password": self.password,
        })
    }

    fn from_json(value: &Value) -> Option<PasswordRecord> {
        let field = |f: &str| value.get(f).and_then(Value::as_str).map(str::to_owned);
        Some(PasswordRecord {
            command: field("command")?,
            via: field("via")?,
            user: field("user")?,
            session: field("session"),
            password: field("password")?,
        })
    }
}

/// Appends one record to the log (one write of one line, so concurrent simulators do not
/// interleave within a record).
pub fn append(path: &Path, record: &PasswordRecord) -> Result<()> {
    let mut line = serde_json::to_string(&record.to_json())?;
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the password log {}", path.display()))?;
    file.write_all(line.as_bytes())
        .with_context(|| format!("cannot write the password log {}", path.display()))
}

/// Every record in the log, oldest first; a missing log is empty.
pub fn read_all(path: &Path) -> Result<Vec<PasswordRecord>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .with_context(|| format!("{} holds a line that is not JSON", path.display()))?;
            PasswordRecord::from_json(&value)
                .with_context(|| format!("{} holds an incomplete record: {line}", path.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_reads_back_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("passwords.jsonl");
        assert!(read_all(&path).expect("missing is empty").is_empty());
        let first = PasswordRecord {
            command: "login".into(),
            via: "Enter password:".into(),
            user: "officer1".into(),
            session: None,
            password: "pw".into(),
        };
        let second = PasswordRecord {
            command: "user create".into(),
            via: "Confirm password:".into(),
            user: "newbie".into(),
            session: Some("officer1".into()),
            password: "new \"pw\"".into(),
        };
        append(&path, &first).expect("append");
        append(&path, &second).expect("append");
        assert_eq!(read_all(&path).expect("read"), [first, second]);
    }
}
