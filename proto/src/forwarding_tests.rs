//! Tests of the forwarding wire types: session-bind, `--forwarded`, `ssh-add -h` constraints
//! and userauth requests, each decoded from bytes laid out as OpenSSH writes them.

use super::*;
use crate::message::{id, Constraint, Request};

fn bind() -> SessionBind {
    SessionBind {
        host_key: b"hostkey".to_vec(),
        session_id: vec![7; 32],
        signature: b"sig".to_vec(),
        forwarding: true,
    }
}

#[test]
fn session_bind_decodes_as_openssh_lays_it_out() {
    let mut w = Writer::new();
    w.u8(id::EXTENSION)
        .string(SESSION_BIND_EXTENSION.as_bytes())
        .string(b"hostkey")
        .string(&[7; 32])
        .string(b"sig")
        .u8(1);
    let bytes = w.into_vec();
    match Request::decode(&bytes).expect("decode") {
        Request::SessionBind(b) => assert_eq!(b, bind()),
        other => panic!("decoded as {other:?}"),
    }
    assert_eq!(Request::SessionBind(bind()).encode(), bytes);
}

#[test]
fn session_bind_without_its_flag_or_with_a_huge_id_is_an_error() {
    let mut encoded = Request::SessionBind(bind()).encode();
    encoded.pop();
    assert!(matches!(Request::decode(&encoded), Err(Error::Truncated)));
    let long = SessionBind {
        session_id: vec![1; MAX_SESSION_ID_LEN + 1],
        ..bind()
    };
    assert!(matches!(
        Request::decode(&Request::SessionBind(long).encode()),
        Err(Error::BadSessionBind(_))
    ));
}

fn constraint_request(constraints: Vec<Constraint>) -> Vec<u8> {
    // The key fields do not matter to constraint decoding; six one-byte mpints.
    let mut w = Writer::new();
    w.u8(id::ADD_ID_CONSTRAINED).string(b"ssh-rsa");
    for _ in 0..6 {
        w.mpint(&[1]);
    }
    let mut bytes = w.into_vec();
    let request = Request::AddIdentity {
        key: crate::key::RsaKeyMaterial::decode(&mut Reader::new(&bytes[12..])).expect("key"),
        comment: "c".into(),
        constraints,
    };
    bytes = request.encode();
    bytes
}

fn constraints_of(bytes: &[u8]) -> Result<Vec<Constraint>> {
    match Request::decode(bytes)? {
        Request::AddIdentity { constraints, .. } => Ok(constraints),
        other => panic!("decoded as {other:?}"),
    }
}

#[test]
fn forwarded_policy_round_trips_and_unknown_values_fail_the_add() {
    for policy in [
        ForwardedPolicy::Allow,
        ForwardedPolicy::Confirm,
        ForwardedPolicy::Deny,
    ] {
        let bytes = constraint_request(vec![Constraint::Confirm, Constraint::Forwarded(policy)]);
        assert_eq!(
            constraints_of(&bytes).expect("decode"),
            vec![Constraint::Confirm, Constraint::Forwarded(policy)]
        );
        assert_eq!(ForwardedPolicy::parse(policy.as_str()), Some(policy));
    }
    let mut bytes = constraint_request(vec![]);
    bytes[0] = id::ADD_ID_CONSTRAINED;
    let mut w = Writer::new();
    w.u8(255)
        .string(FORWARDED_CONSTRAINT.as_bytes())
        .string(b"sometimes");
    bytes.extend(w.into_vec());
    assert!(matches!(
        constraints_of(&bytes),
        Err(Error::UnsupportedConstraint(_))
    ));
}

fn hop(host: Option<&str>, keys: &[&[u8]]) -> Hop {
    Hop {
        user: None,
        hostname: host.map(str::to_owned),
        keys: keys
            .iter()
            .map(|k| HopKey {
                blob: k.to_vec(),
                is_ca: false,
            })
            .collect(),
    }
}

#[test]
fn destination_constraints_round_trip_with_users_and_chains() {
    let mut to = hop(Some("bastion"), &[b"k1", b"k2"]);
    to.user = Some("ec2-*".into());
    let destinations = vec![
        DestinationConstraint {
            from: Hop::default(),
            to,
        },
        DestinationConstraint {
            from: hop(Some("bastion"), &[b"k1"]),
            to: hop(Some("client"), &[b"k3"]),
        },
    ];
    let bytes = constraint_request(vec![Constraint::Destinations(destinations.clone())]);
    assert_eq!(
        constraints_of(&bytes).expect("decode"),
        vec![Constraint::Destinations(destinations)]
    );
}

#[test]
fn inconsistent_destination_constraints_are_refused_as_openssh_does() {
    let cases = [
        // "to" without host keys.
        DestinationConstraint {
            from: Hop::default(),
            to: hop(Some("h"), &[]),
        },
        // "from" with a host name but no keys.
        DestinationConstraint {
            from: hop(Some("a"), &[]),
            to: hop(Some("h"), &[b"k"]),
        },
        // "from" with a user.
        DestinationConstraint {
            from: Hop {
                user: Some("u".into()),
                ..hop(Some("a"), &[b"k"])
            },
            to: hop(Some("h"), &[b"k"]),
        },
        // A user name over 256 bytes (OpenSSH 9.8 and later refuse it).
        DestinationConstraint {
            from: Hop::default(),
            to: Hop {
                user: Some("u".repeat(MAX_CONSTRAINT_USER + 1)),
                ..hop(Some("h"), &[b"k"])
            },
        },
    ];
    // 256 bytes is still a user name.
    let at_the_cap = DestinationConstraint {
        from: Hop::default(),
        to: Hop {
            user: Some("u".repeat(MAX_CONSTRAINT_USER)),
            ..hop(Some("h"), &[b"k"])
        },
    };
    let bytes = constraint_request(vec![Constraint::Destinations(vec![at_the_cap])]);
    assert!(constraints_of(&bytes).is_ok());
    for case in cases {
        let bytes = constraint_request(vec![Constraint::Destinations(vec![case.clone()])]);
        assert!(
            matches!(constraints_of(&bytes), Err(Error::BadDestination(_))),
            "{case:?}"
        );
    }
}

fn userauth(method: &str, algorithm: &str, key: &[u8], host_key: Option<&[u8]>) -> Vec<u8> {
    let mut w = Writer::new();
    w.string(&[9; 32])
        .u8(50)
        .string(b"officer")
        .string(b"ssh-connection")
        .string(method.as_bytes())
        .u8(1)
        .string(algorithm.as_bytes())
        .string(key);
    if let Some(h) = host_key {
        w.string(h);
    }
    w.into_vec()
}

#[test]
fn userauth_requests_are_recognised_and_anything_else_is_not() {
    let key = crate::key::public_key_blob_of(&[1, 0, 1], &[0xc5; 32]);
    let other = crate::key::public_key_blob_of(&[1, 0, 1], &[0xc7; 32]);
    let rsa = "rsa-sha2-512";
    let plain = parse_userauth_request(&userauth("publickey", rsa, &key, None), &key).expect("ok");
    assert_eq!(plain.user, "officer");
    assert_eq!(plain.session_id, vec![9; 32]);
    assert_eq!(plain.host_key, None);
    let bound = parse_userauth_request(
        &userauth(
            "publickey-hostbound-v00@openssh.com",
            rsa,
            &key,
            Some(b"hk"),
        ),
        &key,
    )
    .expect("ok");
    assert_eq!(bound.host_key.as_deref(), Some(&b"hk"[..]));
    // Another key, another method, a certificate's algorithm for a plain key, trailing
    // bytes, or arbitrary data: not a userauth request.
    let cert_alg = "rsa-sha2-512-cert-v01@openssh.com";
    assert!(parse_userauth_request(&userauth("publickey", rsa, &other, None), &key).is_err());
    assert!(parse_userauth_request(&userauth("password", rsa, &key, None), &key).is_err());
    assert!(parse_userauth_request(&userauth("publickey", cert_alg, &key, None), &key).is_err());
    let mut trailing = userauth("publickey", rsa, &key, None);
    trailing.push(0);
    assert!(parse_userauth_request(&trailing, &key).is_err());
    assert!(parse_userauth_request(b"SSHSIG\0\0\0\0", &key).is_err());
}
