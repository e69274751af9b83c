//! Unit tests of the ssh-agent messages: encodings as OpenSSH writes them, and round trips.

use super::*;
use crate::constraint::CONSTRAIN_EXTENSION;

#[test]
fn token_sign_round_trips() {
    let req = Request::TokenSign(TokenSignRequest {
        key_blob: b"blob".to_vec(),
        tokens: vec![[1; 32], [2; 32]],
        about: String::new(),
    });
    let bytes = req.encode();
    match Request::decode(&bytes).expect("decode") {
        Request::TokenSign(back) => {
            assert_eq!(back.key_blob, b"blob");
            assert_eq!(back.tokens, vec![[1; 32], [2; 32]]);
        }
        other => panic!("decoded as {other:?}"),
    }
    let resp = Response::TokenSign(vec![vec![9; 256], vec![8; 256]]);
    assert_eq!(Response::decode(&resp.encode()).expect("decode"), resp);
}

#[test]
fn smartcard_requests_match_openssh_and_round_trip() {
    // ssh-add -s /p.so with PIN "1234": id 20, string provider, string PIN.
    let plain = Request::AddSmartcardKey {
        provider: "/p.so".into(),
        pin: Zeroizing::new(b"1234".to_vec()),
        constraints: vec![],
        key: None,
        tokens: vec![],
    };
    let mut expected = vec![20, 0, 0, 0, 5];
    expected.extend_from_slice(b"/p.so");
    expected.extend_from_slice(&[0, 0, 0, 4]);
    expected.extend_from_slice(b"1234");
    assert_eq!(plain.encode(), expected);
    let constrained = Request::AddSmartcardKey {
        provider: "/p.so".into(),
        pin: Zeroizing::new(b"1234".to_vec()),
        constraints: vec![Constraint::Lifetime(60), Constraint::Confirm],
        key: Some(KeyFilter::Id(vec![0xab, 0x01])),
        tokens: vec!["officer".into(), "backup".into()],
    };
    let bytes = constrained.encode();
    assert_eq!(bytes[0], id::ADD_SMARTCARD_KEY_CONSTRAINED);
    match Request::decode(&bytes).expect("decode") {
        Request::AddSmartcardKey {
            provider,
            pin,
            constraints,
            key,
            tokens,
        } => {
            assert_eq!(tokens, ["officer", "backup"]);
            assert_eq!(provider, "/p.so");
            assert_eq!(&pin[..], b"1234");
            assert_eq!(
                constraints,
                vec![Constraint::Lifetime(60), Constraint::Confirm]
            );
            assert_eq!(key, Some(KeyFilter::Id(vec![0xab, 0x01])));
        }
        other => panic!("decoded as {other:?}"),
    }
    let remove = Request::RemoveSmartcardKey {
        provider: "/p.so".into(),
        pin: Zeroizing::new(Vec::new()),
    };
    assert!(matches!(
        Request::decode(&remove.encode()).expect("decode"),
        Request::RemoveSmartcardKey { provider, .. } if provider == "/p.so"
    ));
}

#[test]
fn query_reply_round_trips() {
    let resp = Response::Query(vec![QUERY_EXTENSION.into(), TOKEN_SIGN_EXTENSION.into()]);
    let bytes = resp.encode();
    assert_eq!(bytes[0], id::EXTENSION_RESPONSE);
    assert_eq!(Response::decode(&bytes).expect("decode"), resp);
}

#[test]
fn trailing_bytes_are_rejected() {
    assert!(matches!(
        Request::decode(&[id::REQUEST_IDENTITIES, 0]),
        Err(Error::TrailingBytes { extra: 1 })
    ));
}

#[test]
fn unknown_ids_are_a_typed_error() {
    assert!(matches!(
        Request::decode(&[200]),
        Err(Error::Unsupported { id: 200 })
    ));
    assert!(matches!(Request::decode(&[]), Err(Error::Truncated)));
}

#[test]
fn short_token_in_extension_is_named() {
    let mut w = Writer::new();
    w.u8(id::EXTENSION)
        .string(TOKEN_SIGN_EXTENSION.as_bytes())
        .string(b"k")
        .u32(2)
        .string(&[0; 32])
        .string(&[0; 31]);
    assert!(matches!(
        Request::decode(&w.into_vec()),
        Err(Error::TokenLength { index: 2, len: 31 })
    ));
}

#[test]
fn unknown_extension_constraint_fails_the_add() {
    let mut w = Writer::new();
    w.u8(id::ADD_ID_CONSTRAINED).string(SSH_RSA.as_bytes());
    for _ in 0..6 {
        w.mpint(&[1]);
    }
    w.string(b"comment")
        .u8(CONSTRAIN_EXTENSION)
        .string(b"maxsign-v99@example.invalid");
    assert!(matches!(
        Request::decode(&w.into_vec()),
        Err(Error::UnsupportedConstraint(_))
    ));
}

#[test]
fn garbage_never_panics() {
    // Every prefix of every valid message, and a byte flipped at each position.
    let req = Request::TokenSign(TokenSignRequest {
        key_blob: vec![3; 10],
        tokens: vec![[4; 32]],
        about: String::new(),
    })
    .encode();
    for end in 0..req.len() {
        let _ = Request::decode(&req[..end]);
        let mut flipped = req.clone();
        flipped[end] ^= 0xff;
        let _ = Request::decode(&flipped);
        let _ = Response::decode(&flipped);
    }
}

#[test]
fn key_purposes_and_the_purpose_constraint_round_trip() {
    let bytes = Request::KeyPurposes.encode();
    let mut expected = vec![id::EXTENSION, 0, 0, 0, KEY_PURPOSES_EXTENSION.len() as u8];
    expected.extend_from_slice(KEY_PURPOSES_EXTENSION.as_bytes());
    assert_eq!(bytes, expected);
    assert!(matches!(Request::decode(&bytes), Ok(Request::KeyPurposes)));
    use crate::purpose::{Purpose, PURPOSE_CONSTRAINT};
    let reply = Response::KeyPurposes(vec![
        (b"one".to_vec(), Purpose::TOKEN),
        (b"two".to_vec(), Purpose::SSH),
    ]);
    assert_eq!(Response::decode(&reply.encode()).expect("decode"), reply);
    // A count larger than the reply holds is an error, not a large allocation.
    let mut lying = Response::KeyPurposes(vec![]).encode();
    lying.truncate(lying.len() - 4);
    lying.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(Response::decode(&lying).is_err());

    let mut purpose = Writer::new();
    purpose
        .u8(CONSTRAIN_EXTENSION)
        .string(PURPOSE_CONSTRAINT.as_bytes())
        .string(b"token,ssh");
    let purpose = purpose.into_vec();
    let mut r = Reader::new(&purpose);
    assert_eq!(
        crate::constraint::decode_constraint(&mut r).expect("purpose"),
        Constraint::Purpose(Purpose::BOTH)
    );
    let mut w = Writer::new();
    crate::constraint::encode_constraint(&mut w, &Constraint::Purpose(Purpose::BOTH));
    assert_eq!(w.into_vec(), purpose);
    let mut bad = Writer::new();
    bad.u8(CONSTRAIN_EXTENSION)
        .string(PURPOSE_CONSTRAINT.as_bytes())
        .string(b"everything");
    let bad = bad.into_vec();
    assert!(crate::constraint::decode_constraint(&mut Reader::new(&bad)).is_err());
}

#[test]
fn an_rsa_certificate_add_round_trips_and_other_certificates_are_refused() {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("key");
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let (e, n) = (key.e().to_bytes_be(), key.n().to_bytes_be());
    let mut cert = Writer::new();
    cert.string(crate::cert::SSH_RSA_CERT.as_bytes())
        .string(&[7; 32])
        .mpint(&e)
        .mpint(&n)
        .u32(0)
        .u32(1)
        .u32(1)
        .string(b"officer")
        .string(b"");
    for _ in 0..4 {
        cert.u32(0);
    }
    for field in [&b""[..], b"", b"", b"ca key", b"ca signature"] {
        cert.string(field);
    }
    let cert = cert.into_vec();
    let d = key.d().to_bytes_be();
    let mut w = Writer::new();
    w.u8(id::ADD_IDENTITY)
        .string(crate::cert::SSH_RSA_CERT.as_bytes())
        .string(&cert)
        .mpint(&d)
        .mpint(&[3])
        .mpint(&[5])
        .mpint(&[7])
        .string(b"officer.key");
    let body = w.into_vec();
    let request = Request::decode(&body).expect("decode");
    let Request::AddIdentity { key: material, .. } = &request else {
        panic!("{request:?}");
    };
    assert_eq!(material.certificate(), Some(&cert[..]));
    assert_eq!((material.fields().n, material.fields().e), (&n[..], &e[..]));
    assert_eq!(request.encode(), body);
    let mut other = Writer::new();
    other
        .u8(id::ADD_IDENTITY)
        .string(b"ssh-ed25519-cert-v01@openssh.com")
        .string(b"whatever");
    assert!(matches!(
        Request::decode(&other.into_vec()),
        Err(Error::NotRsa(name)) if name == "ssh-ed25519-cert-v01@openssh.com"
    ));
}

#[test]
fn pkcs11_replies_round_trip_and_an_old_why_still_decodes() {
    for response in [
        Response::Why {
            code: "token-removed".into(),
            text: "gone".into(),
            provider: "/usr/lib/p.so".into(),
        },
        Response::Why {
            code: String::new(),
            text: String::new(),
            provider: String::new(),
        },
        Response::CardLoaded {
            keys: vec!["officer/officer2".into()],
            skipped: vec!["backup: wrong PIN".into()],
        },
        Response::ProviderEnv(vec![("SOFTHSM2_CONF".into(), "/h/s.conf".into())]),
    ] {
        assert_eq!(
            Response::decode(&response.encode()).expect("decode"),
            response
        );
    }
    // A why answer without the provider field (older agents).
    let mut w = crate::wire::Writer::new();
    w.u8(id::EXTENSION_RESPONSE)
        .string(b"why@cloudhsm-mfa")
        .string(b"locked")
        .string(b"the agent is locked");
    assert!(matches!(
        Response::decode(&w.into_vec()).expect("old why"),
        Response::Why { provider, .. } if provider.is_empty()
    ));
}
