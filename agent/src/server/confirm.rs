//! Confirm-on-use (`ssh-add -c`, `mfa-add -c`): before each signature with such a key, ask the
//! user through the program named by `MFA_ASKPASS`, else `SSH_ASKPASS`; its exit status decides.
//!
//! The question runs as a child process awaited on tokio, so other clients are served while the
//! user thinks. With no program to ask, the answer is no.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::sys::Peer;

/// How long the user has to answer before the request is refused: one limit for the agent
/// and every client, which waits a little longer.
const ANSWER_TIMEOUT: Duration = client::CONFIRM_TIMEOUT;

/// The askpass program chosen at start-up.
#[derive(Debug, Clone, Default)]
pub struct Confirmer {
    program: Option<OsString>,
}

impl Confirmer {
    /// Asks `program`, or refuses every confirmation with None.
    #[cfg(test)]
    pub fn new(program: Option<OsString>) -> Self {
        Confirmer { program }
    }

    /// `MFA_ASKPASS`, else `SSH_ASKPASS`, from the agent's environment.
    pub fn from_env() -> Self {
        let program = ["MFA_ASKPASS", "SSH_ASKPASS"]
            .iter()
            .filter_map(std::env::var_os)
            .find(|v| !v.is_empty());
        Confirmer { program }
    }

    /// Asks whether `peer` may use the key; `through` says where the request came from (a
    /// forwarded agent's host key); Err says why the answer is no.
    pub async fn ask(
        &self,
        fingerprint: &str,
        comment: &str,
        peer: &Peer,
        through: &str,
    ) -> Result<(), String> {
        let program = self
            .program
            .as_ref()
            .ok_or("no MFA_ASKPASS or SSH_ASKPASS program to ask for confirmation")?;
        let exe = peer.exe.as_ref().map_or_else(
            || "an unknown program".to_owned(),
            |e| e.display().to_string(),
        );
        let pid = peer.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
        let question = format!(
            "Allow use of key {comment}?\nKey fingerprint {fingerprint}.\nRequested by {exe} (pid {pid}, uid {}).\n{through}",
            peer.uid
        );
        let mut child = Command::new(program)
            .arg(&question)
            .env("SSH_ASKPASS_PROMPT", "confirm")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
        match tokio::time::timeout(ANSWER_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("the user declined ({status})")),
            Ok(Err(e)) => Err(format!("waiting for the confirmation program: {e}")),
            Err(_) => Err("no answer in time".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer {
            pid: Some(1),
            uid: 0,
            exe: None,
        }
    }

    #[tokio::test]
    async fn exit_status_decides_and_nothing_to_ask_refuses() {
        let yes = Confirmer {
            program: Some("true".into()),
        };
        let no = Confirmer {
            program: Some("false".into()),
        };
        assert!(yes
            .ask("SHA256:x", "k", &peer(), "Through a local connection.")
            .await
            .is_ok());
        assert!(no
            .ask("SHA256:x", "k", &peer(), "Through a local connection.")
            .await
            .is_err());
        assert!(Confirmer::default()
            .ask("SHA256:x", "k", &peer(), "Through a local connection.")
            .await
            .is_err());
    }
}
