//! Software keys: an RSA key unlocked into the agent's memory as an OpenSSL key, signing
//! through OpenSSL, so the private-key operation is OpenSSL's constant-time, blinded RSA, the
//! code `openssl pkeyutl` itself runs.
//!
//! Key material: the add-identity request's fields are `Zeroizing` and wiped when the request
//! is dropped; OpenSSL copies them into its own BIGNUMs, which `RSA_free` clears
//! (`BN_clear_free`) when the last holder of the key lets go.

use std::sync::{Mutex, MutexGuard, PoisonError};

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::md::Md;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::sign::Signer;
use proto::key::RsaKeyMaterial;
use proto::signing::Token;
use rsa::RsaPublicKey;

use super::key_backend::{KeyBackend, SignError, SshHash};
use crate::rsa_key::rsa_from_fields;

/// An unlocked RSA key held by OpenSSL.
pub(crate) struct SoftwareKey {
    key: PKey<Private>,
    /// Token-signing contexts set up and ready, one per signature running at once. Setting
    /// one up (`EVP_PKEY_CTX_new`, `sign_init`, padding, digest: OpenSSL 3 looks the
    /// algorithms up by name) cost a few microseconds hot and a large part of a signature on
    /// a core just back from idle; `openssl speed` too sets its context up once.
    ready: Mutex<Vec<PkeyCtx<Private>>>,
}

/// Contexts kept per key: more than the signatures that run at once on any machine we know.
const READY_CONTEXTS: usize = 64;

impl SoftwareKey {
    /// Builds the key from an add-identity request's fields and checks it (consistent
    /// fields, at least 2048 bits); returns its public half too.
    pub(crate) fn from_material(
        material: &RsaKeyMaterial,
    ) -> Result<(SoftwareKey, RsaPublicKey), String> {
        let public = material.public_key().map_err(|e| e.to_string())?;
        let rsa = rsa_from_fields(material.fields()).map_err(|e| format!("bad key: {e}"))?;
        if !rsa.check_key().unwrap_or(false) {
            return Err("bad key: its fields are not one consistent RSA key".into());
        }
        let key = PKey::from_rsa(rsa).map_err(|e| format!("bad key: {e}"))?;
        let key = SoftwareKey {
            key,
            ready: Mutex::default(),
        };
        // The first login's signature should not pay for the set-up either.
        let first = key.token_context().map_err(|e| format!("bad key: {e}"))?;
        key.ready_contexts().push(first);
        Ok((key, public))
    }

    /// A new token-signing context: EVP_PKEY_sign with the digest set, so the input is taken
    /// as the SHA-256 digest and wrapped in its DigestInfo, exactly `pkeyutl -pkeyopt
    /// digest:sha256`.
    fn token_context(&self) -> Result<PkeyCtx<Private>, ErrorStack> {
        let mut ctx = PkeyCtx::new(&self.key)?;
        ctx.sign_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)?;
        ctx.set_signature_md(Md::sha256())?;
        Ok(ctx)
    }

    fn ready_contexts(&self) -> MutexGuard<'_, Vec<PkeyCtx<Private>>> {
        // A panic cannot leave the Vec half-changed.
        self.ready.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeyBackend for SoftwareKey {
    fn sign_token(&self, token: &Token) -> Result<Vec<u8>, SignError> {
        let ready = self.ready_contexts().pop();
        let mut ctx = match ready {
            Some(ctx) => ctx,
            None => self.token_context()?,
        };
        let mut signature = Vec::new();
        ctx.sign_to_vec(token, &mut signature)?;
        // A context whose signature failed is dropped, not reused.
        let mut ready = self.ready_contexts();
        if ready.len() < READY_CONTEXTS {
            ready.push(ctx);
        }
        Ok(signature)
    }

    fn sign_ssh(&self, hash: SshHash, data: &[u8]) -> Result<Vec<u8>, SignError> {
        let digest = match hash {
            SshHash::Sha256 => MessageDigest::sha256(),
            SshHash::Sha512 => MessageDigest::sha512(),
        };
        let mut signer = Signer::new(digest, &self.key)?;
        signer.set_rsa_padding(Padding::PKCS1)?;
        Ok(signer.sign_oneshot_to_vec(data)?)
    }

    fn origin(&self) -> String {
        "software".to_owned()
    }

    fn signs_quickly(&self) -> bool {
        // 2048 bits: 0.3 ms a signature on this project's 2-core VM; 4096 bits: about 2 ms.
        self.key.bits() <= 4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rsa_key::material_of;
    use openssl::rsa::Rsa;
    use proto::key::RsaKeyFields;
    use std::path::{Path, PathBuf};

    fn vectors(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../proto/tests/data")
            .join(rel)
    }

    fn read(rel: &str) -> Vec<u8> {
        std::fs::read(vectors(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    #[test]
    fn token_signatures_match_openssl_pkeyutl_byte_for_byte() {
        for name in ["rsa2048-a", "rsa2048-b", "rsa4096"] {
            let pem = read(&format!("keys/{name}.pem"));
            let rsa = Rsa::private_key_from_pem(&pem).expect("key");
            let (key, _) = SoftwareKey::from_material(&material_of(&rsa)).expect("key");
            for n in 1..=3 {
                let token: Token = read(&format!("tokens/token-{n}.bin"))
                    .try_into()
                    .expect("32 bytes");
                let expected = read(&format!("sigs/{name}.token-{n}.sig"));
                assert_eq!(
                    key.sign_token(&token).expect("sign"),
                    expected,
                    "{name} {n}"
                );
            }
        }
    }

    #[test]
    fn ssh_signatures_verify_with_the_public_key_and_the_right_hash() {
        let rsa = Rsa::generate(2048).expect("key");
        let (key, _) = SoftwareKey::from_material(&material_of(&rsa)).expect("key");
        let public = PKey::from_rsa(
            Rsa::from_public_components(
                rsa.n().to_owned().expect("n"),
                rsa.e().to_owned().expect("e"),
            )
            .expect("public"),
        )
        .expect("pkey");
        for (hash, digest) in [
            (SshHash::Sha256, MessageDigest::sha256()),
            (SshHash::Sha512, MessageDigest::sha512()),
        ] {
            let signature = key.sign_ssh(hash, b"session data").expect("sign");
            let mut verifier = openssl::sign::Verifier::new(digest, &public).expect("verifier");
            verifier.set_rsa_padding(Padding::PKCS1).expect("padding");
            assert!(verifier
                .verify_oneshot(&signature, b"session data")
                .expect("verify"));
            assert!(!verifier
                .verify_oneshot(&signature, b"other data")
                .expect("verify"));
        }
    }

    #[test]
    fn inconsistent_or_small_keys_are_refused() {
        let rsa = Rsa::generate(2048).expect("key");
        let other = Rsa::generate(2048).expect("key");
        let good = material_of(&rsa);
        let f = good.fields();
        let wrong_d = other.d().to_vec();
        let mixed = RsaKeyMaterial::new(RsaKeyFields { d: &wrong_d, ..f });
        assert!(SoftwareKey::from_material(&mixed).is_err());
        let small = material_of(&Rsa::generate(1024).expect("key"));
        let err = SoftwareKey::from_material(&small).err().expect("refused");
        assert!(err.contains("1024"), "{err}");
    }
}
