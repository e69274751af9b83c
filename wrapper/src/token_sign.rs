//! Signing a token file through the agent and rewriting it atomically; shared by mfa-sign and
//! mfa-login.
//!
//! Nothing is written until every token is signed and every signature verified, and the write
//! goes to a temporary file in the same folder that replaces the original by `rename`, so on
//! any error the original file is untouched.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, SystemTime};

use client::files::{self, OwnFile, Replacement, Unsafe};
use proto::tokenfile::{TokenFile, TokenFileKind, MAX_FILE_BYTES};

use crate::{Error, Result};
use client::{AgentKey, Connection};

/// How much older than the command a token file may look and still count as written for it.
/// File times come from a coarse kernel clock that can lag the system clock slightly, and
/// some file systems keep whole seconds.
const MTIME_SLACK: Duration = Duration::from_secs(1);

/// A token file read from disk and checked.
#[derive(Debug)]
pub struct LoadedTokenFile {
    /// Where it is, as the user named it.
    pub path: PathBuf,
    pub file: TokenFile,
    /// The file as opened: the rewrite goes into its folder and replaces only it.
    own: OwnFile,
}

/// What was signed.
#[derive(Debug)]
pub struct SignedFile {
    pub path: PathBuf,
    pub kind: TokenFileKind,
    pub tokens: usize,
}

/// How long the agent may take to sign before the person is told why it may be waiting.
const SLOW_ANSWER: Duration = Duration::from_secs(2);

/// Runs `sign`; if it takes longer than [`SLOW_ANSWER`], says once that the agent may be
/// asking for a confirmation (the person may not see the dialog, or it is on another host).
fn while_waiting_say_why<T>(sign: impl FnOnce() -> T) -> T {
    let (answered, wait) = mpsc::channel::<()>();
    let notice = std::thread::spawn(move || {
        if wait.recv_timeout(SLOW_ANSWER) == Err(RecvTimeoutError::Timeout) {
            crate::sys::notice(&format!(
                "waiting for mfa-agent: if it asks to confirm this use (a key added with -c or \
                 --forwarded confirm), answer it where the agent runs (without askpass: mfa-add \
                 --approve); it waits up to {} s",
                client::CONFIRM_TIMEOUT.as_secs()
            ));
        }
    });
    let result = sign();
    drop(answered);
    let _ = notice.join();
    result
}

impl LoadedTokenFile {
    /// Opens a token file of the caller's (see [`client::files`]), reads and checks it.
    pub fn read(path: &Path) -> Result<Self> {
        let read_err = |source| Error::ReadTokenFile {
            path: path.to_path_buf(),
            source,
        };
        let mut own = files::open_own(path).map_err(|e| untrusted(e, read_err))?;
        if own.meta.len() > MAX_FILE_BYTES as u64 {
            return Err(Error::BadTokenFile {
                path: path.to_path_buf(),
                source: proto::Error::FileTooLarge {
                    len: usize::try_from(own.meta.len()).unwrap_or(usize::MAX),
                    max: MAX_FILE_BYTES,
                },
            });
        }
        // Read one byte past the limit, so a file that grew since is still refused by parse.
        let mut bytes = Vec::new();
        (&mut own.file)
            .take(MAX_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        let file = TokenFile::parse(&bytes).map_err(|source| Error::BadTokenFile {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(LoadedTokenFile {
            path: path.to_path_buf(),
            file,
            own,
        })
    }

    /// Refuses a file that cannot have been written for a command started at `started`:
    /// one modified before it, or one that already carries signatures.
    pub fn check_fresh(&self, started: SystemTime) -> Result<()> {
        if let Ok(modified) = self.own.meta.modified() {
            if modified + MTIME_SLACK < started {
                return Err(Error::StaleTokenFile {
                    path: self.path.clone(),
                });
            }
        }
        self.check_unsigned()
    }

    /// Refuses a file whose tokens already carry signatures.
    pub fn check_unsigned(&self) -> Result<()> {
        if self.file.is_unsigned() {
            Ok(())
        } else {
            Err(Error::AlreadySigned {
                path: self.path.clone(),
            })
        }
    }
}

/// How to fill in a file besides its signatures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fill<'a> {
    /// The approver's user name, for a quorum approval.
    pub approver: Option<&'a str>,
    /// Put the signing key's public key into an authdata file's empty `PublicKey`.
    pub public_key: bool,
    /// What the signatures are for, told to the agent for its question and its log.
    pub about: &'a str,
}

impl LoadedTokenFile {
    /// A quorum approval is signed only with the approver's user name (it goes in the file).
    pub fn check_approver(&self, approver: Option<&str>) -> Result<()> {
        if self.file.kind() == TokenFileKind::QuorumApproval && approver.is_none() {
            return Err(Error::BadTokenFile {
                path: self.path.clone(),
                source: proto::Error::ApproverRequired,
            });
        }
        Ok(())
    }

    /// Signs every token through the agent and returns the rewritten file's bytes.
    pub fn sign(&self, agent: &mut Connection, key: &AgentKey, fill: Fill) -> Result<Vec<u8>> {
        let approver = fill.approver;
        let bad = |source| Error::BadTokenFile {
            path: self.path.clone(),
            source,
        };
        self.check_approver(approver)?;
        // Only authdata files name a key (encoding it is not free after the machine idled).
        let pem = std::cell::LazyCell::new(|| key.public_pem());
        if let Some(declared) = self.file.public_key() {
            // The HSM checks the signatures against this key: another key's are wrong answers.
            if !same_pem(declared, &pem) {
                return Err(Error::AuthDataKeyMismatch {
                    path: self.path.clone(),
                    fingerprint: key.fingerprint.clone(),
                });
            }
        }
        let signatures =
            while_waiting_say_why(|| agent.sign_tokens(key, self.file.tokens(), fill.about))?;
        let mut file = self.file.clone();
        if fill.public_key {
            file.fill_public_key(&pem);
        }
        file.fill(&signatures, approver).map_err(bad)?;
        Ok(file.to_bytes())
    }

    /// Signs and writes the result to `output` (the file itself when `None`). The temporary
    /// file is created before the agent is asked, so nothing is signed for a file that cannot
    /// be written.
    pub fn sign_and_write(
        &self,
        agent: &mut Connection,
        key: &AgentKey,
        fill: Fill,
        output: Option<&Path>,
        durability: Durability,
    ) -> Result<SignedFile> {
        let target = output.unwrap_or(&self.path);
        let write_err = |source| Error::WriteTokenFile {
            path: target.to_path_buf(),
            source,
        };
        let pending = match output {
            Some(out) => Replacement::create_or_replace(out),
            None => self.own.begin_replace(),
        }
        .map_err(|e| untrusted(e, write_err))?;
        let bytes = self.sign(agent, key, fill)?;
        pending
            .commit(&bytes, durability == Durability::Synced)
            .map_err(|e| untrusted(e, write_err))?;
        Ok(SignedFile {
            path: target.to_path_buf(),
            kind: self.file.kind(),
            tokens: self.file.tokens().len(),
        })
    }
}

/// A file refused for who could have written it, or a plain I/O error told as `io`.
fn untrusted(err: Unsafe, io: impl FnOnce(std::io::Error) -> Error) -> Error {
    match err {
        Unsafe::Io { source, .. } => io(source),
        other => Error::Untrusted(other),
    }
}

/// Two PEM texts of the same key: the same base64 body, whatever the line breaks.
fn same_pem(a: &str, b: &str) -> bool {
    let body = |pem: &str| -> String {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect()
    };
    body(a) == body(b)
}

/// Whether the rewrite is synced to disk. Either way the write is a temporary file renamed
/// over the original, so every reader sees the old file or the whole new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename and its folder after it, so the new file survives a
    /// crash: the file outlives the program (mfa-sign: a quorum approval may be carried
    /// elsewhere later).
    Synced,
    /// The CLI that asked reads the single-use file at once, on this machine (mfa-login's
    /// answers): a crash ends the login that needed it anyway. No fsync in the time a prompt
    /// waits.
    ReadAtOnce,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_malformed_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.json");
        fs::write(
            &path,
            b"{\"version\": \"2.0\", \"tokens\": [{\"unsigned\": \"AAAA\", \"signed\": \"\"}]}",
        )
        .expect("write");
        match LoadedTokenFile::read(&path) {
            Err(Error::BadTokenFile { source, .. }) => {
                assert!(matches!(
                    source,
                    proto::Error::TokenLength { index: 1, len: 3 }
                ))
            }
            other => panic!("expected a bad token file, got {other:?}"),
        }
    }
}
