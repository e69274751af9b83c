//! Legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED` and `DEK-Info`), as `openssl genrsa -aes256`
//! wrote under OpenSSL 1.x and `openssl rsa -traditional -aes128|-des3` still writes.
//!
//! The key is OpenSSL's `EVP_BytesToKey` with MD5, one iteration, and the first 8 bytes of the
//! IV as salt; the body is CBC with PKCS#7 padding around a PKCS#1 `RSAPrivateKey`.

use aes::{Aes128, Aes192, Aes256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use des::TdesEde3;
use md5::{Digest, Md5};
use zeroize::Zeroizing;

/// The ciphers OpenSSL writes in `DEK-Info`, named as it names them.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DekCipher {
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
    DesEde3Cbc,
}

impl DekCipher {
    fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "AES-128-CBC" => Some(DekCipher::Aes128Cbc),
            "AES-192-CBC" => Some(DekCipher::Aes192Cbc),
            "AES-256-CBC" => Some(DekCipher::Aes256Cbc),
            "DES-EDE3-CBC" => Some(DekCipher::DesEde3Cbc),
            _ => None,
        }
    }

    fn key_len(self) -> usize {
        match self {
            DekCipher::Aes128Cbc => 16,
            DekCipher::Aes192Cbc | DekCipher::DesEde3Cbc => 24,
            DekCipher::Aes256Cbc => 32,
        }
    }

    fn iv_len(self) -> usize {
        match self {
            DekCipher::DesEde3Cbc => 8,
            _ => 16,
        }
    }
}

/// An encrypted `BEGIN RSA PRIVATE KEY` block, parsed but not decrypted.
#[derive(Debug)]
pub struct LegacyPem {
    cipher: DekCipher,
    iv: Vec<u8>,
    body: Vec<u8>,
}

/// Why a legacy PEM could not be read or decrypted.
#[derive(Debug, PartialEq, Eq)]
pub enum LegacyPemError {
    /// Not a PEM file we can read; the text says why.
    Malformed(String),
    /// The padding did not check out: almost surely a wrong passphrase.
    WrongPassphrase,
}

impl LegacyPem {
    /// True when `text` is a PEM block with `Proc-Type: 4,ENCRYPTED`.
    pub fn is_legacy_encrypted(text: &str) -> bool {
        text.lines()
            .any(|l| l.trim().eq_ignore_ascii_case("Proc-Type: 4,ENCRYPTED"))
    }

    /// Parses the headers and the base64 body.
    pub fn parse(text: &str) -> Result<Self, LegacyPemError> {
        let malformed = |why: &str| LegacyPemError::Malformed(why.to_owned());
        let mut lines = text
            .lines()
            .map(str::trim)
            .skip_while(|l| !l.starts_with("-----BEGIN "));
        lines.next().ok_or_else(|| malformed("no PEM block"))?;
        let mut dek = None;
        let mut body = String::new();
        for line in lines {
            if line.starts_with("-----END ") {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("DEK-Info") {
                    dek = Some(value.trim().to_owned());
                }
                continue;
            }
            body.push_str(line);
        }
        let dek = dek.ok_or_else(|| malformed("encrypted PEM without DEK-Info"))?;
        let (name, iv_hex) = dek
            .split_once(',')
            .ok_or_else(|| malformed("DEK-Info without an IV"))?;
        let cipher = DekCipher::from_name(name.trim()).ok_or_else(|| {
            LegacyPemError::Malformed(format!(
                "unsupported PEM cipher {name} (supported: AES-128/192/256-CBC, DES-EDE3-CBC)"
            ))
        })?;
        let iv = decode_hex(iv_hex.trim()).ok_or_else(|| malformed("DEK-Info IV is not hex"))?;
        if iv.len() != cipher.iv_len() {
            return Err(malformed("DEK-Info IV has the wrong length"));
        }
        let body = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| malformed("PEM body is not base64"))?;
        Ok(LegacyPem { cipher, iv, body })
    }

    /// Decrypts to the DER `RSAPrivateKey`.
    pub fn decrypt(&self, passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, LegacyPemError> {
        let key = evp_bytes_to_key(passphrase, &self.iv[..8], self.cipher.key_len());
        let iv = &self.iv[..];
        let fail = |_| LegacyPemError::WrongPassphrase;
        let bad_len = |_| LegacyPemError::Malformed("bad key or IV length".to_owned());
        let plain = match self.cipher {
            DekCipher::Aes128Cbc => cbc::Decryptor::<Aes128>::new_from_slices(&key, iv)
                .map_err(bad_len)?
                .decrypt_padded_vec_mut::<Pkcs7>(&self.body)
                .map_err(fail)?,
            DekCipher::Aes192Cbc => cbc::Decryptor::<Aes192>::new_from_slices(&key, iv)
                .map_err(bad_len)?
                .decrypt_padded_vec_mut::<Pkcs7>(&self.body)
                .map_err(fail)?,
            DekCipher::Aes256Cbc => cbc::Decryptor::<Aes256>::new_from_slices(&key, iv)
                .map_err(bad_len)?
                .decrypt_padded_vec_mut::<Pkcs7>(&self.body)
                .map_err(fail)?,
            DekCipher::DesEde3Cbc => cbc::Decryptor::<TdesEde3>::new_from_slices(&key, iv)
                .map_err(bad_len)?
                .decrypt_padded_vec_mut::<Pkcs7>(&self.body)
                .map_err(fail)?,
        };
        Ok(Zeroizing::new(plain))
    }
}

/// OpenSSL's `EVP_BytesToKey(cipher, md5, salt, pass, count = 1)`:
/// D_1 = MD5(pass || salt), D_i = MD5(D_{i-1} || pass || salt), key = D_1 || D_2 || ...
fn evp_bytes_to_key(passphrase: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Option<Zeroizing<[u8; 16]>> = None;
    while out.len() < len {
        let mut md5 = Md5::new();
        if let Some(p) = &prev {
            md5.update(&p[..]);
        }
        md5.update(passphrase);
        md5.update(salt);
        let block = Zeroizing::new(<[u8; 16]>::from(md5.finalize()));
        out.extend_from_slice(&block[..]);
        prev = Some(block);
    }
    out.truncate(len);
    out
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        // `openssl enc -aes-256-cbc -P -md md5 -pass pass:secret -S 0102030405060708`
        // prints key=... for this salt; the first block is MD5("secret" || salt).
        let salt = [1, 2, 3, 4, 5, 6, 7, 8];
        let key = evp_bytes_to_key(b"secret", &salt, 32);
        let mut d1 = Md5::new();
        d1.update(b"secret");
        d1.update(salt);
        let d1 = d1.finalize();
        assert_eq!(&key[..16], &d1[..]);
        let mut d2 = Md5::new();
        d2.update(d1);
        d2.update(b"secret");
        d2.update(salt);
        assert_eq!(&key[16..], &d2.finalize()[..]);
    }

    #[test]
    fn headers_are_required_and_checked() {
        assert!(LegacyPem::parse("nothing").is_err());
        let no_dek = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(LegacyPem::is_legacy_encrypted(no_dek));
        assert!(LegacyPem::parse(no_dek).is_err());
        let bad_cipher = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: BF-CBC,0102030405060708\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(
            matches!(LegacyPem::parse(bad_cipher), Err(LegacyPemError::Malformed(m)) if m.contains("BF-CBC"))
        );
    }
}
