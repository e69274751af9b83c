//! The CloudHSM token-sign rule: RSASSA-PKCS1-v1_5 over DigestInfo(SHA-256) || token, where
//! the 32-byte token is already the digest and is not hashed again.
//!
//! Byte-identical to `openssl pkeyutl -sign -inkey KEY -pkeyopt digest:sha256 -in token.bin`.
//!
//! This module holds the rule and checks signatures with the public key; the private-key
//! operation itself is the agent's, through OpenSSL or inside a PKCS#11 token, never through
//! the `rsa` crate (RUSTSEC-2023-0071: its private-key operation is not constant time).

use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::Sha256;

use crate::wire::Writer;
use crate::{Error, Result};

/// Length of a CloudHSM token: it is a SHA-256 digest.
pub const TOKEN_LEN: usize = 32;

/// The smallest RSA key we accept; the CloudHSM key spec is RSA_2048.
pub const MIN_KEY_BITS: usize = 2048;

/// DER of DigestInfo for SHA-256 without the digest (RFC 8017 section 9.2, note 1).
pub const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A 32-byte CloudHSM token, the digest that gets signed.
pub type Token = [u8; TOKEN_LEN];

fn padding() -> Pkcs1v15Sign {
    Pkcs1v15Sign::new::<Sha256>()
}

/// Checks that a key is big enough for CloudHSM MFA.
pub fn check_key_size(key: &RsaPublicKey) -> Result<()> {
    let bits = key.n().bits();
    if bits < MIN_KEY_BITS {
        return Err(Error::KeyTooSmall {
            bits,
            min: MIN_KEY_BITS,
        });
    }
    Ok(())
}

/// Verifies a token's signature by the CloudHSM rule.
pub fn verify_token(key: &RsaPublicKey, token: &[u8], signature: &[u8]) -> Result<()> {
    if token.len() != TOKEN_LEN {
        return Err(Error::InvalidDigestLength(token.len()));
    }
    key.verify(padding(), token, signature)
        .map_err(|_| Error::BadSignature)
}

/// The SSH signature blob for an RSA signature (RFC 8332 section 3).
pub fn ssh_signature_blob(algorithm: &str, signature: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.string(algorithm.as_bytes()).string(signature);
    w.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_prefix_is_the_one_used() {
        assert_eq!(&*padding().prefix, &SHA256_DIGEST_INFO_PREFIX[..]);
    }

    #[test]
    fn rejects_tokens_that_are_not_32_bytes() {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).expect("key");
        for len in [0, 31, 33, 64] {
            let err = verify_token(&key.to_public_key(), &vec![7; len], &[0; 128])
                .expect_err("must refuse");
            assert!(matches!(err, Error::InvalidDigestLength(n) if n == len));
        }
    }
}
