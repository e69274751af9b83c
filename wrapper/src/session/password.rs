//! Telling passwords apart without keeping them: a password typed or read for a login is
//! held only as HMAC-SHA-256 under a key made at random for this session, in memory, never
//! written anywhere. Equal fingerprints mean the same password was given again, which the
//! CLI would reject again (see `rejected`).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Where the password of the login under way came from, as far as mfa-login knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordId {
    /// mfa-login typed `--password-file`'s password (always the same bytes).
    File,
    /// A password the person typed, or `--password P` on the command line.
    Fingerprint([u8; 32]),
    /// Nothing is known (keys mfa-login could not follow were used).
    Unknown,
}

/// Makes [`PasswordId::Fingerprint`]s under one session key.
pub struct Fingerprinter {
    key: Zeroizing<[u8; 32]>,
}

impl Fingerprinter {
    /// A fingerprinter with a fresh random key.
    pub fn new() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, key.as_mut());
        Fingerprinter { key }
    }

    /// A fingerprinter with a given key, for tests.
    #[cfg(test)]
    pub fn with_key(key: [u8; 32]) -> Self {
        Fingerprinter {
            key: Zeroizing::new(key),
        }
    }

    pub fn fingerprint(&self, password: &[u8]) -> PasswordId {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.key.as_ref()) else {
            return PasswordId::Unknown;
        };
        mac.update(password);
        PasswordId::Fingerprint(mac.finalize().into_bytes().into())
    }
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Self::new()
    }
}

/// Collects what the person types at a password prompt until Enter, following Backspace and
/// ^U as a cooked terminal does; anything else unusual makes the result unknown.
#[derive(Default)]
pub struct TypedPassword {
    line: Zeroizing<Vec<u8>>,
    unknown: bool,
}

impl TypedPassword {
    /// Feeds typed bytes; returns the bytes typed when Enter ends the line.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<Option<Zeroizing<Vec<u8>>>> {
        for &b in bytes {
            match b {
                b'\r' | b'\n' => {
                    let line = std::mem::take(&mut self.line);
                    let unknown = std::mem::take(&mut self.unknown);
                    return Some((!unknown).then_some(line));
                }
                0x08 | 0x7f => crate::text::pop_char(&mut self.line),
                0x15 => self.line.clear(),
                0x00..=0x1f => self.unknown = true,
                _ => self.line.push(b),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_password_has_the_same_fingerprint_only_under_the_same_key() {
        let f = Fingerprinter::with_key([7; 32]);
        assert_eq!(f.fingerprint(b"pw"), f.fingerprint(b"pw"));
        assert_ne!(f.fingerprint(b"pw"), f.fingerprint(b"pW"));
        let other = Fingerprinter::new();
        assert_ne!(f.fingerprint(b"pw"), other.fingerprint(b"pw"));
    }

    #[test]
    fn a_typed_password_follows_backspace_and_kill_line() {
        let mut t = TypedPassword::default();
        assert_eq!(t.feed(b"sec"), None);
        let line = t.feed(b"x\x7fret\r").expect("Enter").expect("known");
        assert_eq!(line.as_slice(), b"secret");
        let line = t.feed(b"junk\x15pw\n").expect("Enter").expect("known");
        assert_eq!(line.as_slice(), b"pw");
        assert_eq!(t.feed(b"\x1b[Dpw\r"), Some(None), "cursor keys: unknown");
    }
}
