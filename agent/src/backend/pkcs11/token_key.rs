//! A key on a PKCS#11 token, as the agent holds it: the [`KeyBackend`] that asks the
//! provider's helper process to sign. The private key stays on the token.
//!
//! Signatures are `C_Sign` with `CKM_RSA_PKCS` over DigestInfo || digest: for a CloudHSM
//! token DigestInfo(SHA-256) || token, the token not hashed again; for SSH the DigestInfo of
//! SHA-256 or SHA-512 over the digest OpenSSL computes here.

use std::sync::Arc;

use openssl::hash::{hash, MessageDigest};
use proto::pkcs11::{hex, HelperRequest, HelperResponse, Pkcs11Cause, TokenKeyInfo};
use proto::signing::{Token, SHA256_DIGEST_INFO_PREFIX};

use super::choice::TokenFailure;
use super::helper::{ProviderHelper, SIGN_TIMEOUT};
use crate::backend::key_backend::{KeyBackend, SignError, SshHash};

/// DER of DigestInfo for SHA-512 without the digest (RFC 8017 section 9.2, note 1).
const SHA512_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// An RSA key on a token, signing through its provider's helper; holding it keeps the helper
/// running.
pub struct TokenKey {
    helper: Arc<ProviderHelper>,
    info: TokenKeyInfo,
}

impl TokenKey {
    pub fn new(helper: Arc<ProviderHelper>, info: TokenKeyInfo) -> Self {
        TokenKey { helper, info }
    }

    fn sign(&self, data: Vec<u8>) -> Result<Vec<u8>, SignError> {
        let request = HelperRequest::Sign {
            key: self.info.key,
            data,
        };
        match self.helper.call(&request, SIGN_TIMEOUT) {
            Ok(HelperResponse::Signature(signature)) => Ok(signature),
            Ok(HelperResponse::Failed { cause, text }) => {
                Err(SignError::Token(TokenFailure::new(cause, text)))
            }
            Ok(HelperResponse::Loaded { .. }) => Err(SignError::Token(TokenFailure::new(
                Pkcs11Cause::TokenFailed,
                "the PKCS#11 helper answered a signature with something else",
            ))),
            Err(failure) => Err(SignError::Token(failure)),
        }
    }
}

impl KeyBackend for TokenKey {
    fn sign_token(&self, token: &Token) -> Result<Vec<u8>, SignError> {
        let mut data = SHA256_DIGEST_INFO_PREFIX.to_vec();
        data.extend_from_slice(token);
        self.sign(data)
    }

    fn sign_ssh(&self, hash_kind: SshHash, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let (digest, prefix): (_, &[u8]) = match hash_kind {
            SshHash::Sha256 => (MessageDigest::sha256(), &SHA256_DIGEST_INFO_PREFIX),
            SshHash::Sha512 => (MessageDigest::sha512(), &SHA512_DIGEST_INFO_PREFIX),
        };
        let mut data = prefix.to_vec();
        data.extend_from_slice(&hash(digest, message)?);
        self.sign(data)
    }

    fn origin(&self) -> String {
        format!(
            "pkcs11 token={:?} key-label={:?} key-id={} helper-pid={}",
            self.info.token,
            self.info.label,
            hex(&self.info.id),
            self.helper.pid()
        )
    }

    fn signs_quickly(&self) -> bool {
        false
    }

    fn provider(&self) -> Option<&std::path::Path> {
        Some(self.helper.provider())
    }
}
