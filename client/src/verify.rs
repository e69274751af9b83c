//! Checking the agent's token signatures before they are used, through OpenSSL: the check
//! `openssl pkeyutl -verify -pkeyopt digest:sha256` makes (RSASSA-PKCS1-v1_5 over
//! DigestInfo(SHA-256) || token, the token not hashed again). A signature that does not
//! verify never reaches a token file.

use openssl::bn::BigNum;
use openssl::error::ErrorStack;
use openssl::md::Md;
use openssl::pkey::{PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use proto::signing::Token;
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;

/// An agent key's public half, ready to check signatures with.
pub(crate) struct Verifier {
    /// Set up once for all the tokens of a request (OpenSSL 3 looks the algorithms up by
    /// name at every set-up).
    ctx: PkeyCtx<Public>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier")
    }
}

impl Verifier {
    pub(crate) fn new(public: &RsaPublicKey) -> Result<Verifier, ErrorStack> {
        let n = BigNum::from_slice(&public.n().to_bytes_be())?;
        let e = BigNum::from_slice(&public.e().to_bytes_be())?;
        let key: PKey<Public> = PKey::from_rsa(Rsa::from_public_components(n, e)?)?;
        let mut ctx = PkeyCtx::new(&key)?;
        ctx.verify_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)?;
        ctx.set_signature_md(Md::sha256())?;
        Ok(Verifier { ctx })
    }

    /// True when `signature` is the key's signature of `token` by the CloudHSM rule.
    pub(crate) fn verifies(&mut self, token: &Token, signature: &[u8]) -> bool {
        // OpenSSL reports a malformed signature as an error: that is a "no" too.
        self.ctx.verify(token, signature).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey;
    use std::path::Path;

    fn read(rel: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../proto/tests/data")
            .join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn verifier(name: &str) -> Verifier {
        let pem = String::from_utf8(read(&format!("keys/{name}.pub.pem"))).expect("utf-8");
        Verifier::new(&RsaPublicKey::from_public_key_pem(&pem).expect("public key")).expect("key")
    }

    fn token(n: u32) -> Token {
        read(&format!("tokens/token-{n}.bin"))
            .try_into()
            .expect("32 bytes")
    }

    // The signatures are `openssl pkeyutl`'s (proto/tests/data/make-vectors.sh).
    #[test]
    fn openssl_pkeyutl_signatures_verify_and_nothing_else_does() {
        for name in ["rsa2048-a", "rsa2048-b", "rsa4096"] {
            let mut key = verifier(name);
            for n in 1..=3 {
                let good = read(&format!("sigs/{name}.token-{n}.sig"));
                assert!(key.verifies(&token(n), &good), "{name} token {n}");
                // `openssl dgst -sha256 -sign` hashes the token again: not the CloudHSM rule.
                let rehashed = read(&format!("sigs/{name}.token-{n}.rehashed.sig"));
                assert!(!key.verifies(&token(n), &rehashed), "{name} rehashed {n}");
                let other = if n == 1 { 2 } else { 1 };
                assert!(!key.verifies(&token(other), &good), "{name} other token");
                let mut flipped = good.clone();
                flipped[10] ^= 1;
                assert!(!key.verifies(&token(n), &flipped), "{name} flipped bit");
                assert!(!key.verifies(&token(n), &good[1..]), "{name} short");
                assert!(!key.verifies(&token(n), b""), "{name} empty");
            }
        }
        let by_b = read("sigs/rsa2048-b.token-1.sig");
        assert!(!verifier("rsa2048-a").verifies(&token(1), &by_b));
    }
}
