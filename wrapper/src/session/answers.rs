//! What mfa-login answers with: the token file of the current login, found, checked and
//! signed through the agent; and change-mfa's public key as a temporary PEM file.

use std::io::Write;
use std::path::PathBuf;

use rsa::pkcs8::{EncodePublicKey, LineEnding};

use super::Session;
use crate::agent_client::{AgentClient, DEFAULT_TIMEOUT};
use crate::line_tracker::{split_words, token_argument};
use crate::token_sign::LoadedTokenFile;
use crate::Error;

impl Session {
    pub(super) fn agent(&self) -> crate::Result<AgentClient> {
        AgentClient::from_env(self.config.timeout.unwrap_or(DEFAULT_TIMEOUT))
    }

    /// Signs the token file of the current login in place.
    pub(super) fn sign_token_file(&mut self) -> crate::Result<()> {
        let path = self.token_path()?;
        let loaded = LoadedTokenFile::read(&path)?;
        loaded.check_fresh(self.command_started)?;
        let agent = self.agent()?;
        let key = agent.choose_key(self.config.key.as_deref())?;
        let signed = loaded.sign_and_write(&agent, &key, None, None)?;
        self.config.transcript.event(&format!(
            "signed {} token(s) in {} with {}",
            signed.tokens,
            signed.path.display(),
            key.fingerprint
        ));
        Ok(())
    }

    /// The token file: `--token-file`, else `--token` in COMMAND's arguments, else the
    /// `--token` of the command line typed at the interactive prompt. Relative paths are the
    /// child's.
    pub(super) fn token_path(&self) -> crate::Result<PathBuf> {
        let path = self
            .config
            .token_file
            .clone()
            .or_else(|| token_argument(&self.config.args))
            .or_else(|| self.typed_token())
            .ok_or(Error::NoTokenFile)?;
        if path.is_absolute() {
            return Ok(path);
        }
        let base = self
            .child
            .cwd()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        Ok(base.join(path))
    }

    /// `--token` of the typed line; of the echoed line when typing used keys the tracker does
    /// not follow (history recall, completion).
    pub(super) fn typed_token(&self) -> Option<PathBuf> {
        let from = |line: &str| token_argument(&split_words(line));
        let typed = self.typed_line.as_ref();
        let certain = typed.filter(|t| t.certain).and_then(|t| from(&t.text));
        certain
            .or_else(|| self.echoed_line.as_deref().and_then(from))
            .or_else(|| typed.and_then(|t| from(&t.text)))
    }

    /// Writes the agent key's public key as a PEM file only the user can read, kept until the
    /// next interactive prompt or the end of the session.
    pub(super) fn public_key_path(&mut self) -> crate::Result<PathBuf> {
        let agent = self.agent()?;
        let key = agent.choose_key(self.config.key.as_deref())?;
        let pem = key
            .public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::PublicKeyFile(std::io::Error::other(e.to_string())))?;
        let mut file = tempfile::Builder::new()
            .prefix("mfa-login-")
            .suffix(".pem")
            .tempfile()
            .map_err(Error::PublicKeyFile)?;
        file.write_all(pem.as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .map_err(Error::PublicKeyFile)?;
        let path = file.path().to_path_buf();
        self.config.transcript.event(&format!(
            "answered the public key prompt with {} ({})",
            path.display(),
            key.fingerprint
        ));
        self.public_key_file = Some(file);
        Ok(path)
    }
}
