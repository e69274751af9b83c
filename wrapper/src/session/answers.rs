//! The answers that need the agent: a token file or authdata file signed and rewritten, and
//! change-mfa's public key as a temporary PEM file. Each returns what to type and the key it
//! used, or the one-line error and the hint on finishing by hand.

use std::io::Write;
use std::path::{Path, PathBuf};

use client::{AgentKey, Connection};
use zeroize::Zeroizing;

use super::policy::{Decision, KeyChoice};
use super::Session;
use crate::error::ByHand;
use crate::token_sign::{Durability, Fill, LoadedTokenFile};
use crate::Error;

/// What to type and the fingerprint of the key used; else the message and the hint.
pub(super) type Answer = Result<(Zeroizing<Vec<u8>>, Option<String>), (String, String)>;

impl Session {
    fn agent(&self) -> crate::Result<Connection> {
        let timeout = self.config.timeout.unwrap_or(crate::login::AGENT_TIMEOUT);
        Ok(client::Agent::from_env(timeout)?.connect()?)
    }

    /// The key `choice` names, from a fresh connection.
    fn key(&self, choice: &KeyChoice) -> crate::Result<(Connection, AgentKey)> {
        let mut agent = self.agent()?;
        let key = agent.choose_key(choice.selector.as_deref())?;
        Ok((agent, key))
    }

    /// Signs the token file at the signed-token-file prompt. Enter alone when the file is the
    /// one the CLI wrote, else its path and Enter.
    pub(super) fn token_answer(
        &mut self,
        file: &Path,
        cli_file: Option<&Path>,
        choice: &KeyChoice,
    ) -> Answer {
        let path = self.child_path(file);
        let cli_file = cli_file.map(|f| self.child_path(f));
        let typed_path = |signed: &Path| {
            let same = cli_file
                .as_deref()
                .and_then(|cli| std::fs::canonicalize(cli).ok())
                .is_some_and(|cli| cli == signed);
            // `--token-file` names a file the CLI may not know: say which one was signed.
            let mut typed = if same {
                Vec::new()
            } else {
                signed.as_os_str().as_encoded_bytes().to_vec()
            };
            typed.push(b'\r');
            Zeroizing::new(typed)
        };
        self.sign_file(&path, choice, Fill::default(), typed_path)
    }

    /// Signs cloudhsm_mgmt_util's authdata file at `Enter filename:`; Enter alone keeps the
    /// path the command gave.
    pub(super) fn authdata_answer(
        &mut self,
        file: &Path,
        choice: &KeyChoice,
        fill_public_key: bool,
    ) -> Answer {
        let path = self.child_path(file);
        let fill = Fill {
            approver: None,
            public_key: fill_public_key,
        };
        self.sign_file(&path, choice, fill, |_| Zeroizing::new(b"\r".to_vec()))
    }

    fn sign_file(
        &mut self,
        path: &Path,
        choice: &KeyChoice,
        fill: Fill,
        typed: impl FnOnce(&Path) -> Zeroizing<Vec<u8>>,
    ) -> Answer {
        let by_hand = |err: Error| {
            let hint = err.hint_at_prompt(ByHand::SignTokens(Some(path)), choice.option);
            (err.to_string(), hint)
        };
        let loaded = LoadedTokenFile::read(path).map_err(by_hand)?;
        loaded.check_fresh(self.command_started).map_err(by_hand)?;
        let (mut agent, key) = self.key(choice).map_err(by_hand)?;
        if let Err(Decision::Refuse { message, hint }) =
            self.policy.check_login_key(&key.fingerprint, &loaded.path)
        {
            return Err((message, hint));
        }
        let signed = loaded
            .sign_and_write(&mut agent, &key, fill, None, Durability::ReadAtOnce)
            .map_err(by_hand)?;
        self.config.transcript.event(&format!(
            "signed {} token(s) in {} with {}",
            signed.tokens,
            signed.path.display(),
            key.fingerprint
        ));
        Ok((typed(&signed.path), Some(key.fingerprint)))
    }

    /// change-mfa's public-key prompt: the path of a PEM file of the key, only the user can
    /// read it, kept until the next interactive prompt or the end of the session.
    pub(super) fn public_key_answer(&mut self, choice: &KeyChoice) -> Answer {
        let by_hand = |err: Error| {
            let hint = err.hint_at_prompt(ByHand::PublicKey, choice.option);
            (err.to_string(), hint)
        };
        let (_, key) = self.key(choice).map_err(by_hand)?;
        let path = self.write_public_key(&key).map_err(by_hand)?;
        self.config.transcript.event(&format!(
            "answered the public key prompt with {} ({})",
            path.display(),
            key.fingerprint
        ));
        let mut typed = path.into_os_string().into_encoded_bytes();
        typed.push(b'\r');
        Ok((Zeroizing::new(typed), Some(key.fingerprint)))
    }

    fn write_public_key(&mut self, key: &AgentKey) -> crate::Result<PathBuf> {
        let mut file = tempfile::Builder::new()
            .prefix("mfa-login-")
            .suffix(".pem")
            .tempfile()
            .map_err(Error::PublicKeyFile)?;
        file.write_all(key.public_pem().as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .map_err(Error::PublicKeyFile)?;
        let path = file.path().to_path_buf();
        self.public_key_file = Some(file);
        Ok(path)
    }

    /// A path as COMMAND means it: relative paths start in its working directory.
    fn child_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        let base = self
            .child
            .cwd()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        base.join(path)
    }
}
