//! Tests of [`Route`]: bindings signed by real Ed25519 and ECDSA host keys (RSA host keys are
//! checked against a real sshd in the e2e tests), OpenSSH's rules for a connection's
//! bindings, and the audit field.

use super::*;
use rand::rngs::OsRng;
use signature::Signer;
use ssh_key::{Algorithm, EcdsaCurve, PrivateKey};

fn host(algorithm: Algorithm) -> PrivateKey {
    PrivateKey::random(&mut OsRng, algorithm).expect("host key")
}

fn signed(host: &PrivateKey, session_id: &[u8], forwarding: bool) -> SessionBind {
    let signature: ssh_key::Signature = host
        .try_sign(session_id)
        .unwrap_or_else(|e| panic!("sign with {}: {e:?}", host.algorithm()));
    SessionBind {
        host_key: host.public_key().to_bytes().expect("blob"),
        session_id: session_id.to_vec(),
        signature: Vec::<u8>::try_from(signature).expect("signature blob"),
        forwarding,
    }
}

#[test]
fn bindings_signed_by_each_host_key_type_verify() {
    for key in [
        host(Algorithm::Ed25519),
        host(Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        }),
        host(Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        }),
    ] {
        let mut route = Route::default();
        let said = route.bind(signed(&key, &[1; 32], true)).expect("verifies");
        assert!(said.contains("for forwarding"), "{said}");
        assert!(route.is_forwarded());
        let fp = fingerprint(&key.public_key().to_bytes().expect("blob"));
        assert_eq!(route.describe(), format!("via={fp} forwarded"));
    }
}

#[test]
fn a_signature_over_another_session_or_by_another_key_is_refused() {
    let key = host(Algorithm::Ed25519);
    let mut wrong_session = signed(&key, &[1; 32], false);
    wrong_session.session_id = vec![2; 32];
    let mut wrong_key = signed(&key, &[1; 32], false);
    wrong_key.host_key = host(Algorithm::Ed25519)
        .public_key()
        .to_bytes()
        .expect("blob");
    let mut garbage = signed(&key, &[1; 32], false);
    garbage.signature = b"not a signature".to_vec();
    for bind in [wrong_session, wrong_key, garbage] {
        let mut route = Route::default();
        assert!(route.bind(bind).is_err());
        // Refused: nothing recorded, and the connection counts as forwarded from now on.
        assert!(route.hops().is_empty());
        assert!(route.is_forwarded());
        assert_eq!(route.describe(), "via=unverified forwarded");
    }
}

#[test]
fn hops_chain_as_openssh_allows() {
    let (a, b) = (host(Algorithm::Ed25519), host(Algorithm::Ed25519));
    let mut route = Route::default();
    assert!(!route.is_forwarded() && !route.bind_attempted());
    assert_eq!(route.describe(), "local");
    route.bind(signed(&a, &[1; 32], true)).expect("first hop");
    // The same session again is accepted and recorded once.
    route.bind(signed(&a, &[1; 32], true)).expect("again");
    assert_eq!(route.hops().len(), 1);
    route.bind(signed(&b, &[2; 32], false)).expect("second hop");
    assert_eq!(route.hops().len(), 2);
    let (fa, fb) = (&route.hops()[0].fingerprint, &route.hops()[1].fingerprint);
    assert_eq!(route.describe(), format!("via={fa},{fb} forwarded"));
    // After an authentication binding nothing more may be bound.
    assert!(route.bind(signed(&a, &[3; 32], true)).is_err());
}

#[test]
fn one_session_with_two_host_keys_is_refused() {
    let (a, b) = (host(Algorithm::Ed25519), host(Algorithm::Ed25519));
    let mut route = Route::default();
    route.bind(signed(&a, &[1; 32], true)).expect("first");
    assert!(route.bind(signed(&b, &[1; 32], true)).is_err());
}

#[test]
fn an_authentication_binding_alone_is_local_use_for_that_host() {
    let a = host(Algorithm::Ed25519);
    let mut route = Route::default();
    route.bind(signed(&a, &[1; 32], false)).expect("auth");
    assert!(!route.is_forwarded());
    assert!(route.bind_attempted());
    assert!(route.describe().ends_with(" auth"), "{}", route.describe());
}

#[test]
fn at_most_sixteen_hops() {
    let a = host(Algorithm::Ed25519);
    let mut route = Route::default();
    for i in 0..MAX_HOPS as u8 {
        route.bind(signed(&a, &[i + 1; 32], true)).expect("hop");
    }
    assert!(route.bind(signed(&a, &[99; 32], true)).is_err());
}

#[test]
fn ssh_without_a_binding_counts_as_forwarded_from_an_unknown_host() {
    use std::path::Path;
    assert!(is_ssh_client(Some(Path::new("/usr/bin/ssh"))));
    for other in ["/usr/bin/ssh-add", "/usr/sbin/sshd", "/usr/bin/mfa-login"] {
        assert!(!is_ssh_client(Some(Path::new(other))), "{other}");
    }
    assert!(!is_ssh_client(None));

    // ssh -R: the peer is ssh and binds nothing.
    let unbound = Route::for_peer(true);
    assert!(unbound.unbound_ssh() && unbound.is_forwarded());
    assert_eq!(unbound.describe(), "via=unbound-ssh forwarded");
    // ssh authenticating binds first (OpenSSH 8.9 and later): a binding, not forwarded.
    let mut authenticating = Route::for_peer(true);
    authenticating
        .bind(signed(&host(Algorithm::Ed25519), &[2; 32], false))
        .expect("verifies");
    assert!(!authenticating.unbound_ssh() && !authenticating.is_forwarded());
    // Any other local program: local.
    let local = Route::for_peer(false);
    assert!(!local.is_forwarded());
    assert_eq!(local.describe(), "local");
}
