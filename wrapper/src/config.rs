//! `~/.config/cloudhsm-mfa/config.toml` (under `$XDG_CONFIG_HOME` when set): which key logs in
//! which HSM user. mfa-login signs a user's login with the key mapped to that user when no
//! `--key` says otherwise, and never with a key the file ties to another user: one officer's
//! key answering another's login is a wrong answer, and five lock the account.
//!
//! ```toml
//! [[keys]]
//! user = "officer1"
//! key = "SHA256:rB8O1pMP7Ng5SKprZuUEpv8VQA3hd0t//q26ixbSOLQ"
//! ```
//!
//! The file is read as the other files we trust (`client::files`): the user's own, not
//! writable by others, in folders only they (or root) can change: whoever can edit it chooses
//! which key answers a login.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub keys: Vec<KeyFor>,
}

/// One HSM user's key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFor {
    /// The HSM user name (`--username`).
    pub user: String,
    /// The key's fingerprint as `mfa-add -l` prints it (`SHA256:...`).
    pub key: String,
}

/// Why the file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("{path}: {source}")]
    Untrusted {
        path: String,
        #[source]
        source: client::files::Unsafe,
    },
    #[error("cannot read {path}: {}", client::report::plain(source))]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

impl ConfigFileError {
    pub fn hint(&self) -> String {
        match self {
            ConfigFileError::Untrusted { source, .. } => source.hint(),
            ConfigFileError::Read { .. } => "check the file's permissions".to_owned(),
            ConfigFileError::Parse { .. } => "each [[keys]] entry takes user = \"NAME\" and key = \
                                              \"SHA256:...\" (as mfa-add -l prints it)"
                .to_owned(),
        }
    }
}

/// Where the file is: `$XDG_CONFIG_HOME/cloudhsm-mfa/config.toml`, else `~/.config/...`.
pub fn path() -> Option<PathBuf> {
    Some(client::discover::xdg_base("XDG_CONFIG_HOME", ".config")?.join("cloudhsm-mfa/config.toml"))
}

/// The file at [`path`]; an empty configuration when there is none.
pub fn load() -> Result<Config, ConfigFileError> {
    match path() {
        Some(path) if path.symlink_metadata().is_ok() => read(&path),
        _ => Ok(Config::default()),
    }
}

/// Reads and checks the file at `path`.
pub fn read(path: &Path) -> Result<Config, ConfigFileError> {
    let shown = path.display().to_string();
    let mut own = client::files::open_own(path).map_err(|source| ConfigFileError::Untrusted {
        path: shown.clone(),
        source,
    })?;
    let mut text = String::new();
    own.file
        .read_to_string(&mut text)
        .map_err(|source| ConfigFileError::Read {
            path: shown.clone(),
            source,
        })?;
    let config: Config = toml::from_str(&text).map_err(|err| ConfigFileError::Parse {
        path: shown.clone(),
        message: err.message().to_owned(),
    })?;
    if let Some(bad) = config.keys.iter().find(|k| !k.key.starts_with("SHA256:")) {
        return Err(ConfigFileError::Parse {
            path: shown,
            message: format!(
                "the key for {} is {:?}, not a SHA256: fingerprint",
                bad.user, bad.key
            ),
        });
    }
    Ok(config)
}

impl Config {
    /// The `(user, fingerprint)` pairs, for the session's policy.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.keys
            .iter()
            .map(|k| (k.user.clone(), k.key.clone()))
            .collect()
    }
}

/// The keys `pairs` (HSM user, fingerprint) map to other users than `user`, and never to
/// `user`, as `(fingerprint, other user)`: none of them may answer `user`'s login.
pub fn keys_of_others(pairs: &[(String, String)], user: Option<&str>) -> Vec<(String, String)> {
    let ours: Vec<&String> = pairs
        .iter()
        .filter(|(u, _)| Some(u.as_str()) == user)
        .map(|(_, key)| key)
        .collect();
    pairs
        .iter()
        .filter(|(u, key)| Some(u.as_str()) != user && !ours.contains(&key))
        .map(|(u, key)| (key.clone(), u.clone()))
        .collect()
}

/// The key `pairs` maps to `user`, when exactly one.
pub fn key_of(pairs: &[(String, String)], user: &str) -> Option<String> {
    let mut keys = pairs.iter().filter(|(u, _)| u == user);
    match (keys.next(), keys.next()) {
        (Some((_, key)), None) => Some(key.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_maps_users_to_fingerprints_and_refuses_anything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "[[keys]]\nuser = \"officer1\"\nkey = \"SHA256:abc\"\n\n[[keys]]\nuser = \"crypto1\"\nkey = \"SHA256:def\"\n",
        )
        .expect("write");
        let config = read(&file).expect("a good file");
        assert_eq!(
            config.pairs(),
            [
                ("officer1".to_owned(), "SHA256:abc".to_owned()),
                ("crypto1".to_owned(), "SHA256:def".to_owned())
            ]
        );
        std::fs::write(&file, "[[keys]]\nuser = \"a\"\nkey = \"abc\"\n").expect("write");
        assert!(matches!(read(&file), Err(ConfigFileError::Parse { .. })));
        std::fs::write(&file, "[[keys]]\nuser = \"a\"\nkye = \"SHA256:x\"\n").expect("write");
        assert!(
            matches!(read(&file), Err(ConfigFileError::Parse { .. })),
            "a typo is an error"
        );
    }
}
