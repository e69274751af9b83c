//! Signing a token file through the agent and rewriting it atomically; shared by mfa-sign and
//! mfa-login.
//!
//! Nothing is written until every token is signed and every signature verified, and the write
//! goes to a temporary file in the same folder that replaces the original by `rename`, so on
//! any error the original file is untouched.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use proto::tokenfile::{TokenFile, TokenFileKind, MAX_FILE_BYTES};

use crate::{sys, Error, Result};
use client::{AgentKey, Connection};

/// How much older than the command a token file may look and still count as written for it.
/// File times come from a coarse kernel clock that can lag the system clock slightly, and
/// some file systems keep whole seconds.
const MTIME_SLACK: Duration = Duration::from_secs(1);

/// A token file read from disk and checked.
#[derive(Debug)]
pub struct LoadedTokenFile {
    /// Where it is, symlinks resolved, so the rewrite replaces the file and not the link.
    pub path: PathBuf,
    pub file: TokenFile,
    mode: u32,
    modified: Option<SystemTime>,
}

/// What was signed.
#[derive(Debug)]
pub struct SignedFile {
    pub path: PathBuf,
    pub kind: TokenFileKind,
    pub tokens: usize,
}

impl LoadedTokenFile {
    /// Reads and checks a token file.
    pub fn read(path: &Path) -> Result<Self> {
        let read_err = |source| Error::ReadTokenFile {
            path: path.to_path_buf(),
            source,
        };
        let real = fs::canonicalize(path).map_err(read_err)?;
        let meta = fs::metadata(&real).map_err(read_err)?;
        // Opening a FIFO blocks and a device never ends: mfa-login would hang mid-session.
        if !meta.is_file() {
            let what = if meta.is_dir() {
                "it is a folder"
            } else {
                "it is not a regular file"
            };
            return Err(read_err(std::io::Error::other(what)));
        }
        if meta.len() > MAX_FILE_BYTES as u64 {
            return Err(Error::BadTokenFile {
                path: path.to_path_buf(),
                source: proto::Error::FileTooLarge {
                    len: usize::try_from(meta.len()).unwrap_or(usize::MAX),
                    max: MAX_FILE_BYTES,
                },
            });
        }
        // Read one byte past the limit, so a file that grew since is still refused by parse.
        let mut bytes = Vec::new();
        File::open(&real)
            .and_then(|file| file.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes))
            .map_err(read_err)?;
        let file = TokenFile::parse(&bytes).map_err(|source| Error::BadTokenFile {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(LoadedTokenFile {
            path: real,
            file,
            mode: sys::mode_of(&meta),
            modified: meta.modified().ok(),
        })
    }

    /// Refuses a file that cannot have been written for a command started at `started`:
    /// one modified before it, or one that already carries signatures.
    pub fn check_fresh(&self, started: SystemTime) -> Result<()> {
        if let Some(modified) = self.modified {
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
}

impl LoadedTokenFile {
    /// Signs every token through the agent and returns the rewritten file's bytes.
    pub fn sign(&self, agent: &mut Connection, key: &AgentKey, fill: Fill) -> Result<Vec<u8>> {
        let approver = fill.approver;
        let bad = |source| Error::BadTokenFile {
            path: self.path.clone(),
            source,
        };
        if self.file.kind() == TokenFileKind::QuorumApproval && approver.is_none() {
            return Err(bad(proto::Error::ApproverRequired));
        }
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
        let signatures = agent.sign_tokens(key, self.file.tokens())?;
        let mut file = self.file.clone();
        if fill.public_key {
            file.fill_public_key(&pem);
        }
        file.fill(&signatures, approver).map_err(bad)?;
        Ok(file.to_bytes())
    }

    /// Signs and writes the result to `output` (the file itself when `None`).
    pub fn sign_and_write(
        &self,
        agent: &mut Connection,
        key: &AgentKey,
        fill: Fill,
        output: Option<&Path>,
        durability: Durability,
    ) -> Result<SignedFile> {
        let bytes = self.sign(agent, key, fill)?;
        let target = match output {
            Some(out) => out.to_path_buf(),
            None => self.path.clone(),
        };
        write_atomically(&target, &bytes, self.mode, durability).map_err(|source| {
            Error::WriteTokenFile {
                path: target.clone(),
                source,
            }
        })?;
        Ok(SignedFile {
            path: target,
            kind: self.file.kind(),
            tokens: self.file.tokens().len(),
        })
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

/// Whether the folder is synced too. The file itself is always fsynced before the rename
/// (PRODUCT.md's write: temporary file, fsync, rename), so after a crash it is the old file
/// or the whole new one, never a half-written one, and every reader meanwhile sees one or
/// the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Also fsync the folder after the rename, so the new name itself survives a crash: the
    /// file outlives the program (mfa-sign: a quorum approval may be carried elsewhere later).
    Synced,
    /// The CLI that asked reads the file at once, on this machine (mfa-login's answers): a
    /// crash before the rename reaches the disk ends the login that needed it anyway. Leaves
    /// the folder's fsync (about 0.8 ms on this project's VM) out of the time a prompt waits.
    ReadAtOnce,
}

/// Replaces `path` with `bytes`: a temporary file in the same folder, the permissions of the
/// file it replaces (`default_mode` for a new file), fsync, rename, and with
/// [`Durability::Synced`] an fsync of the folder.
pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    default_mode: u32,
    durability: Durability,
) -> std::io::Result<()> {
    let target = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(_) => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mode = fs::metadata(&target)
        .map(|m| sys::mode_of(&m))
        .unwrap_or(default_mode);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    sys::set_file_mode(temp.as_file(), mode)?;
    // Through the File itself: NamedTempFile's own Write names its (soon deleted) path in
    // every error, which told users about a file that no longer exists.
    temp.as_file_mut().write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(&target).map_err(|e| e.error)?;
    if durability == Durability::Synced {
        File::open(&dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_the_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token.json");
        fs::write(&path, b"old").expect("write");
        sys::set_mode(&path, 0o640).expect("chmod");
        write_atomically(&path, b"new", 0o600, Durability::Synced).expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"new");
        let mode = sys::mode_of(&fs::metadata(&path).expect("meta"));
        assert_eq!(mode, 0o640);
        let names: Vec<_> = fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(names.len(), 1);

        let fresh = dir.path().join("out.json");
        write_atomically(&fresh, b"x", 0o600, Durability::ReadAtOnce).expect("new file");
        let mode = sys::mode_of(&fs::metadata(&fresh).expect("meta"));
        assert_eq!(mode, 0o600);
    }

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
