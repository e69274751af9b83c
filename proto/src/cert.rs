//! OpenSSH RSA certificates (`ssh-rsa-cert-v01@openssh.com`, PROTOCOL.certkeys): the key a
//! certificate certifies, read out of its blob. The agent holds an RSA certificate beside its
//! key, as ssh-agent does, and signs with it as with the key; it checks the blob's shape and
//! that its private key matches, and leaves the CA's signature to the server that trusts it.

use crate::key::SSH_RSA;
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// The one certificate type the agent holds.
pub const SSH_RSA_CERT: &str = "ssh-rsa-cert-v01@openssh.com";
/// How every OpenSSH certificate type's name ends.
const CERT_SUFFIX: &str = "-cert-v01@openssh.com";
/// Certificate types (PROTOCOL.certkeys): a user's.
const USER_CERT: u32 = 1;

/// Certificate types (PROTOCOL.certkeys): a host's.
pub const HOST_CERT: u32 = 2;

/// An OpenSSH certificate's fields, read without checking its CA's signature (the caller
/// verifies `signature` over `signed` with `signature_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// The certificate's key type, e.g. `ssh-ed25519-cert-v01@openssh.com`.
    pub algorithm: &'a str,
    /// The certified key's public fields, each a wire `string` (an mpint is one too).
    pub key_fields: Vec<&'a [u8]>,
    pub cert_type: u32,
    pub principals: Vec<String>,
    pub valid_after: u64,
    pub valid_before: u64,
    /// The critical options, undecoded (a host certificate has none).
    pub critical_options: &'a [u8],
    /// The CA's public key blob.
    pub signature_key: &'a [u8],
    /// The CA's signature blob.
    pub signature: &'a [u8],
    /// Everything the CA signed: the blob up to and including the signature key.
    pub signed: &'a [u8],
}

/// The plain key type of each certificate type whose public fields we can skip, and how
/// many `string`s they are.
const KEY_TYPES: [(&str, &str, usize); 6] = [
    (SSH_RSA_CERT, SSH_RSA, 2),
    ("ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519", 1),
    (
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256",
        2,
    ),
    (
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384",
        2,
    ),
    (
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521",
        2,
    ),
    ("ssh-dss-cert-v01@openssh.com", "ssh-dss", 4),
];

impl<'a> Certificate<'a> {
    /// Reads every field of a certificate blob; nothing may follow them.
    pub fn parse(blob: &'a [u8]) -> Result<Self> {
        let bad = Error::BadCertificate;
        let mut r = Reader::new(blob);
        let start = r.clone();
        let algorithm = r.utf8()?;
        let Some(&(_, _, fields)) = KEY_TYPES.iter().find(|(name, ..)| *name == algorithm) else {
            return Err(Error::NotRsa(algorithm.to_owned()));
        };
        r.string()?; // nonce
        let key_fields = (0..fields)
            .map(|_| r.string())
            .collect::<Result<Vec<_>>>()?;
        r.u64()?; // serial
        let cert_type = r.u32()?;
        if cert_type != USER_CERT && cert_type != HOST_CERT {
            return Err(bad("unknown certificate type"));
        }
        r.string()?; // key id
        let mut list = Reader::new(r.string()?);
        let mut principals = Vec::new();
        while !list.is_empty() {
            principals.push(list.utf8()?.to_owned());
        }
        let valid_after = r.u64()?;
        let valid_before = r.u64()?;
        let critical_options = r.string()?;
        r.string()?; // extensions
        r.string()?; // reserved
        let signature_key = r.string()?;
        let signed = r.since(&start);
        let signature = r.string()?;
        r.finish()?;
        Ok(Certificate {
            algorithm,
            key_fields,
            cert_type,
            principals,
            valid_after,
            valid_before,
            critical_options,
            signature_key,
            signature,
            signed,
        })
    }

    /// The certified key as a plain public key blob (its type without `-cert-v01`).
    pub fn plain_key(&self) -> Vec<u8> {
        let plain = KEY_TYPES
            .iter()
            .find(|(name, ..)| *name == self.algorithm)
            .map_or("", |(_, plain, _)| plain);
        let mut w = Writer::new();
        w.string(plain.as_bytes());
        for field in &self.key_fields {
            w.string(field);
        }
        w.into_vec()
    }

    /// The name of the CA's signature algorithm (`rsa-sha2-512`, `ssh-ed25519`, ...).
    pub fn signature_algorithm(&self) -> Result<&'a str> {
        Reader::new(self.signature).utf8()
    }
}

/// The RSA public key an `ssh-rsa-cert-v01@openssh.com` blob certifies: (e, n), big-endian.
/// Every field of the certificate must be there and nothing after it.
pub fn rsa_certificate_key(blob: &[u8]) -> Result<(&[u8], &[u8])> {
    let algorithm = Reader::new(blob).utf8()?;
    if algorithm != SSH_RSA_CERT {
        return Err(Error::NotRsa(algorithm.to_owned()));
    }
    let cert = Certificate::parse(blob)?;
    match cert.key_fields[..] {
        [e, n] if !magnitude(e).is_empty() && !magnitude(n).is_empty() => {
            Ok((magnitude(e), magnitude(n)))
        }
        _ => Err(Error::BadCertificate("an empty RSA field")),
    }
}

/// An mpint's unsigned magnitude, without leading zeros.
fn magnitude(mpint: &[u8]) -> &[u8] {
    let start = mpint.iter().position(|&b| b != 0).unwrap_or(mpint.len());
    &mpint[start..]
}

/// True when the blob's key type is an OpenSSH certificate of any key type.
pub fn is_certificate(blob: &[u8]) -> bool {
    Reader::new(blob)
        .utf8()
        .is_ok_and(|name| name.ends_with(CERT_SUFFIX))
}

/// The plain key blob of any key or certificate blob (a blob that does not read as a
/// certificate is returned as it is): what fingerprints are taken over (`ssh-add -l` prints
/// a certificate with its key's).
pub fn plain_key_of(blob: &[u8]) -> Vec<u8> {
    match Certificate::parse(blob) {
        Ok(cert) => cert.plain_key(),
        Err(_) => blob.to_vec(),
    }
}

/// The signature algorithms a public-key userauth request may name for `key_blob`'s type.
pub fn userauth_algorithms(key_blob: &[u8]) -> &'static [&'static str] {
    match Reader::new(key_blob).utf8() {
        Ok(SSH_RSA) => &["ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"],
        Ok(SSH_RSA_CERT) => &[
            SSH_RSA_CERT,
            "rsa-sha2-256-cert-v01@openssh.com",
            "rsa-sha2-512-cert-v01@openssh.com",
        ],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::public_key_blob_of;

    /// A certificate blob's shape, with made-up CA fields.
    fn certificate(kind: u32) -> Vec<u8> {
        let mut w = Writer::new();
        w.string(SSH_RSA_CERT.as_bytes())
            .string(&[7; 32])
            .mpint(&[1, 0, 1])
            .mpint(&[0xc5; 256])
            .u32(0)
            .u32(42)
            .u32(kind)
            .string(b"id")
            .string(b"")
            .u32(0)
            .u32(0)
            .u32(u32::MAX)
            .u32(u32::MAX)
            .string(b"")
            .string(b"")
            .string(b"")
            .string(b"ca key")
            .string(b"ca signature");
        w.into_vec()
    }

    #[test]
    fn an_rsa_certificate_gives_its_key() {
        let blob = certificate(USER_CERT);
        let (e, n) = rsa_certificate_key(&blob).expect("key");
        assert_eq!((e, n), (&[1, 0, 1][..], &[0xc5; 256][..]));
        let cert = Certificate::parse(&blob).expect("parse");
        assert_eq!(cert.plain_key(), public_key_blob_of(e, n));
        assert_eq!(cert.signature, b"ca signature");
        assert_eq!(cert.signature_key, b"ca key");
        assert_eq!(cert.signed.len(), blob.len() - 4 - b"ca signature".len());
        assert_eq!((cert.valid_after, cert.valid_before), (0, u64::MAX));
        assert!(is_certificate(&blob));
        assert_eq!(plain_key_of(&blob), public_key_blob_of(e, n));
        assert_eq!(userauth_algorithms(&blob).len(), 3);
    }

    #[test]
    fn a_bad_certificate_is_refused() {
        let mut blob = certificate(3);
        assert!(matches!(
            rsa_certificate_key(&blob),
            Err(Error::BadCertificate(_))
        ));
        blob = certificate(HOST_CERT);
        blob.push(0);
        assert!(rsa_certificate_key(&blob).is_err());
        let mut w = Writer::new();
        w.string(b"ssh-ed25519-cert-v01@openssh.com");
        let other = w.into_vec();
        assert!(matches!(rsa_certificate_key(&other), Err(Error::NotRsa(_))));
        assert!(is_certificate(&other));
        assert!(userauth_algorithms(&other).is_empty());
    }
}
