//! cloudhsm_mgmt_util 2FA authentication data files (token-file kind 4) as a person handles
//! them by the guide: read each `Digest` with plain JSON (not `proto`), sign it with
//! `openssl pkeyutl`, write the base64 into `Signature`, and paste the public key's PEM into
//! `PublicKey` when the command registers a key (createUser, changePswd).

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use super::openssl::{sign_token_openssl, Token};

fn read_doc(path: &Path) -> Value {
    let text = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!(
            "{} is not JSON ({e}): {}",
            path.display(),
            String::from_utf8_lossy(&text)
        )
    })
}

fn data(doc: &Value) -> &Vec<Value> {
    doc["Data"]
        .as_array()
        .unwrap_or_else(|| panic!("no Data list: {doc}"))
}

/// The `Digest` of each `Data` entry, in order.
pub fn read_authdata_digests(path: &Path) -> Vec<Token> {
    data(&read_doc(path))
        .iter()
        .map(|entry| {
            let text = entry["Digest"].as_str().expect("Digest is a string");
            let raw = STANDARD.decode(text).expect("Digest is base64");
            raw.as_slice().try_into().expect("a digest is 32 bytes")
        })
        .collect()
}

/// The `Signature` of each `Data` entry, base64-decoded (empty when unsigned).
pub fn read_authdata_signatures(path: &Path) -> Vec<Vec<u8>> {
    data(&read_doc(path))
        .iter()
        .map(|entry| {
            let text = entry["Signature"].as_str().expect("Signature is a string");
            STANDARD.decode(text.trim()).expect("Signature is base64")
        })
        .collect()
}

/// The `PublicKey` field (empty when the file asks for none).
pub fn read_authdata_public_key(path: &Path) -> String {
    read_doc(path)["PublicKey"]
        .as_str()
        .expect("PublicKey is a string")
        .to_owned()
}

/// The whole document, for checks on fields and their order.
pub fn read_authdata(path: &Path) -> Value {
    read_doc(path)
}

/// Signs every `Digest` with `key` by openssl into its `Signature`, and, when `public` is
/// given, pastes that PEM file's text into `PublicKey`; keeps everything else.
pub fn sign_authdata_openssl(key: &Path, path: &Path, public: Option<&Path>) {
    let signatures: Vec<String> = read_authdata_digests(path)
        .iter()
        .map(|digest| STANDARD.encode(sign_token_openssl(key, digest)))
        .collect();
    let mut doc = read_doc(path);
    if let Some(public) = public {
        let pem = fs::read_to_string(public).expect("read the public key PEM");
        doc["PublicKey"] = Value::String(pem);
    }
    let entries = doc["Data"].as_array_mut().expect("Data list");
    for (entry, signature) in entries.iter_mut().zip(signatures) {
        entry["Signature"] = Value::String(signature);
    }
    let text = serde_json::to_string_pretty(&doc).expect("serialize");
    fs::write(path, text).expect("rewrite the authentication data file");
}
