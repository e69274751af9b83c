//! What mfa-login answers with: the token file of the current login, found, checked and
//! signed through the agent (unless that login with that key was rejected before); and
//! change-mfa's public key as a temporary PEM file.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::rejected::SignedLogin;
use super::Session;
use crate::error::ByHand;
use crate::line_tracker::{option_value, split_words, token_argument};
use crate::token_sign::LoadedTokenFile;
use crate::Error;

impl Session {
    pub(super) fn agent(&self) -> crate::Result<client::Connection> {
        let timeout = self.config.timeout.unwrap_or(crate::login::AGENT_TIMEOUT);
        Ok(client::Agent::from_env(timeout)?.connect()?)
    }

    /// What to type at the signed-token-file prompt; else the error and its hint on
    /// finishing by hand (with the token file, when known).
    pub(super) fn token_prompt_answer(&mut self) -> Result<Vec<u8>, (Error, String)> {
        let answer = match self.token_file() {
            Ok((path, cli_file)) => self
                .answer_token_prompt(&path, cli_file)
                .map_err(|err| (err, Some(path))),
            Err(err) => Err((err, None)),
        };
        match answer {
            Ok((typed, login)) => {
                self.rejections.token_prompt(Some(login));
                Ok(typed)
            }
            Err((err, path)) => {
                self.rejections.token_prompt(None);
                let hint = err.hint_at_prompt(ByHand::SignTokens(path.as_deref()));
                Err((err, hint))
            }
        }
    }

    /// What to type at change-mfa's public-key prompt; else the error and its hint.
    pub(super) fn public_key_prompt_answer(&mut self) -> Result<Vec<u8>, (Error, String)> {
        self.rejections.public_key_prompt();
        match self.public_key_path() {
            Ok(path) => {
                let mut typed = path.into_os_string().into_encoded_bytes();
                typed.push(b'\r');
                Ok(typed)
            }
            Err(err) => {
                let hint = err.hint_at_prompt(ByHand::PublicKey);
                Err((err, hint))
            }
        }
    }

    /// The token file of the current login, and the path the CLI itself was given (none
    /// when only `--token-file` names the file).
    fn token_file(&self) -> crate::Result<(PathBuf, Option<PathBuf>)> {
        let cli_file = token_argument(&self.config.args)
            .or_else(|| self.typed_option("--token").map(PathBuf::from))
            .map(|path| self.child_path(path));
        match (&self.config.token_file, cli_file) {
            (Some(chosen), cli_file) => Ok((self.child_path(chosen.clone()), cli_file)),
            (None, Some(cli)) => Ok((cli.clone(), Some(cli))),
            (None, None) => Err(Error::NoTokenFile),
        }
    }

    /// Signs the token file of the current login in place, unless this login with this key
    /// was rejected before; returns what to type at the prompt (Enter alone when the file is
    /// the one the CLI wrote, else its path and Enter) and the login it signed for.
    fn answer_token_prompt(
        &mut self,
        path: &Path,
        cli_file: Option<PathBuf>,
    ) -> crate::Result<(Vec<u8>, SignedLogin)> {
        let loaded = LoadedTokenFile::read(path)?;
        loaded.check_fresh(self.command_started)?;
        let mut agent = self.agent()?;
        let key = agent.choose_key(self.config.key.as_deref())?;
        let login = SignedLogin {
            username: self.command_option("--username"),
            role: self.command_option("--role"),
            fingerprint: key.fingerprint.clone(),
        };
        if self.rejections.login_rejected(&login) {
            return Err(Error::LoginRejectedBefore {
                username: login.username.unwrap_or_else(|| "this user".to_owned()),
                fingerprint: login.fingerprint,
            });
        }
        let signed = loaded.sign_and_write(&mut agent, &key, None, None)?;
        self.config.transcript.event(&format!(
            "signed {} token(s) in {} with {}",
            signed.tokens,
            signed.path.display(),
            key.fingerprint
        ));
        let same_file = cli_file
            .and_then(|cli| std::fs::canonicalize(cli).ok())
            .is_some_and(|cli| cli == signed.path);
        let mut typed = if same_file {
            Vec::new()
        } else {
            // `--token-file` names a file the CLI may not know: say which one was signed.
            signed.path.into_os_string().into_encoded_bytes()
        };
        typed.push(b'\r');
        Ok((typed, login))
    }

    /// A path as COMMAND means it: relative paths start in its working directory.
    fn child_path(&self, path: PathBuf) -> PathBuf {
        if path.is_absolute() {
            return path;
        }
        let base = self
            .child
            .cwd()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        base.join(path)
    }

    /// An option of the current command: from COMMAND's arguments, else from the typed line.
    fn command_option(&self, name: &str) -> Option<String> {
        option_value(&self.config.args, name)
            .or_else(|| self.typed_option(name))
            .map(|value| value.to_string_lossy().into_owned())
    }

    /// An option (`--token`, `--username`, ...) of the typed line; of the echoed line when
    /// typing used keys the tracker does not follow (history recall, completion).
    fn typed_option(&self, name: &str) -> Option<OsString> {
        let from = |line: &str| option_value(&split_words(line), name);
        let typed = self.typed_line.as_ref();
        let certain = typed.filter(|t| t.certain).and_then(|t| from(&t.text));
        certain
            .or_else(|| self.echoed_line.as_deref().and_then(from))
            .or_else(|| typed.and_then(|t| from(&t.text)))
    }

    /// Writes the agent key's public key as a PEM file only the user can read, kept until the
    /// next interactive prompt or the end of the session.
    fn public_key_path(&mut self) -> crate::Result<PathBuf> {
        let mut agent = self.agent()?;
        let key = agent.choose_key(self.config.key.as_deref())?;
        let pem = key.public_pem();
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
