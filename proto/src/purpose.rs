//! What a key is for, held as our `purpose@cloudhsm-mfa` key constraint: `token` keys sign
//! CloudHSM tokens only (no SSH userauth, no SSHSIG, no other raw signature), `ssh` keys sign
//! SSH requests only, never tokens. The token-sign rule signs any 32 bytes as a SHA-256
//! digest, so a key that does both is a signing oracle for RSA-SHA256 over any message: only
//! when asked for (`token,ssh`). A key added without the constraint (OpenSSH's `ssh-add`) is
//! an `ssh` key, as OpenSSH's websafe rule keeps FIDO keys to what they were made for.

use crate::{Error, Result};

/// The constraint's name; its value is the purpose as text (`token`, `ssh`, `token,ssh`).
pub const PURPOSE_CONSTRAINT: &str = "purpose@cloudhsm-mfa";

/// Each key's blob and purpose, in the agent's order (the `key-purposes@cloudhsm-mfa` reply).
pub type KeyPurposes = Vec<(Vec<u8>, Purpose)>;

/// What a key may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purpose {
    pub token: bool,
    pub ssh: bool,
}

impl Purpose {
    /// CloudHSM tokens only: what `mfa-add` adds.
    pub const TOKEN: Purpose = Purpose {
        token: true,
        ssh: false,
    };
    /// SSH only: what a key added without the constraint is.
    pub const SSH: Purpose = Purpose {
        token: false,
        ssh: true,
    };
    pub const BOTH: Purpose = Purpose {
        token: true,
        ssh: true,
    };

    /// `token`, `ssh`, or both comma-separated in either order.
    pub fn parse(text: &str) -> Result<Purpose> {
        let mut purpose = Purpose {
            token: false,
            ssh: false,
        };
        for word in text.split(',') {
            match word.trim() {
                "token" => purpose.token = true,
                "ssh" => purpose.ssh = true,
                _ => return Err(Error::BadPurpose(text.to_owned())),
            }
        }
        Ok(purpose)
    }

    pub fn as_str(self) -> &'static str {
        match (self.token, self.ssh) {
            (true, false) => "token",
            (false, true) => "ssh",
            _ => "token,ssh",
        }
    }
}

impl Default for Purpose {
    fn default() -> Self {
        Purpose::SSH
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_read_and_write_as_words() {
        assert_eq!(Purpose::parse("token").expect("token"), Purpose::TOKEN);
        assert_eq!(Purpose::parse("ssh").expect("ssh"), Purpose::SSH);
        assert_eq!(Purpose::parse("ssh,token").expect("both"), Purpose::BOTH);
        assert_eq!(Purpose::BOTH.as_str(), "token,ssh");
        for bad in ["", "tokens", "token,", "web"] {
            assert!(Purpose::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Purpose::default(),
            Purpose::SSH,
            "ssh-add's keys are SSH keys"
        );
    }
}
