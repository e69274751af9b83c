//! RSA keys on the wire: the `ssh-rsa` public key blob (RFC 4253 section 6.6), the private key
//! fields of an add-identity request (RFC 9987), and `SHA256:` fingerprints as ssh-keygen prints.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::cert::{rsa_certificate_key, SSH_RSA_CERT};
use crate::signing::check_key_size;
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// The one key algorithm the agent holds.
pub const SSH_RSA: &str = "ssh-rsa";

/// Encodes a public key as an `ssh-rsa` blob: string "ssh-rsa", mpint e, mpint n.
pub fn public_key_blob(key: &RsaPublicKey) -> Vec<u8> {
    public_key_blob_of(&key.e().to_bytes_be(), &key.n().to_bytes_be())
}

/// The `ssh-rsa` blob of e and n (big-endian).
pub fn public_key_blob_of(e: &[u8], n: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.string(SSH_RSA.as_bytes()).mpint(e).mpint(n);
    w.into_vec()
}

/// Decodes an `ssh-rsa` public key blob.
pub fn parse_public_key_blob(blob: &[u8]) -> Result<RsaPublicKey> {
    let mut r = Reader::new(blob);
    let algorithm = r.utf8()?;
    if algorithm != SSH_RSA {
        return Err(Error::NotRsa(algorithm.to_owned()));
    }
    let e = BigUint::from_bytes_be(r.mpint()?);
    let n = BigUint::from_bytes_be(r.mpint()?);
    r.finish()?;
    Ok(RsaPublicKey::new(n, e)?)
}

/// The fingerprint `ssh-keygen -l` prints: `SHA256:` and unpadded base64 of the blob's hash.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// The private fields of an `ssh-rsa` (or `ssh-rsa-cert-v01@openssh.com`) add-identity
/// request, wiped when dropped.
pub struct RsaKeyMaterial {
    /// The certificate blob, when the request adds an RSA certificate (n and e are its key's).
    certificate: Option<Vec<u8>>,
    n: Vec<u8>,
    e: Vec<u8>,
    d: Zeroizing<Vec<u8>>,
    iqmp: Zeroizing<Vec<u8>>,
    p: Zeroizing<Vec<u8>>,
    q: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for RsaKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RsaKeyMaterial({} bits, private fields hidden)",
            self.n.len() * 8
        )
    }
}

/// The fields of an RSA private key as big-endian unsigned integers, as they travel in an
/// add-identity request.
#[derive(Clone, Copy)]
pub struct RsaKeyFields<'a> {
    pub n: &'a [u8],
    pub e: &'a [u8],
    pub d: &'a [u8],
    /// q^-1 mod p.
    pub iqmp: &'a [u8],
    pub p: &'a [u8],
    pub q: &'a [u8],
}

impl RsaKeyMaterial {
    /// Copies the fields of a key, for sending it to the agent.
    pub fn new(fields: RsaKeyFields<'_>) -> Self {
        RsaKeyMaterial {
            certificate: None,
            n: fields.n.to_vec(),
            e: fields.e.to_vec(),
            d: Zeroizing::new(fields.d.to_vec()),
            iqmp: Zeroizing::new(fields.iqmp.to_vec()),
            p: Zeroizing::new(fields.p.to_vec()),
            q: Zeroizing::new(fields.q.to_vec()),
        }
    }

    /// The fields, for building the key in the agent's crypto library.
    pub fn fields(&self) -> RsaKeyFields<'_> {
        RsaKeyFields {
            n: &self.n,
            e: &self.e,
            d: &self.d,
            iqmp: &self.iqmp,
            p: &self.p,
            q: &self.q,
        }
    }

    /// The public half, refused when smaller than the CloudHSM minimum.
    pub fn public_key(&self) -> Result<RsaPublicKey> {
        let key = RsaPublicKey::new(
            BigUint::from_bytes_be(&self.n),
            BigUint::from_bytes_be(&self.e),
        )?;
        check_key_size(&key)?;
        Ok(key)
    }

    /// The certificate this request adds, if it adds one.
    pub fn certificate(&self) -> Option<&[u8]> {
        self.certificate.as_deref()
    }

    /// Reads the fields after the `ssh-rsa-cert-v01@openssh.com` type string: string
    /// certificate, mpint d, iqmp, p, q (OpenSSH's `sshkey_private_serialize`); n and e are
    /// the certificate's.
    pub fn decode_certified(r: &mut Reader<'_>) -> Result<Self> {
        let certificate = r.string()?;
        let (e, n) = rsa_certificate_key(certificate)?;
        Ok(RsaKeyMaterial {
            certificate: Some(certificate.to_vec()),
            n: n.to_vec(),
            e: e.to_vec(),
            d: Zeroizing::new(r.mpint()?.to_vec()),
            iqmp: Zeroizing::new(r.mpint()?.to_vec()),
            p: Zeroizing::new(r.mpint()?.to_vec()),
            q: Zeroizing::new(r.mpint()?.to_vec()),
        })
    }

    /// Reads the fields after the key type string: mpint n, e, d, iqmp, p, q.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(RsaKeyMaterial {
            certificate: None,
            n: r.mpint()?.to_vec(),
            e: r.mpint()?.to_vec(),
            d: Zeroizing::new(r.mpint()?.to_vec()),
            iqmp: Zeroizing::new(r.mpint()?.to_vec()),
            p: Zeroizing::new(r.mpint()?.to_vec()),
            q: Zeroizing::new(r.mpint()?.to_vec()),
        })
    }

    /// Writes the key type string and the fields.
    pub fn encode(&self, w: &mut Writer) {
        if let Some(certificate) = &self.certificate {
            w.string(SSH_RSA_CERT.as_bytes())
                .string(certificate)
                .mpint(&self.d)
                .mpint(&self.iqmp)
                .mpint(&self.p)
                .mpint(&self.q);
            return;
        }
        w.string(SSH_RSA.as_bytes())
            .mpint(&self.n)
            .mpint(&self.e)
            .mpint(&self.d)
            .mpint(&self.iqmp)
            .mpint(&self.p)
            .mpint(&self.q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;
    use rsa::RsaPrivateKey;

    #[test]
    fn key_material_round_trips_through_the_wire() {
        let key = RsaPrivateKey::new(&mut OsRng, 2048).expect("key");
        let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
        let fields = RsaKeyFields {
            n: &n,
            e: &e,
            d: b"d-bytes",
            iqmp: b"iqmp",
            p: b"p-bytes",
            q: b"q-bytes",
        };
        let mut w = Writer::new();
        RsaKeyMaterial::new(fields).encode(&mut w);
        let bytes = w.into_vec();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.utf8().expect("type"), SSH_RSA);
        let back = RsaKeyMaterial::decode(&mut r).expect("decode");
        r.finish().expect("no trailing bytes");
        let got = back.fields();
        assert_eq!(
            (got.n, got.e, got.d, got.iqmp, got.p, got.q),
            (
                &n[..],
                &e[..],
                &b"d-bytes"[..],
                &b"iqmp"[..],
                &b"p-bytes"[..],
                &b"q-bytes"[..]
            )
        );
        assert_eq!(back.public_key().expect("public"), key.to_public_key());
    }

    #[test]
    fn small_keys_are_refused() {
        let key = RsaPrivateKey::new(&mut OsRng, 1024).expect("key");
        let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
        let material = RsaKeyMaterial::new(RsaKeyFields {
            n: &n,
            e: &e,
            d: &[1],
            iqmp: &[1],
            p: &[1],
            q: &[1],
        });
        assert!(matches!(
            material.public_key(),
            Err(Error::KeyTooSmall { bits: 1024, .. })
        ));
    }

    #[test]
    fn public_blob_round_trips() {
        let key = RsaPrivateKey::new(&mut OsRng, 2048).expect("key");
        let blob = public_key_blob(&key.to_public_key());
        assert_eq!(
            parse_public_key_blob(&blob).expect("parse"),
            key.to_public_key()
        );
    }
}
