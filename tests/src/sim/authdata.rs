//! cloudhsm_mgmt_util's 2FA authentication data file (token-file kind 4): write one with a
//! fresh random digest per HSM, then read back what the user signed and check it, as the
//! guide's "Configuration reference for 2FA" describes the file:
//!
//! ```json
//! {
//!   "Version": "1.0",
//!   "PublicKey": "",
//!   "Data": [
//!     {"HsmId": "hsm-sim00000001", "Digest": "B64", "Signature": ""}
//!   ]
//! }
//! ```
//!
//! Each `Signature` must be RSASSA-PKCS1-v1_5 over DigestInfo(sha256) || Digest (the token
//! rule), verified with the user's registered key (loginHSM) or with the `PublicKey` the
//! signer filled in (createUser, changePswd: the new key).

use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proto::signing::{check_key_size, verify_token, Token, TOKEN_LEN};
use proto::tokenfile::{TokenFile, TokenFileKind};
use rand::rngs::OsRng;
use rand::RngCore;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use serde_json::{json, Value};

use super::tokens::SignedFileError;

/// The `HsmId` of the simulated cluster's HSM number `index` (from 0), shaped like the
/// guide's `hsm-lgavqitns2a`.
pub fn hsm_id(index: usize) -> String {
    format!("hsm-sim{:08}", index + 1)
}

/// Writes `path` with `public_key` (a PEM, or empty) and one random digest per HSM, each with
/// an empty `Signature`; returns the digests.
pub fn issue(path: &Path, hsms: usize, public_key: &str) -> Result<Vec<Token>> {
    let digests: Vec<Token> = (0..hsms)
        .map(|_| {
            let mut digest = [0u8; TOKEN_LEN];
            OsRng.fill_bytes(&mut digest);
            digest
        })
        .collect();
    let data: Vec<Value> = digests
        .iter()
        .enumerate()
        .map(|(i, d)| json!({"HsmId": hsm_id(i), "Digest": STANDARD.encode(d), "Signature": ""}))
        .collect();
    let doc = json!({"Version": "1.0", "PublicKey": public_key, "Data": data});
    let text = serde_json::to_string_pretty(&doc)?;
    fs::write(path, text).with_context(|| {
        format!(
            "cannot write the authentication data file {}",
            path.display()
        )
    })?;
    Ok(digests)
}

/// A signed authentication data file as read back.
#[derive(Debug)]
pub struct SignedAuthData {
    /// The `PublicKey` field, trimmed (empty when the signer left it empty).
    pub public_key: String,
    digests: Vec<Token>,
    /// Each entry's decoded `Signature`; None when missing, empty or not base64.
    signatures: Vec<Option<Vec<u8>>>,
}

impl SignedAuthData {
    /// Reads `path`; an unreadable or malformed file is [`SignedFileError::Unusable`].
    pub fn read(path: &Path) -> std::result::Result<SignedAuthData, SignedFileError> {
        Self::read_inner(path).map_err(SignedFileError::Unusable)
    }

    fn read_inner(path: &Path) -> Result<SignedAuthData> {
        let bytes = fs::read(path).with_context(|| {
            format!(
                "cannot read the authentication data file {}",
                path.display()
            )
        })?;
        let file = TokenFile::parse(&bytes)
            .map_err(|e| anyhow!("invalid authentication data file {}: {e}", path.display()))?;
        if file.kind() != TokenFileKind::LegacyAuthData {
            bail!(
                "{} is a {}, not an authentication data file",
                path.display(),
                file.kind().describe()
            );
        }
        let doc: Value = serde_json::from_slice(&bytes)?;
        let public_key = doc
            .get("PublicKey")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned();
        let signatures = doc["Data"]
            .as_array()
            .context("the authentication data file has no Data")?
            .iter()
            .map(|entry| {
                entry
                    .get("Signature")
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .and_then(|s| STANDARD.decode(s.trim()).ok())
            })
            .collect();
        Ok(SignedAuthData {
            public_key,
            digests: file.tokens().to_vec(),
            signatures,
        })
    }

    /// The new key the signer put in `PublicKey` (createUser, changePswd): an RSA SPKI PEM of
    /// at least 2048 bits.
    pub fn new_key(&self) -> std::result::Result<RsaPublicKey, SignedFileError> {
        if self.public_key.is_empty() {
            return Err(SignedFileError::Rejected(anyhow!(
                "PublicKey is empty: put the new public key (PEM, BEGIN PUBLIC KEY) in the file"
            )));
        }
        let key = RsaPublicKey::from_public_key_pem(&self.public_key)
            .context("PublicKey is not an RSA public key PEM (BEGIN PUBLIC KEY)")
            .map_err(SignedFileError::Rejected)?;
        check_key_size(&key).map_err(|e| SignedFileError::Rejected(anyhow!("PublicKey: {e}")))?;
        Ok(key)
    }

    /// What the HSMs check: the digests they issued, in order, each signed with `key`.
    pub fn verify(
        &self,
        issued: &[Token],
        key: &RsaPublicKey,
    ) -> std::result::Result<(), SignedFileError> {
        let rejected = |e| Err(SignedFileError::Rejected(e));
        if self.digests != issued {
            return rejected(anyhow!(
                "the digests in the file are not the ones this command issued"
            ));
        }
        for (i, (digest, signature)) in self.digests.iter().zip(&self.signatures).enumerate() {
            let id = hsm_id(i);
            let Some(signature) = signature else {
                return rejected(anyhow!("the digest for {id} is not signed"));
            };
            if verify_token(key, digest, signature).is_err() {
                return rejected(anyhow!("the signature for {id} does not verify"));
            }
        }
        Ok(())
    }
}
