//! Tests of [`decide`]: one per rule of `--forwarded`, `-c` and OpenSSH's destination
//! constraints, over routes built hop by hop.

use super::*;
use crate::server::route::Hop as Bound;
use proto::forwarding::HopKey;
use proto::wire::Writer;

fn bound(key: &[u8], forwarded: bool) -> Bound {
    Bound {
        host_key: key.to_vec(),
        fingerprint: format!("SHA256:{}", String::from_utf8_lossy(key)),
        session_id: key.repeat(4),
        forwarded,
    }
}

fn local() -> Route {
    Route::default()
}

fn forwarded_to(key: &[u8]) -> Route {
    Route::from_hops(vec![bound(key, true)], false)
}

/// A key for both purposes: these tests judge where it is used, not what for.
fn policy(forwarded: ForwardedPolicy) -> UsePolicy {
    UsePolicy {
        forwarded,
        destinations: vec![],
        purpose: Purpose::BOTH,
        confirm_for: None,
    }
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

/// `ssh-add -h bastion -h bastion>client`, bastion's key "B", client's "C".
fn to_bastion_then_client() -> UsePolicy {
    UsePolicy {
        forwarded: ForwardedPolicy::Allow,
        destinations: vec![
            DestinationConstraint {
                from: Hop::default(),
                to: hop(Some("bastion"), &[b"B"]),
            },
            DestinationConstraint {
                from: hop(Some("bastion"), &[b"B"]),
                to: hop(Some("client"), &[b"C"]),
            },
        ],
        purpose: Purpose::BOTH,
        confirm_for: None,
    }
}

fn refused(v: &Verdict) -> bool {
    matches!(v, Verdict::Refuse(_))
}

#[test]
fn allow_signs_everywhere_and_deny_only_locally() {
    let allow = policy(ForwardedPolicy::Allow);
    let deny = policy(ForwardedPolicy::Deny);
    assert_eq!(decide(&allow, false, &local(), Use::Token), Verdict::Allow);
    assert_eq!(
        decide(&allow, false, &forwarded_to(b"H"), Use::Token),
        Verdict::Allow
    );
    assert_eq!(decide(&deny, false, &local(), Use::Token), Verdict::Allow);
    let v = decide(&deny, false, &forwarded_to(b"H"), Use::Token);
    assert!(
        matches!(&v, Verdict::Refuse(why) if why.to_string().contains("SHA256:H")),
        "{v:?}"
    );
    // SSH signatures alike, and a connection ssh bound for authentication is not forwarded.
    let ssh = Use::Ssh {
        data: b"x",
        key_blob: b"k",
    };
    assert!(refused(&decide(&deny, false, &forwarded_to(b"H"), ssh)));
    let auth = Route::from_hops(vec![bound(b"H", false)], false);
    assert_eq!(decide(&deny, false, &auth, ssh), Verdict::Allow);
}

#[test]
fn a_failed_binding_counts_as_forwarded() {
    let unverified = Route::from_hops(vec![], true);
    assert!(refused(&decide(
        &policy(ForwardedPolicy::Deny),
        false,
        &unverified,
        Use::Token
    )));
}

#[test]
fn confirm_asks_only_through_a_forwarding_and_names_the_host() {
    let confirm = policy(ForwardedPolicy::Confirm);
    assert_eq!(
        decide(&confirm, false, &local(), Use::Token),
        Verdict::Allow
    );
    match decide(&confirm, false, &forwarded_to(b"H"), Use::Token) {
        Verdict::Ask(line) => assert!(line.contains("host key SHA256:H"), "{line}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dash_c_key_asks_everywhere_and_says_where_from() {
    let allow = policy(ForwardedPolicy::Allow);
    match decide(&allow, true, &local(), Use::Token) {
        Verdict::Ask(line) => assert!(line.contains("local connection"), "{line}"),
        other => panic!("{other:?}"),
    }
    match decide(&allow, true, &forwarded_to(b"H"), Use::Token) {
        Verdict::Ask(line) => assert!(line.contains("forwarded to host key SHA256:H")),
        other => panic!("{other:?}"),
    }
    // Listing never asks.
    assert_eq!(decide(&allow, true, &local(), Use::See), Verdict::Allow);
}

#[test]
fn destination_constraints_allow_the_listed_chain_for_tokens() {
    let p = to_bastion_then_client();
    assert_eq!(decide(&p, false, &local(), Use::Token), Verdict::Allow);
    let at_bastion = forwarded_to(b"B");
    assert_eq!(decide(&p, false, &at_bastion, Use::Token), Verdict::Allow);
    let at_client = Route::from_hops(vec![bound(b"B", true), bound(b"C", true)], false);
    assert_eq!(decide(&p, false, &at_client, Use::Token), Verdict::Allow);
    // The host name of the matched constraint is in the question of a -c key.
    match decide(&p, true, &at_client, Use::Token) {
        Verdict::Ask(line) => assert!(line.contains("listed host client"), "{line}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn destination_constraints_refuse_an_unlisted_hop() {
    let p = to_bastion_then_client();
    assert!(refused(&decide(&p, false, &forwarded_to(b"X"), Use::Token)));
    // Straight to the client, skipping the bastion: not listed from the origin.
    assert!(refused(&decide(&p, false, &forwarded_to(b"C"), Use::Token)));
    let beyond = Route::from_hops(
        vec![bound(b"B", true), bound(b"C", true), bound(b"D", true)],
        false,
    );
    assert!(refused(&decide(&p, false, &beyond, Use::Token)));
    assert!(refused(&decide(
        &p,
        false,
        &Route::from_hops(vec![], true),
        Use::Token
    )));
}

#[test]
fn listing_shows_a_key_where_it_may_be_used_and_hides_it_elsewhere() {
    let p = to_bastion_then_client();
    assert_eq!(
        decide(&p, false, &forwarded_to(b"B"), Use::See),
        Verdict::Allow
    );
    // At the client no constraint leads on: hidden, as OpenSSH hides it, though tokens may
    // be signed there (key-purposes names it: `token_usable`).
    let at_client = Route::from_hops(vec![bound(b"B", true), bound(b"C", true)], false);
    assert!(refused(&decide(&p, false, &at_client, Use::See)));
    assert!(token_usable(&p, &at_client));
    assert!(!token_usable(&p, &forwarded_to(b"X")));
    assert!(refused(&decide(&p, false, &forwarded_to(b"X"), Use::See)));
    let beyond = Route::from_hops(
        vec![bound(b"B", true), bound(b"C", true), bound(b"D", true)],
        false,
    );
    assert!(refused(&decide(&p, false, &beyond, Use::See)));
}

fn userauth(session_id: &[u8], user: &str, key: &[u8], host_key: Option<&[u8]>) -> Vec<u8> {
    let mut w = Writer::new();
    let method = if host_key.is_some() {
        "publickey-hostbound-v00@openssh.com"
    } else {
        "publickey"
    };
    w.string(session_id)
        .u8(50)
        .string(user.as_bytes())
        .string(b"ssh-connection")
        .string(method.as_bytes())
        .u8(1)
        .string(b"rsa-sha2-256")
        .string(key);
    if let Some(h) = host_key {
        w.string(h);
    }
    w.into_vec()
}

/// An `ssh-rsa` blob (a userauth request must name an RSA algorithm for it).
fn rsa_blob() -> &'static [u8] {
    proto::key::public_key_blob_of(&[1, 0, 1], &[0xc5; 32]).leak()
}

#[test]
fn ssh_signatures_of_a_constrained_key_must_be_userauth_for_the_bound_session() {
    let mut p = to_bastion_then_client();
    p.destinations[0].to.user = Some("ec2-*".into());
    let ssh = |data: &'static [u8]| Use::Ssh {
        data,
        key_blob: rsa_blob(),
    };
    let auth_to_bastion = Route::from_hops(vec![bound(b"B", false)], false);
    let good = userauth(&b"B".repeat(4), "ec2-user", rsa_blob(), None).leak();
    assert_eq!(
        decide(&p, false, &auth_to_bastion, ssh(good)),
        Verdict::Allow
    );
    // Unbound (local), not a userauth request, another user, another session.
    assert!(refused(&decide(&p, false, &local(), ssh(good))));
    assert!(refused(&decide(
        &p,
        false,
        &auth_to_bastion,
        ssh(b"tokens")
    )));
    let root = userauth(&b"B".repeat(4), "root", rsa_blob(), None).leak();
    assert!(refused(&decide(&p, false, &auth_to_bastion, ssh(root))));
    let other_session = userauth(&[1; 4], "ec2-user", rsa_blob(), None).leak();
    assert!(refused(&decide(
        &p,
        false,
        &auth_to_bastion,
        ssh(other_session)
    )));
    // A signature on a forwarding hop is refused; the next hop must be hostbound.
    assert!(refused(&decide(&p, false, &forwarded_to(b"B"), ssh(good))));
    let at_client = Route::from_hops(vec![bound(b"B", true), bound(b"C", false)], false);
    let unbound = userauth(&b"C".repeat(4), "ec2-user", rsa_blob(), None).leak();
    assert!(refused(&decide(&p, false, &at_client, ssh(unbound))));
    let hostbound = userauth(&b"C".repeat(4), "ec2-user", rsa_blob(), Some(b"C")).leak();
    assert_eq!(
        decide(&p, false, &at_client, ssh(hostbound)),
        Verdict::Allow
    );
}

#[test]
fn only_a_local_connection_may_load_a_pkcs11_provider() {
    assert_eq!(may_load_provider(&local()), Ok(()));
    assert!(may_load_provider(&forwarded_to(b"H")).is_err());
    let auth = Route::from_hops(vec![bound(b"H", false)], false);
    assert!(may_load_provider(&auth).is_err());
    assert!(may_load_provider(&Route::from_hops(vec![], true)).is_err());
}

#[test]
fn a_token_key_signs_no_ssh_request_and_an_ssh_key_no_token() {
    let local = Route::default();
    let ssh = Use::Ssh {
        data: b"",
        key_blob: b"K",
    };
    let with = |purpose| UsePolicy {
        purpose,
        ..UsePolicy::default()
    };
    assert!(matches!(
        decide(&with(Purpose::TOKEN), false, &local, ssh),
        Verdict::Refuse(why) if why.to_string().contains("CloudHSM tokens only")
    ));
    assert_eq!(
        decide(&with(Purpose::TOKEN), false, &local, Use::Token),
        Verdict::Allow
    );
    assert!(matches!(
        decide(&with(Purpose::SSH), false, &local, Use::Token),
        Verdict::Refuse(why) if why.to_string().contains("signs no CloudHSM token")
    ));
    assert_eq!(
        decide(&with(Purpose::SSH), false, &local, ssh),
        Verdict::Allow
    );
    assert_eq!(UsePolicy::default().purpose, Purpose::SSH, "ssh-add's keys");
    for usage in [Use::Token, ssh, Use::See] {
        assert_eq!(
            decide(&with(Purpose::BOTH), false, &local, usage),
            Verdict::Allow
        );
    }
    // Every key is listed, whatever it is for.
    assert_eq!(
        decide(&with(Purpose::TOKEN), false, &local, Use::See),
        Verdict::Allow
    );
}

/// A host certificate blob's shape: an Ed25519 key, CA key "CA", principals, validity,
/// critical options and the CA signature's algorithm as given (the CA signature itself is
/// checked when the binding is verified, not here).
fn host_cert(
    kind: u32,
    principals: &[&str],
    valid: (u64, u64),
    critical: &[u8],
    alg: &str,
) -> Vec<u8> {
    let mut names = Writer::new();
    for p in principals {
        names.string(p.as_bytes());
    }
    let mut signature = Writer::new();
    signature.string(alg.as_bytes()).string(&[1; 64]);
    let mut w = Writer::new();
    w.string(b"ssh-ed25519-cert-v01@openssh.com")
        .string(&[7; 32])
        .string(&[9; 32])
        .u32(0)
        .u32(1)
        .u32(kind)
        .string(b"host")
        .string(&names.into_vec())
        .u32((valid.0 >> 32) as u32)
        .u32(valid.0 as u32)
        .u32((valid.1 >> 32) as u32)
        .u32(valid.1 as u32)
        .string(critical)
        .string(b"")
        .string(b"")
        .string(b"CA")
        .string(&signature.into_vec());
    w.into_vec()
}

#[test]
fn a_host_certificate_matches_its_ca_for_a_principal_it_names_while_valid() {
    let forever = (0, u64::MAX);
    let good = host_cert(2, &["client-*"], forever, b"", "ssh-ed25519");
    let ca_hop = |host: &str, ca: &[u8]| Hop {
        user: None,
        hostname: Some(host.to_owned()),
        keys: vec![HopKey {
            blob: ca.to_vec(),
            is_ca: true,
        }],
    };
    assert!(matches_hop(&good, &ca_hop("client-vm", b"CA")));
    // Another CA, a name it does not cover, or the CA listed as a plain host key.
    assert!(!matches_hop(&good, &ca_hop("client-vm", b"other CA")));
    assert!(!matches_hop(&good, &ca_hop("bastion", b"CA")));
    assert!(!matches_hop(&good, &hop(Some("client-vm"), &[b"CA"])));
    // A plain key never matches a CA line.
    assert!(!matches_hop(b"CA", &ca_hop("client-vm", b"CA")));
    for bad in [
        host_cert(1, &["client-vm"], forever, b"", "ssh-ed25519"),
        host_cert(2, &[], forever, b"", "ssh-ed25519"),
        host_cert(2, &["client-vm"], (0, 1000), b"", "ssh-ed25519"),
        host_cert(
            2,
            &["client-vm"],
            (u64::MAX - 1, u64::MAX),
            b"",
            "ssh-ed25519",
        ),
        host_cert(
            2,
            &["client-vm"],
            forever,
            b"\0\0\0\x01x\0\0\0\0",
            "ssh-ed25519",
        ),
        host_cert(2, &["client-vm"], forever, b"", "ssh-rsa"),
    ] {
        assert!(!matches_hop(&bad, &ca_hop("client-vm", b"CA")));
    }
}
