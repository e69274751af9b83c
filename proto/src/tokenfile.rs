//! The token files cloudhsm-cli and cloudhsm_mgmt_util write, in all four kinds: read them,
//! check them, list the tokens to sign, fill in the signatures, and write them back with every
//! other field, the field order and the version kept.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::signing::{Token, TOKEN_LEN};
use crate::{Error, Result};

/// Largest token file we read. Real files are a few KiB.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Most tokens in one file or one signing request. A CloudHSM cluster has at most 28 HSMs.
pub const MAX_TOKENS: usize = 64;

/// Largest quorum `approval_data` CloudHSM accepts.
pub const MAX_APPROVAL_DATA: usize = 245;

/// Which of the four token files this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFileKind {
    /// `login ... mfa-token-sign` and `user change-mfa token-sign`: version 2.0, `tokens[]`.
    MfaLogin,
    /// Quorum registration: `tokens[]` whose entries also carry `approval_data`.
    QuorumRegistration,
    /// Quorum approval: `approval_data`, `token`, and the approvers' `signatures[]`.
    QuorumApproval,
    /// cloudhsm_mgmt_util 2FA authdata: `Version` 1.0, `Data[]` of `Digest`/`Signature`.
    LegacyAuthData,
}

impl TokenFileKind {
    pub fn describe(self) -> &'static str {
        match self {
            TokenFileKind::MfaLogin => "MFA token file",
            TokenFileKind::QuorumRegistration => "quorum registration token file",
            TokenFileKind::QuorumApproval => "quorum approval token file",
            TokenFileKind::LegacyAuthData => "cloudhsm_mgmt_util authdata file",
        }
    }
}

/// A parsed, checked token file.
#[derive(Debug, Clone)]
pub struct TokenFile {
    kind: TokenFileKind,
    doc: Map<String, Value>,
    tokens: Vec<Token>,
    pretty: bool,
    trailing_newline: bool,
}

fn as_object(value: &Value) -> Option<&Map<String, Value>> {
    value.as_object()
}

fn b64_field(obj: &Map<String, Value>, index: usize, field: &'static str) -> Result<Vec<u8>> {
    let text = obj
        .get(field)
        .and_then(Value::as_str)
        .ok_or(Error::MissingField { index, field })?;
    STANDARD
        .decode(text.trim())
        .map_err(|_| Error::NotBase64 { index, field })
}

fn token_field(obj: &Map<String, Value>, index: usize, field: &'static str) -> Result<Token> {
    let raw = b64_field(obj, index, field)?;
    raw.as_slice().try_into().map_err(|_| Error::TokenLength {
        index,
        len: raw.len(),
    })
}

/// Checks `token == SHA-256(approval_data)` for quorum files.
fn check_approval(obj: &Map<String, Value>, index: usize, token: &Token) -> Result<()> {
    let data = b64_field(obj, index, "approval_data")?;
    if data.len() > MAX_APPROVAL_DATA {
        return Err(Error::ApprovalTooLong {
            index,
            len: data.len(),
            max: MAX_APPROVAL_DATA,
        });
    }
    if Sha256::digest(&data).as_slice() != token {
        return Err(Error::ApprovalMismatch { index });
    }
    Ok(())
}

fn check_version(obj: &Map<String, Value>, field: &str, expected: &'static str) -> Result<()> {
    match obj.get(field) {
        Some(Value::String(v)) if v == expected => Ok(()),
        Some(other) => Err(Error::UnknownVersion {
            found: other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned),
            expected,
        }),
        None => Err(Error::UnknownKind(format!("no {field:?} field"))),
    }
}

/// A token file, a sign request and its answer carry 1 to [`MAX_TOKENS`] tokens.
pub(crate) fn check_count(count: usize) -> Result<()> {
    if count == 0 {
        return Err(Error::NoTokens);
    }
    if count > MAX_TOKENS {
        return Err(Error::TooManyTokens {
            count,
            max: MAX_TOKENS,
        });
    }
    Ok(())
}

/// The entries of an array field, each required to be an object.
fn entries<'a>(
    doc: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Vec<&'a Map<String, Value>>> {
    let list = doc
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| Error::UnknownKind(format!("{field:?} is not a list")))?;
    check_count(list.len())?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            as_object(v).ok_or_else(|| {
                Error::UnknownKind(format!("entry {} of {field:?} is not an object", i + 1))
            })
        })
        .collect()
}

impl TokenFile {
    /// Reads and checks a token file.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(Error::FileTooLarge {
                len: bytes.len(),
                max: MAX_FILE_BYTES,
            });
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| Error::NotJson(e.to_string()))?;
        let Value::Object(doc) = value else {
            return Err(Error::UnknownKind(
                "the top level is not a JSON object".into(),
            ));
        };
        let kind = detect(&doc)?;
        let tokens = match kind {
            TokenFileKind::MfaLogin | TokenFileKind::QuorumRegistration => {
                check_version(&doc, "version", "2.0")?;
                let mut tokens = Vec::new();
                for (i, entry) in entries(&doc, "tokens")?.into_iter().enumerate() {
                    let index = i + 1;
                    let token = token_field(entry, index, "unsigned")?;
                    if kind == TokenFileKind::QuorumRegistration {
                        check_approval(entry, index, &token)?;
                    }
                    if !entry.get("signed").is_some_and(Value::is_string) {
                        return Err(Error::MissingField {
                            index,
                            field: "signed",
                        });
                    }
                    tokens.push(token);
                }
                tokens
            }
            TokenFileKind::QuorumApproval => {
                check_version(&doc, "version", "2.0")?;
                let token = token_field(&doc, 1, "token")?;
                check_approval(&doc, 1, &token)?;
                if !doc.get("signatures").is_some_and(Value::is_array) {
                    return Err(Error::UnknownKind("\"signatures\" is not a list".into()));
                }
                vec![token]
            }
            TokenFileKind::LegacyAuthData => {
                check_version(&doc, "Version", "1.0")?;
                let mut tokens = Vec::new();
                for (i, entry) in entries(&doc, "Data")?.into_iter().enumerate() {
                    tokens.push(token_field(entry, i + 1, "Digest")?);
                }
                tokens
            }
        };
        let text = String::from_utf8_lossy(bytes);
        Ok(TokenFile {
            kind,
            doc,
            tokens,
            pretty: text.trim_end().contains('\n'),
            trailing_newline: text.ends_with('\n'),
        })
    }

    pub fn kind(&self) -> TokenFileKind {
        self.kind
    }

    /// The tokens to sign, in file order.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// True when no token has a signature yet: a file the CLI has just written.
    pub fn is_unsigned(&self) -> bool {
        let empty = |entries: Option<&Value>, field: &str| {
            entries.and_then(Value::as_array).is_some_and(|list| {
                list.iter().all(|e| {
                    e.get(field)
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                })
            })
        };
        match self.kind {
            TokenFileKind::MfaLogin | TokenFileKind::QuorumRegistration => {
                empty(self.doc.get("tokens"), "signed")
            }
            TokenFileKind::LegacyAuthData => empty(self.doc.get("Data"), "Signature"),
            TokenFileKind::QuorumApproval => true,
        }
    }

    /// The decoded `approval_data` of a quorum approval, to show the approver.
    pub fn approval_data(&self) -> Option<Vec<u8>> {
        (self.kind == TokenFileKind::QuorumApproval)
            .then(|| b64_field(&self.doc, 1, "approval_data").ok())
            .flatten()
    }

    /// The `PublicKey` of a cloudhsm_mgmt_util authdata file, when it is not empty.
    pub fn public_key(&self) -> Option<&str> {
        (self.kind == TokenFileKind::LegacyAuthData)
            .then(|| self.doc.get("PublicKey").and_then(Value::as_str))
            .flatten()
            .filter(|pem| !pem.trim().is_empty())
    }

    /// Fills an empty `PublicKey` of an authdata file with `pem` (createUser and changePswd
    /// need the new key there); true when it did.
    pub fn fill_public_key(&mut self, pem: &str) -> bool {
        if self.kind != TokenFileKind::LegacyAuthData || self.public_key().is_some() {
            return false;
        }
        self.doc
            .insert("PublicKey".into(), Value::String(pem.to_owned()));
        true
    }

    /// Fills in one signature per token, in order. A quorum approval appends
    /// `{"username", "signature"}` for `approver`, replacing that approver's earlier entry.
    pub fn fill(&mut self, signatures: &[Vec<u8>], approver: Option<&str>) -> Result<()> {
        if signatures.len() != self.tokens.len() {
            return Err(Error::SignatureCount {
                expected: self.tokens.len(),
                got: signatures.len(),
            });
        }
        let encoded: Vec<Value> = signatures
            .iter()
            .map(|s| Value::String(STANDARD.encode(s)))
            .collect();
        let (list_field, sig_field) = match self.kind {
            TokenFileKind::MfaLogin | TokenFileKind::QuorumRegistration => ("tokens", "signed"),
            TokenFileKind::LegacyAuthData => ("Data", "Signature"),
            TokenFileKind::QuorumApproval => {
                let username = approver.ok_or(Error::ApproverRequired)?;
                let mut entry = Map::new();
                entry.insert("username".into(), Value::String(username.into()));
                entry.insert("signature".into(), encoded[0].clone());
                let list = self
                    .doc
                    .get_mut("signatures")
                    .and_then(Value::as_array_mut)
                    .ok_or(Error::UnknownKind("\"signatures\" is not a list".into()))?;
                list.retain(|e| e.get("username").and_then(Value::as_str) != Some(username));
                list.push(Value::Object(entry));
                return Ok(());
            }
        };
        let list = self
            .doc
            .get_mut(list_field)
            .and_then(Value::as_array_mut)
            .ok_or(Error::NoTokens)?;
        for (entry, sig) in list.iter_mut().zip(encoded) {
            if let Some(obj) = entry.as_object_mut() {
                obj.insert(sig_field.into(), sig);
            }
        }
        Ok(())
    }

    /// Serializes the file, compact or indented like the original.
    pub fn to_bytes(&self) -> Vec<u8> {
        let doc = Value::Object(self.doc.clone());
        let mut text = if self.pretty {
            serde_json::to_string_pretty(&doc)
        } else {
            serde_json::to_string(&doc)
        }
        .unwrap_or_default();
        if self.trailing_newline {
            text.push('\n');
        }
        text.into_bytes()
    }
}

fn detect(doc: &Map<String, Value>) -> Result<TokenFileKind> {
    if doc.contains_key("Data") || doc.contains_key("Version") {
        return Ok(TokenFileKind::LegacyAuthData);
    }
    if let Some(tokens) = doc.get("tokens").and_then(Value::as_array) {
        let with_approval = tokens
            .iter()
            .filter(|t| t.get("approval_data").is_some())
            .count();
        return match with_approval {
            0 => Ok(TokenFileKind::MfaLogin),
            n if n == tokens.len() => Ok(TokenFileKind::QuorumRegistration),
            _ => Err(Error::UnknownKind(
                "only some tokens carry approval_data".into(),
            )),
        };
    }
    if doc.contains_key("token") && doc.contains_key("approval_data") {
        return Ok(TokenFileKind::QuorumApproval);
    }
    Err(Error::UnknownKind(
        "expected \"tokens\", \"token\" with \"approval_data\", or \"Data\"".into(),
    ))
}

/// Decodes a token given as base64 (a line of text), checking its length.
pub fn decode_token_b64(text: &str) -> Result<Token> {
    let raw = STANDARD.decode(text.trim()).map_err(|_| Error::NotBase64 {
        index: 1,
        field: "token",
    })?;
    raw.as_slice().try_into().map_err(|_| Error::TokenLength {
        index: 1,
        len: raw.len(),
    })
}

const _: () = assert!(TOKEN_LEN == 32);
