//! The signing rule and the token-file model against vectors made by openssl
//! (`tests/data/make-vectors.sh`), compared byte for byte.

use std::fs;
use std::path::{Path, PathBuf};

use proto::signing::verify_token;
use proto::tokenfile::{TokenFile, TokenFileKind, MAX_FILE_BYTES};
use proto::Error;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    fs::read(data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn private_key(name: &str) -> RsaPrivateKey {
    let pem = String::from_utf8(read(&format!("keys/{name}.pem"))).expect("utf8");
    RsaPrivateKey::from_pkcs8_pem(&pem).expect("pkcs8 key")
}

fn public_key(name: &str) -> RsaPublicKey {
    let pem = String::from_utf8(read(&format!("keys/{name}.pub.pem"))).expect("utf8");
    RsaPublicKey::from_public_key_pem(&pem).expect("spki key")
}

/// The rule through the `rsa` crate, an outside judge here only: the agent signs through
/// OpenSSL (its own tests hold it to these vectors).
fn sign_token(key: &RsaPrivateKey, token: &[u8]) -> Result<Vec<u8>, rsa::Error> {
    key.sign(Pkcs1v15Sign::new::<Sha256>(), token)
}

const KEYS: [&str; 3] = ["rsa2048-a", "rsa2048-b", "rsa4096"];

#[test]
fn signatures_match_openssl_pkeyutl_byte_for_byte() {
    for name in KEYS {
        let key = private_key(name);
        for n in 1..=3 {
            let token = read(&format!("tokens/token-{n}.bin"));
            let expected = read(&format!("sigs/{name}.token-{n}.sig"));
            let ours = sign_token(&key, &token).expect("sign");
            assert_eq!(ours, expected, "{name} token {n}");
            let bytes = if name == "rsa4096" { 512 } else { 256 };
            assert_eq!(ours.len(), bytes);
        }
    }
}

#[test]
fn verify_accepts_openssl_signatures_and_nothing_else() {
    for name in KEYS {
        let key = public_key(name);
        for n in 1..=3 {
            let token = read(&format!("tokens/token-{n}.bin"));
            let good = read(&format!("sigs/{name}.token-{n}.sig"));
            verify_token(&key, &token, &good).expect("openssl signature verifies");

            // Hashing the token again gives a different, wrong signature.
            let rehashed = read(&format!("sigs/{name}.token-{n}.rehashed.sig"));
            assert!(matches!(
                verify_token(&key, &token, &rehashed),
                Err(Error::BadSignature)
            ));
            // Another token's signature.
            let other = read(&format!("sigs/{name}.token-{}.sig", n % 3 + 1));
            assert!(verify_token(&key, &token, &other).is_err());
        }
    }
    // Another key's signature.
    let token = read("tokens/token-1.bin");
    let by_b = read("sigs/rsa2048-b.token-1.sig");
    assert!(verify_token(&public_key("rsa2048-a"), &token, &by_b).is_err());
}

/// Parse the unsigned file, sign with rsa2048-a, fill, serialize: must equal the file
/// make-vectors.sh wrote with openssl's signatures, so every other field and the order are kept.
#[test]
fn each_kind_round_trips_byte_for_byte() {
    let key = private_key("rsa2048-a");
    let cases = [
        ("mfa-login", TokenFileKind::MfaLogin, 3),
        ("quorum-registration", TokenFileKind::QuorumRegistration, 2),
        ("quorum-approval", TokenFileKind::QuorumApproval, 1),
        ("legacy-authdata", TokenFileKind::LegacyAuthData, 3),
    ];
    for (name, kind, count) in cases {
        let original = read(&format!("files/{name}.json"));
        let mut file = TokenFile::parse(&original).expect(name);
        assert_eq!(file.kind(), kind, "{name}");
        assert_eq!(file.tokens().len(), count, "{name}");
        assert!(file.is_unsigned() || kind == TokenFileKind::QuorumApproval);

        // Unchanged when nothing is filled in.
        assert_eq!(
            String::from_utf8(file.to_bytes()).expect("utf8"),
            String::from_utf8(original.clone()).expect("utf8"),
            "{name} re-serialized unchanged"
        );

        let signatures: Vec<Vec<u8>> = file
            .tokens()
            .iter()
            .map(|t| sign_token(&key, t).expect("sign"))
            .collect();
        file.fill(&signatures, Some("approver1")).expect("fill");
        let expected = read(&format!("files/{name}.signed.json"));
        assert_eq!(
            String::from_utf8(file.to_bytes()).expect("utf8"),
            String::from_utf8(expected).expect("utf8"),
            "{name} signed"
        );
        let signed = TokenFile::parse(&file.to_bytes()).expect("signed file parses");
        if kind != TokenFileKind::QuorumApproval {
            assert!(!signed.is_unsigned(), "{name}");
        }
    }
}

#[test]
fn quorum_approval_needs_an_approver() {
    let mut file = TokenFile::parse(&read("files/quorum-approval.json")).expect("parse");
    assert!(matches!(
        file.fill(&[vec![1; 256]], None),
        Err(Error::ApproverRequired)
    ));
    assert_eq!(
        file.approval_data().expect("approval data"),
        read("files/approval_data.bin")
    );
}

#[test]
fn failure_vectors_give_the_error_they_name() {
    let manifest = String::from_utf8(read("bad/EXPECTED")).expect("utf8");
    let mut checked = 0;
    for line in manifest.lines() {
        let (name, expected) = line.split_once('\t').expect("file<TAB>error");
        let err = TokenFile::parse(&read(&format!("bad/{name}")))
            .expect_err(&format!("{name} must be refused"));
        let debug = format!("{err:?}");
        assert!(
            debug.starts_with(expected),
            "{name}: expected {expected}, got {debug}"
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} failure vectors");
}

#[test]
fn oversized_file_is_refused_before_parsing() {
    let big = vec![b' '; MAX_FILE_BYTES + 1];
    assert!(matches!(
        TokenFile::parse(&big),
        Err(Error::FileTooLarge { .. })
    ));
}

#[test]
fn wrong_signature_count_is_refused() {
    let mut file = TokenFile::parse(&read("files/mfa-login.json")).expect("parse");
    assert!(matches!(
        file.fill(&[vec![0; 256]], None),
        Err(Error::SignatureCount {
            expected: 3,
            got: 1
        })
    ));
}
