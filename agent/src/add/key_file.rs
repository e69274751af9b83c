//! Reading RSA private keys from files in every format users have: PKCS#1 and PKCS#8 PEM,
//! encrypted PKCS#8 (PBES2), legacy encrypted PEM, and OpenSSH private keys (plain or with a
//! passphrase). Non-RSA and too-small keys are refused with a one-line reason.

use std::io::Read;
use std::path::Path;

use pkcs8::der::Decode;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo, SecretDocument};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

use super::legacy_pem::{LegacyPem, LegacyPemError};
use crate::{Error, Result};

/// The largest key file read: an RSA-16384 OpenSSH key is about 13 KiB.
const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

/// The formats we read, told apart by the PEM label and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `BEGIN RSA PRIVATE KEY`.
    Pkcs1,
    /// `BEGIN RSA PRIVATE KEY` with `Proc-Type: 4,ENCRYPTED`.
    LegacyEncrypted,
    /// `BEGIN PRIVATE KEY`.
    Pkcs8,
    /// `BEGIN ENCRYPTED PRIVATE KEY`.
    EncryptedPkcs8,
    /// `BEGIN OPENSSH PRIVATE KEY`.
    OpenSsh { encrypted: bool },
}

/// A private key file read into memory, not yet decrypted.
pub struct KeyFile {
    /// The path as the user gave it: the key's comment and the name in messages.
    name: String,
    text: Zeroizing<String>,
    format: KeyFormat,
}

/// A key ready to send to the agent.
pub struct LoadedKey {
    pub key: RsaPrivateKey,
    pub comment: String,
}

impl KeyFile {
    /// Reads and classifies a key file.
    pub fn read(path: &Path) -> Result<KeyFile> {
        let name = path.display().to_string();
        // Bounded, so a device such as /dev/zero is refused instead of filling memory; a
        // pipe (`mfa-add <(pass show key)`) is still read.
        let mut bytes = Zeroizing::new(Vec::new());
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(Error::io(format!("cannot read {name}")))?;
        if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(Error::KeyFile(format!(
                "{name} is larger than {MAX_KEY_FILE_BYTES} bytes; not a key file"
            )));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::KeyFile(format!("{name} is not a PEM or OpenSSH key file")))?;
        KeyFile::parse(&name, Zeroizing::new(text.to_owned()))
    }

    /// Classifies key text; `name` is used in messages and as the comment.
    pub fn parse(name: &str, text: Zeroizing<String>) -> Result<KeyFile> {
        let label = text
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
            .ok_or_else(|| Error::KeyFile(format!("{name} is not a PEM or OpenSSH key file")))?
            .to_owned();
        let format = match label.as_str() {
            "RSA PRIVATE KEY" if LegacyPem::is_legacy_encrypted(&text) => {
                KeyFormat::LegacyEncrypted
            }
            "RSA PRIVATE KEY" => KeyFormat::Pkcs1,
            "PRIVATE KEY" => KeyFormat::Pkcs8,
            "ENCRYPTED PRIVATE KEY" => KeyFormat::EncryptedPkcs8,
            "OPENSSH PRIVATE KEY" => {
                let key = ssh_key::PrivateKey::from_openssh(text.as_bytes())
                    .map_err(|e| Error::KeyFile(format!("{name}: bad OpenSSH key: {e}")))?;
                KeyFormat::OpenSsh {
                    encrypted: key.is_encrypted(),
                }
            }
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {
                return Err(Error::KeyFile(format!(
                    "{name} is a public key; mfa-add needs the private key"
                )))
            }
            "EC PRIVATE KEY" | "DSA PRIVATE KEY" => {
                return Err(Error::KeyFile(format!(
                    "{name} is not an RSA key ({label}); CloudHSM MFA keys are RSA"
                )))
            }
            other => {
                return Err(Error::KeyFile(format!(
                    "{name}: unsupported PEM block {other:?}"
                )))
            }
        };
        Ok(KeyFile {
            name: name.to_owned(),
            text,
            format,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    #[cfg(test)]
    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// True when a passphrase is needed to read the private key.
    pub fn is_encrypted(&self) -> bool {
        matches!(
            self.format,
            KeyFormat::LegacyEncrypted
                | KeyFormat::EncryptedPkcs8
                | KeyFormat::OpenSsh { encrypted: true }
        )
    }

    /// The public key when it can be read without a passphrase (all but encrypted PEM).
    pub fn public_key(&self) -> Option<RsaPublicKey> {
        if let KeyFormat::OpenSsh { .. } = self.format {
            let key = ssh_key::PrivateKey::from_openssh(self.text.as_bytes()).ok()?;
            let rsa = key.public_key().key_data().rsa()?;
            return RsaPublicKey::try_from(rsa).ok();
        }
        if self.is_encrypted() {
            return None;
        }
        self.decrypt(None).ok().map(|k| k.key.to_public_key())
    }

    /// Reads the private key, with the passphrase if the file is encrypted.
    ///
    /// A wrong passphrase is [`Error::WrongPassphrase`], so the caller can ask again.
    pub fn decrypt(&self, passphrase: Option<&[u8]>) -> Result<LoadedKey> {
        let name = &self.name;
        let need = || Error::KeyFile(format!("{name} is encrypted and no passphrase was given"));
        let wrong = || Error::WrongPassphrase(name.clone());
        let bad =
            |what: &str, e: &dyn std::fmt::Display| Error::KeyFile(format!("{name}: {what}: {e}"));
        let mut comment = name.clone();
        let key = match self.format {
            KeyFormat::Pkcs1 => {
                RsaPrivateKey::from_pkcs1_pem(&self.text).map_err(|e| bad("bad PKCS#1 key", &e))?
            }
            KeyFormat::LegacyEncrypted => {
                let pem = LegacyPem::parse(&self.text).map_err(|e| match e {
                    LegacyPemError::Malformed(why) => Error::KeyFile(format!("{name}: {why}")),
                    LegacyPemError::WrongPassphrase => wrong(),
                })?;
                let der = pem
                    .decrypt(passphrase.ok_or_else(need)?)
                    .map_err(|_| wrong())?;
                // Garbage that happens to have valid padding is still a wrong passphrase.
                RsaPrivateKey::from_pkcs1_der(&der).map_err(|_| wrong())?
            }
            KeyFormat::Pkcs8 => {
                let (_, doc) =
                    SecretDocument::from_pem(&self.text).map_err(|e| bad("bad PKCS#8 key", &e))?;
                rsa_from_pkcs8(name, doc.as_bytes())?
            }
            KeyFormat::EncryptedPkcs8 => {
                let (_, doc) = SecretDocument::from_pem(&self.text)
                    .map_err(|e| bad("bad encrypted PKCS#8 key", &e))?;
                let info = EncryptedPrivateKeyInfo::from_der(doc.as_bytes())
                    .map_err(|e| bad("bad encrypted PKCS#8 key", &e))?;
                let plain = info
                    .decrypt(passphrase.ok_or_else(need)?)
                    .map_err(|e| match e {
                        // pkcs5 0.7 reports bad padding as EncryptFailed even when decrypting.
                        pkcs8::Error::EncryptedPrivateKey(
                            pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed,
                        ) => wrong(),
                        other => bad("cannot decrypt", &other),
                    })?;
                rsa_from_pkcs8(name, plain.as_bytes()).map_err(|_| wrong())?
            }
            KeyFormat::OpenSsh { encrypted } => {
                let mut key = ssh_key::PrivateKey::from_openssh(self.text.as_bytes())
                    .map_err(|e| bad("bad OpenSSH key", &e))?;
                if encrypted {
                    key = key
                        .decrypt(passphrase.ok_or_else(need)?)
                        .map_err(|e| match e {
                            ssh_key::Error::Crypto => wrong(),
                            other => bad("cannot decrypt", &other),
                        })?;
                }
                if !key.comment().is_empty() {
                    comment = key.comment().to_owned();
                }
                let rsa = key.key_data().rsa().ok_or_else(|| {
                    Error::KeyFile(format!(
                        "{name} is not an RSA key ({}); CloudHSM MFA keys are RSA",
                        key.algorithm()
                    ))
                })?;
                rsa_from_openssh(rsa).map_err(|e| bad("bad RSA key", &e))?
            }
        };
        proto::signing::check_key_size(&key.to_public_key())
            .map_err(|e| Error::KeyFile(format!("{name}: {e}")))?;
        Ok(LoadedKey { key, comment })
    }
}

/// An RSA key from OpenSSH's fields.
///
/// ssh-key 0.6's own `TryFrom<&RsaKeypair>` passes `p` twice instead of `p` and `q` and so
/// rejects every real key; this builds the key from the right fields and checks it.
fn rsa_from_openssh(pair: &ssh_key::private::RsaKeypair) -> rsa::Result<RsaPrivateKey> {
    let int =
        |m: &ssh_key::Mpint| rsa::BigUint::from_bytes_be(m.as_positive_bytes().unwrap_or(&[]));
    let mut key = RsaPrivateKey::from_components(
        int(&pair.public.n),
        int(&pair.public.e),
        int(&pair.private.d),
        vec![int(&pair.private.p), int(&pair.private.q)],
    )?;
    key.validate()?;
    key.precompute()?;
    Ok(key)
}

/// An RSA key from a DER PKCS#8 `PrivateKeyInfo`, refusing other algorithms by name.
fn rsa_from_pkcs8(name: &str, der: &[u8]) -> Result<RsaPrivateKey> {
    let info = PrivateKeyInfo::from_der(der)
        .map_err(|e| Error::KeyFile(format!("{name}: bad PKCS#8 key: {e}")))?;
    let oid = info.algorithm.oid;
    if oid != pkcs1::ALGORITHM_OID {
        let kind = match oid.to_string().as_str() {
            "1.2.840.10045.2.1" => "an EC key".to_owned(),
            "1.3.101.112" => "an Ed25519 key".to_owned(),
            "1.3.101.113" => "an Ed448 key".to_owned(),
            "1.2.840.10040.4.1" => "a DSA key".to_owned(),
            other => format!("algorithm {other}"),
        };
        return Err(Error::KeyFile(format!(
            "{name} is not an RSA key ({kind}); CloudHSM MFA keys are RSA"
        )));
    }
    RsaPrivateKey::try_from(info).map_err(|e| Error::KeyFile(format!("{name}: bad RSA key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};

    fn key() -> RsaPrivateKey {
        crate::test_key()
    }

    fn parse(text: &str) -> Result<KeyFile> {
        KeyFile::parse("test.key", Zeroizing::new(text.to_owned()))
    }

    #[test]
    fn reads_pkcs1_and_pkcs8() {
        let pkcs1 = key().to_pkcs1_pem(LineEnding::LF).expect("pkcs1");
        let file = parse(&pkcs1).expect("parse");
        assert_eq!(file.format(), KeyFormat::Pkcs1);
        assert_eq!(file.decrypt(None).expect("key").key, key());
        let pkcs8 = key().to_pkcs8_pem(LineEnding::LF).expect("pkcs8");
        let file = parse(&pkcs8).expect("parse");
        assert_eq!(file.format(), KeyFormat::Pkcs8);
        let loaded = file.decrypt(None).expect("key");
        assert_eq!(loaded.key, key());
        assert_eq!(loaded.comment, "test.key");
        assert_eq!(file.public_key(), Some(key().to_public_key()));
    }

    #[test]
    fn encrypted_pkcs8_needs_the_right_passphrase() {
        let pem = key()
            .to_pkcs8_encrypted_pem(&mut OsRng, b"right", LineEnding::LF)
            .expect("encrypt");
        let file = parse(&pem).expect("parse");
        assert!(file.is_encrypted());
        assert!(file.public_key().is_none());
        assert!(matches!(file.decrypt(None), Err(Error::KeyFile(_))));
        assert!(matches!(
            file.decrypt(Some(b"wrong")),
            Err(Error::WrongPassphrase(_))
        ));
        assert_eq!(file.decrypt(Some(b"right")).expect("key").key, key());
    }

    #[test]
    fn public_keys_and_other_algorithms_are_named() {
        let public = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(parse(public), Err(Error::KeyFile(m)) if m.contains("public key")));
        let ec = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(parse(ec), Err(Error::KeyFile(m)) if m.contains("not an RSA key")));
        assert!(matches!(parse("hello"), Err(Error::KeyFile(_))));
    }
}
