//! Token handling: write a fresh unsigned token file (one random token per HSM, version 2.0,
//! pretty JSON like cloudhsm-cli) and check the signed file the user gives back.

use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proto::signing::{verify_token, Token, TOKEN_LEN};
use proto::tokenfile::{TokenFile, TokenFileKind};
use rand::rngs::OsRng;
use rand::RngCore;
use rsa::RsaPublicKey;
use serde_json::{json, Value};

/// Writes `path` with one fresh random token per HSM and `signed: ""`; returns the tokens.
pub fn issue(path: &Path, hsms: usize) -> Result<Vec<Token>> {
    let tokens: Vec<Token> = (0..hsms)
        .map(|_| {
            let mut token = [0u8; TOKEN_LEN];
            OsRng.fill_bytes(&mut token);
            token
        })
        .collect();
    let entries: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"unsigned": STANDARD.encode(t), "signed": ""}))
        .collect();
    let mut text = serde_json::to_string_pretty(&json!({"version": "2.0", "tokens": entries}))?;
    // Test faults (see `config`): a file of other content, or one an hour old.
    let fault = std::env::var("CLOUDHSM_SIM_TOKEN_FAULT").unwrap_or_default();
    if let Some(content) = fault.strip_prefix("content:") {
        text = content.to_owned();
    }
    fs::write(path, text)
        .with_context(|| format!("cannot write the token file {}", path.display()))?;
    if fault == "stale" {
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(an_hour_ago))
            .with_context(|| format!("cannot age {}", path.display()))?;
    }
    Ok(tokens)
}

/// The file named at the signed-token prompt: Enter alone means the unsigned token file.
pub fn signed_path<'a>(answer: &'a str, unsigned: &'a Path) -> &'a Path {
    let answer = answer.trim();
    if answer.is_empty() {
        unsigned
    } else {
        Path::new(answer)
    }
}

/// Why a signed token file was not accepted.
#[derive(Debug)]
pub enum SignedFileError {
    /// The CLI could not read or parse the file: nothing reached the HSMs.
    Unusable(anyhow::Error),
    /// The HSMs refused the tokens: a failed login.
    Rejected(anyhow::Error),
}

impl std::fmt::Display for SignedFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignedFileError::Unusable(e) | SignedFileError::Rejected(e) => write!(f, "{e:#}"),
        }
    }
}

/// Checks that `path` holds exactly the issued tokens, in order, each signed with `key` by
/// the CloudHSM rule. The error says which token failed, as an HSM would.
pub fn check_signed(
    path: &Path,
    issued: &[Token],
    key: &RsaPublicKey,
) -> std::result::Result<(), SignedFileError> {
    let signed = read_signed(path).map_err(SignedFileError::Unusable)?;
    verify_all(&signed, issued, key).map_err(SignedFileError::Rejected)
}

/// A token and its decoded signature (None when missing, empty or not base64).
type SignedToken = (Token, Option<Vec<u8>>);

/// The tokens of a signed file with their signatures.
fn read_signed(path: &Path) -> Result<Vec<SignedToken>> {
    let bytes = fs::read(path)
        .with_context(|| format!("cannot read the signed token file {}", path.display()))?;
    let file = TokenFile::parse(&bytes)
        .map_err(|e| anyhow!("invalid signed token file {}: {e}", path.display()))?;
    if file.kind() != TokenFileKind::MfaLogin {
        bail!(
            "{} is a {}, not an MFA token file",
            path.display(),
            file.kind().describe()
        );
    }
    Ok(file
        .tokens()
        .iter()
        .copied()
        .zip(signatures(&bytes)?)
        .collect())
}

/// What the HSMs check: the tokens they issued, in order, each signed by the rule.
fn verify_all(signed: &[SignedToken], issued: &[Token], key: &RsaPublicKey) -> Result<()> {
    let tokens: Vec<Token> = signed.iter().map(|(t, _)| *t).collect();
    if tokens != issued {
        bail!("the tokens in the signed file are not the ones this command issued");
    }
    for (i, (token, signature)) in signed.iter().enumerate() {
        let index = i + 1;
        let Some(signature) = signature else {
            bail!("token {index} is not signed");
        };
        verify_token(key, token, signature)
            .map_err(|_| anyhow!("the signature of token {index} does not verify"))?;
    }
    Ok(())
}

/// Each token's decoded `signed` field; None when it is missing, empty or not base64.
fn signatures(bytes: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
    let doc: Value = serde_json::from_slice(bytes)?;
    let entries = doc["tokens"]
        .as_array()
        .context("the token file has no tokens")?;
    Ok(entries
        .iter()
        .map(|e| {
            e.get("signed")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .and_then(|s| STANDARD.decode(s.trim()).ok())
        })
        .collect())
}
