//! Reading RSA private keys from files in every format users have: PKCS#1 and PKCS#8 PEM,
//! encrypted PKCS#8, legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED`), all through OpenSSL's
//! PEM reader; and OpenSSH private keys (plain or with a passphrase) through `ssh-key`, then
//! made an OpenSSL key. Non-RSA and too-small keys are refused with a one-line reason.

use std::io::Read;
use std::path::Path;

use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use proto::key::RsaKeyFields;
use rsa::RsaPublicKey;
use zeroize::Zeroizing;

use crate::rsa_key::{public_of, rsa_from_fields};
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
    pub key: Rsa<Private>,
    pub comment: String,
}

impl KeyFile {
    /// Reads and classifies a key file.
    pub fn read(path: &Path) -> Result<KeyFile> {
        let name = path.display().to_string();
        // Bounded, so a device such as /dev/zero is refused instead of filling memory; a
        // pipe (`mfa-add <(pass show key)`) is still read.
        let mut bytes = Zeroizing::new(Vec::new());
        let file = client::files::open_own_or_pipe(path).map_err(|e| match e {
            client::files::Unsafe::Io { source, .. } => Error::Io {
                context: format!("cannot read {name}"),
                source,
            },
            source => Error::UnsafeFile {
                what: "the key file",
                source,
            },
        })?;
        file.take(MAX_KEY_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
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
            "RSA PRIVATE KEY" if is_legacy_encrypted(&text) => KeyFormat::LegacyEncrypted,
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
        public_of(&self.decrypt(None).ok()?.key).ok()
    }

    /// Reads the private key, with the passphrase if the file is encrypted.
    ///
    /// A wrong passphrase is [`Error::WrongPassphrase`], so the caller can ask again.
    pub fn decrypt(&self, passphrase: Option<&[u8]>) -> Result<LoadedKey> {
        let name = &self.name;
        let need = || Error::KeyFile(format!("{name} is encrypted and no passphrase was given"));
        if self.is_encrypted() && passphrase.is_none() {
            return Err(need());
        }
        let (key, comment) = match self.format {
            KeyFormat::OpenSsh { encrypted } => self.decrypt_openssh(encrypted, passphrase)?,
            _ => (self.decrypt_pem(passphrase)?, name.clone()),
        };
        let public = public_of(&key).map_err(|e| Error::KeyFile(format!("{name}: {e}")))?;
        proto::signing::check_key_size(&public)
            .map_err(|e| Error::KeyFile(format!("{name}: {e}")))?;
        if !key.check_key().unwrap_or(false) {
            return Err(Error::KeyFile(format!("{name}: not a consistent RSA key")));
        }
        Ok(LoadedKey { key, comment })
    }

    /// Every PEM form through OpenSSL's PEM reader, which also decrypts PKCS#8 (PBES2) and the
    /// legacy `DEK-Info` ciphers.
    fn decrypt_pem(&self, passphrase: Option<&[u8]>) -> Result<Rsa<Private>> {
        let name = &self.name;
        // The callback is only asked for encrypted files; with none given, OpenSSL must not
        // fall back to prompting on the terminal itself.
        let pkey = PKey::private_key_from_pem_callback(self.text.as_bytes(), |buf| {
            let pass = passphrase.ok_or_else(openssl::error::ErrorStack::get)?;
            let n = pass.len().min(buf.len());
            buf[..n].copy_from_slice(&pass[..n]);
            Ok(n)
        })
        .map_err(|e| {
            if self.is_encrypted() {
                // Bad padding or garbage after decryption: OpenSSL cannot tell a wrong
                // passphrase from a damaged file, and a wrong passphrase is far likelier.
                Error::WrongPassphrase(name.clone())
            } else {
                Error::KeyFile(format!("{name}: bad key: {}", first_reason(&e)))
            }
        })?;
        if pkey.id() != Id::RSA {
            let kind = match pkey.id() {
                Id::EC => "an EC key",
                Id::ED25519 => "an Ed25519 key",
                Id::ED448 => "an Ed448 key",
                Id::DSA => "a DSA key",
                _ => "another algorithm",
            };
            return Err(Error::KeyFile(format!(
                "{name} is not an RSA key ({kind}); CloudHSM MFA keys are RSA"
            )));
        }
        pkey.rsa()
            .map_err(|e| Error::KeyFile(format!("{name}: bad RSA key: {}", first_reason(&e))))
    }

    /// OpenSSH keys through `ssh-key`, then built as an OpenSSL key from their fields.
    fn decrypt_openssh(
        &self,
        encrypted: bool,
        passphrase: Option<&[u8]>,
    ) -> Result<(Rsa<Private>, String)> {
        let name = &self.name;
        let bad =
            |what: &str, e: &dyn std::fmt::Display| Error::KeyFile(format!("{name}: {what}: {e}"));
        let mut key = ssh_key::PrivateKey::from_openssh(self.text.as_bytes())
            .map_err(|e| bad("bad OpenSSH key", &e))?;
        if let (true, Some(pass)) = (encrypted, passphrase) {
            key = key.decrypt(pass).map_err(|e| match e {
                ssh_key::Error::Crypto => Error::WrongPassphrase(name.clone()),
                other => bad("cannot decrypt", &other),
            })?;
        }
        let comment = if key.comment().is_empty() {
            name.clone()
        } else {
            key.comment().to_owned()
        };
        let pair = key.key_data().rsa().ok_or_else(|| {
            Error::KeyFile(format!(
                "{name} is not an RSA key ({}); CloudHSM MFA keys are RSA",
                key.algorithm()
            ))
        })?;
        let int = |m: &ssh_key::Mpint| m.as_positive_bytes().unwrap_or(&[]).to_vec();
        let (n, e) = (int(&pair.public.n), int(&pair.public.e));
        let d = Zeroizing::new(int(&pair.private.d));
        let iqmp = Zeroizing::new(int(&pair.private.iqmp));
        let p = Zeroizing::new(int(&pair.private.p));
        let q = Zeroizing::new(int(&pair.private.q));
        let fields = RsaKeyFields {
            n: &n,
            e: &e,
            d: &d,
            iqmp: &iqmp,
            p: &p,
            q: &q,
        };
        let rsa = rsa_from_fields(fields).map_err(|e| bad("bad RSA key", &first_reason(&e)))?;
        Ok((rsa, comment))
    }
}

/// True for `Proc-Type: 4,ENCRYPTED` PEM, as `openssl genrsa -aes256` wrote under OpenSSL 1.x.
fn is_legacy_encrypted(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim().eq_ignore_ascii_case("Proc-Type: 4,ENCRYPTED"))
}

/// OpenSSL's first reason, for a one-line message.
fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(|e| e.reason().map(str::to_owned))
        .unwrap_or_else(|| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::symm::Cipher;

    fn key() -> Rsa<Private> {
        crate::test_key()
    }

    fn der(key: &Rsa<Private>) -> Vec<u8> {
        key.private_key_to_der().expect("der")
    }

    fn parse(text: &[u8]) -> Result<KeyFile> {
        let text = String::from_utf8(text.to_vec()).expect("utf8");
        KeyFile::parse("test.key", Zeroizing::new(text))
    }

    #[test]
    fn reads_pkcs1_and_pkcs8() {
        let pkcs1 = key().private_key_to_pem().expect("pkcs1");
        let file = parse(&pkcs1).expect("parse");
        assert_eq!(file.format(), KeyFormat::Pkcs1);
        assert_eq!(der(&file.decrypt(None).expect("key").key), der(&key()));
        let pkey = PKey::from_rsa(key()).expect("pkey");
        let pkcs8 = pkey.private_key_to_pem_pkcs8().expect("pkcs8");
        let file = parse(&pkcs8).expect("parse");
        assert_eq!(file.format(), KeyFormat::Pkcs8);
        let loaded = file.decrypt(None).expect("key");
        assert_eq!(der(&loaded.key), der(&key()));
        assert_eq!(loaded.comment, "test.key");
        assert_eq!(file.public_key(), public_of(&key()).ok());
    }

    #[test]
    fn encrypted_pem_needs_the_right_passphrase() {
        let pkey = PKey::from_rsa(key()).expect("pkey");
        let pkcs8 = pkey
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"right")
            .expect("encrypt");
        let legacy = key()
            .private_key_to_pem_passphrase(Cipher::aes_128_cbc(), b"right")
            .expect("encrypt");
        for (pem, format) in [
            (pkcs8, KeyFormat::EncryptedPkcs8),
            (legacy, KeyFormat::LegacyEncrypted),
        ] {
            let file = parse(&pem).expect("parse");
            assert_eq!(file.format(), format);
            assert!(file.is_encrypted());
            assert!(file.public_key().is_none());
            assert!(matches!(file.decrypt(None), Err(Error::KeyFile(_))));
            assert!(matches!(
                file.decrypt(Some(b"wrong")),
                Err(Error::WrongPassphrase(_))
            ));
            let loaded = file.decrypt(Some(b"right")).expect("key");
            assert_eq!(der(&loaded.key), der(&key()));
        }
    }

    #[test]
    fn public_keys_and_other_algorithms_are_named() {
        let public = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(parse(public), Err(Error::KeyFile(m)) if m.contains("public key")));
        let ec = b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(parse(ec), Err(Error::KeyFile(m)) if m.contains("not an RSA key")));
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
            .expect("group");
        let ec_key =
            PKey::from_ec_key(openssl::ec::EcKey::generate(&group).expect("ec")).expect("pkey");
        let file = parse(&ec_key.private_key_to_pem_pkcs8().expect("pem")).expect("parse");
        assert!(matches!(file.decrypt(None), Err(Error::KeyFile(m)) if m.contains("an EC key")));
        assert!(matches!(parse(b"hello"), Err(Error::KeyFile(_))));
    }
}
