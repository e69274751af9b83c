//! Carrying out the core's answers: `--password-file`'s password typed once the prompt stopped
//! echoing; through the agent, a token file or authdata file signed and rewritten, and
//! change-mfa's public key as a temporary PEM file. Each returns what to type and the key it
//! used, or the one-line error and the hint on finishing by hand.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use client::{AgentKey, Connection};
use zeroize::Zeroizing;

use super::core::Answer;
use super::policy::{Decision, KeyChoice};
use super::Session;
use crate::error::ByHand;
use crate::token_sign::{Durability, Fill, LoadedTokenFile};
use crate::Error;

/// A key as the person knows it: its comment (the key file's name) and fingerprint.
fn key_name(key: &AgentKey) -> String {
    if key.comment.is_empty() {
        key.fingerprint.clone()
    } else {
        format!("{} ({})", key.comment, key.fingerprint)
    }
}

/// An agent read or write that gave up waiting (the socket timeout), not a broken connection.
fn timed_out(err: &proto::Error) -> bool {
    matches!(err, proto::Error::Io(io) if matches!(
        io.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ))
}

/// How long a password prompt may take to turn echo off before mfa-login refuses to type
/// the password into it.
const ECHO_OFF_WAIT: Duration = Duration::from_secs(2);

/// A connection opened, and the agent's keys listed, at a password prompt, while the person
/// types or the CLI checks the password: the token prompt that follows then waits for one
/// round trip to the agent (the signatures), not two (over a forwarded agent, each is a
/// network round trip). Dropped when the next command starts; if it went stale meanwhile
/// (the agent restarted, the key was removed), the answer starts again from a fresh one.
pub(super) struct WarmAgent {
    connection: Connection,
    keys: Vec<AgentKey>,
}

impl Session {
    /// Carries out `decision` (one that answers: the others the core handles itself).
    pub(super) fn answer(&mut self, decision: &Decision) -> Answer {
        match decision {
            Decision::TypePassword => self.password_answer(),
            Decision::SignTokens {
                file,
                cli_file,
                key,
            } => self.token_answer(file, cli_file.as_deref(), key),
            Decision::PublicKey { key } => self.public_key_answer(key),
            Decision::SignAuthData {
                file,
                key,
                fill_public_key,
            } => self.authdata_answer(file, key, *fill_public_key),
            Decision::Person | Decision::Refuse { .. } => Err((
                "nothing to answer".to_owned(),
                "answer the prompt yourself".to_owned(),
            )),
        }
    }

    /// The password from `--password-file` and Enter, once the prompt stopped echoing.
    fn password_answer(&mut self) -> Answer {
        let Some(password) = &self.config.password else {
            return Err((
                "no --password-file password to type".to_owned(),
                "type the password yourself and press Enter".to_owned(),
            ));
        };
        let mut typed = Zeroizing::new(password.as_bytes().to_vec());
        typed.push(b'\r');
        if !self.echo_turns_off() {
            return Err((
                "the password prompt echoes what is typed; not typing the password".to_owned(),
                "type it yourself, or check the command's terminal settings".to_owned(),
            ));
        }
        self.config
            .transcript
            .event("answered with the password from --password-file (redacted)");
        Ok((typed, None))
    }

    /// Waits briefly for the child to turn echo off at a password prompt: some programs
    /// print the prompt first and change the terminal after, and a password typed in between
    /// would be echoed to the screen.
    fn echo_turns_off(&self) -> bool {
        let deadline = Instant::now() + ECHO_OFF_WAIT;
        while self.child.echo_enabled() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

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

    /// The agent, on a fresh connection, lists the key with this blob.
    fn holds(&self, blob: &[u8]) -> bool {
        let keys = self.agent().and_then(|mut agent| Ok(agent.keys()?));
        keys.is_ok_and(|keys| keys.iter().any(|key| key.blob == blob))
    }

    /// Opens the connection the next token prompt will use (see [`WarmAgent`]), when the
    /// command will ask for one. For a login, an agent that cannot sign it (none, locked, no
    /// token key, several and no --key) is named now, at the password prompt, before the person
    /// types the password for a login mfa-login could not finish.
    pub(super) fn warm_agent(&mut self, choice: Option<&KeyChoice>) {
        if self.warm.is_some() {
            return;
        }
        let listed = self
            .agent()
            .and_then(|mut connection| Ok((connection.token_keys()?, connection)));
        let (keys, connection) = match listed {
            Ok(listed) => listed,
            Err(err) => return self.warn_unsignable(err, choice),
        };
        if let Some(choice) = choice {
            let chosen = client::keys::choose(keys.clone(), choice.selector.as_deref());
            if let Err(err) = chosen {
                return self.warn_unsignable(err.into(), Some(choice));
            }
        }
        keys.iter().for_each(client::prepare_check);
        self.warm = Some(WarmAgent { connection, keys });
    }

    /// Says, before the password is typed, that this login's tokens cannot be signed.
    fn warn_unsignable(&mut self, err: Error, choice: Option<&KeyChoice>) {
        let Some(choice) = choice else {
            return;
        };
        let hint = match &err {
            Error::Agent(client::Error::SeveralKeys { fingerprints, .. }) => format!(
                "choose one ({fingerprints}) with mfa-login {} FP next time",
                choice.option
            ),
            other => other.hint(),
        };
        let line = format!(
            "mfa-login: warning: {err}: this login's tokens cannot be signed\nhint: {hint}; fix \
             it before you type the password, or press ^C"
        );
        self.config.transcript.event(&line);
        crate::sys::notice(&line);
    }

    /// Signs the token file at the signed-token-file prompt. Enter alone when the file is the
    /// one the CLI wrote, else its path and Enter.
    fn token_answer(&mut self, file: &Path, cli_file: Option<&Path>, choice: &KeyChoice) -> Answer {
        let path = self.child_path(file);
        let cli_file = cli_file.map(|f| self.child_path(f));
        let typed_path = |signed: &Path| {
            // Enter alone only when the CLI's own path names the very file just written (not
            // through a link: a link's target could change before the CLI opens it).
            let same = cli_file.as_deref().is_some_and(|cli| {
                use std::os::unix::fs::MetadataExt;
                let id = |p: &Path| {
                    std::fs::symlink_metadata(p)
                        .map(|m| (m.dev(), m.ino()))
                        .ok()
                };
                id(cli).is_some() && id(cli) == id(signed)
            });
            // `--token-file` names a file the CLI may not know: say which one was signed.
            let mut typed = if same {
                Vec::new()
            } else {
                signed.as_os_str().as_encoded_bytes().to_vec()
            };
            typed.push(b'\r');
            Zeroizing::new(typed)
        };
        let fill = Fill {
            about: &choice.for_what,
            ..Fill::default()
        };
        self.sign_file(&path, choice, fill, typed_path)
    }

    /// Signs cloudhsm_mgmt_util's authdata file at `Enter filename:`; Enter alone keeps the
    /// path the command gave.
    fn authdata_answer(
        &mut self,
        file: &Path,
        choice: &KeyChoice,
        fill_public_key: bool,
    ) -> Answer {
        let path = self.child_path(file);
        let fill = Fill {
            approver: None,
            public_key: fill_public_key,
            about: &choice.for_what,
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
        let sign = |mut agent: Connection, key: AgentKey| {
            if let Err(refusal) = choice.check(&key.fingerprint, &loaded.path) {
                return Ok(Err(refusal));
            }
            loaded
                .sign_and_write(&mut agent, &key, fill, None, Durability::ReadAtOnce)
                .map(|signed| Ok((signed, key)))
        };
        let warm = self.warm.take().and_then(|warm| {
            let key = client::keys::choose(warm.keys, choice.selector.as_deref()).ok()?;
            Some((warm.connection, key))
        });
        let attempt = match warm {
            Some((agent, key)) => {
                let blob = key.blob.clone();
                match sign(agent, key) {
                    // The connection broke (the agent restarted, or closed it to make way for
                    // others). Not a timeout: the agent may still be asking for a confirmation.
                    Err(Error::Agent(client::Error::AgentIo(err))) if !timed_out(&err) => None,
                    // Refused: start again only if the key went away (or the agent was locked
                    // and lists none); a refusal of a key the agent still holds (a declined
                    // confirmation, `--forwarded deny`) is the answer, and asking again would
                    // ask the person to confirm twice.
                    Err(Error::Agent(client::Error::SignRefused(_))) if !self.holds(&blob) => None,
                    done => Some(done),
                }
            }
            None => None,
        };
        let attempt = match attempt {
            Some(done) => done,
            None => {
                let (agent, key) = self.key(choice).map_err(by_hand)?;
                sign(agent, key)
            }
        };
        let (signed, key) = attempt.map_err(by_hand)??;
        let line = format!(
            "mfa-login: signed {} with {}; pressing Enter",
            crate::text::count(signed.tokens, "token"),
            key_name(&key)
        );
        self.config
            .transcript
            .event(&format!("{line} ({})", signed.path.display()));
        crate::sys::notice(&crate::sys::dim(&line));
        Ok((typed(&signed.path), Some(key.fingerprint)))
    }

    /// change-mfa's public-key prompt: the path of a PEM file of the key, only the user can
    /// read it, kept until the next interactive prompt or the end of the session.
    fn public_key_answer(&mut self, choice: &KeyChoice) -> Answer {
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
        crate::sys::notice(&crate::sys::dim(&format!(
            "mfa-login: registering {} as the new MFA key",
            key_name(&key)
        )));
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
