//! OpenSSH RSA certificates (`ssh-rsa-cert-v01@openssh.com`, PROTOCOL.certkeys): the key a
//! certificate certifies, read out of its blob. The agent holds an RSA certificate beside its
//! key, as ssh-agent does, and signs with it as with the key; it checks the blob's shape and
//! that its private key matches, and leaves the CA's signature to the server that trusts it.

use crate::key::{public_key_blob_of, SSH_RSA};
use crate::wire::Reader;
use crate::{Error, Result};

/// The one certificate type the agent holds.
pub const SSH_RSA_CERT: &str = "ssh-rsa-cert-v01@openssh.com";
/// How every OpenSSH certificate type's name ends.
const CERT_SUFFIX: &str = "-cert-v01@openssh.com";
/// Certificate types (PROTOCOL.certkeys): a user's and a host's.
const USER_CERT: u32 = 1;
const HOST_CERT: u32 = 2;

/// The RSA public key an `ssh-rsa-cert-v01@openssh.com` blob certifies: (e, n), big-endian.
/// Every field of the certificate must be there and nothing after it.
pub fn rsa_certificate_key(blob: &[u8]) -> Result<(&[u8], &[u8])> {
    let bad = Error::BadCertificate;
    let mut r = Reader::new(blob);
    let algorithm = r.utf8()?;
    if algorithm != SSH_RSA_CERT {
        return Err(Error::NotRsa(algorithm.to_owned()));
    }
    r.string()?; // nonce
    let e = r.mpint()?;
    let n = r.mpint()?;
    r.u32()?; // serial, a uint64
    r.u32()?;
    let kind = r.u32()?;
    if kind != USER_CERT && kind != HOST_CERT {
        return Err(bad("unknown certificate type"));
    }
    // key id, valid principals, valid after and before (uint64 each), critical options,
    // extensions, reserved, signature key, signature.
    r.string()?;
    r.string()?;
    for _ in 0..4 {
        r.u32()?;
    }
    for _ in 0..5 {
        r.string()?;
    }
    r.finish()?;
    if e.is_empty() || n.is_empty() {
        return Err(bad("an empty RSA field"));
    }
    Ok((e, n))
}

/// True when the blob's key type is an OpenSSH certificate of any key type.
pub fn is_certificate(blob: &[u8]) -> bool {
    Reader::new(blob)
        .utf8()
        .is_ok_and(|name| name.ends_with(CERT_SUFFIX))
}

/// The plain `ssh-rsa` blob of a key or of the key an RSA certificate certifies: what
/// fingerprints are taken over (`ssh-add -l` prints a certificate with its key's).
pub fn plain_blob(blob: &[u8]) -> Vec<u8> {
    match rsa_certificate_key(blob) {
        Ok((e, n)) => public_key_blob_of(e, n),
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
    use crate::wire::Writer;

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
        assert!(is_certificate(&blob));
        assert_eq!(plain_blob(&blob), public_key_blob_of(e, n));
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
