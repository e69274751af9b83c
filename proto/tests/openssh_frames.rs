//! Requests OpenSSH itself sent (captured into the fuzz seed corpus, see fuzz/README.md)
//! decode as the forwarding types they are: ssh's `session-bind@openssh.com` for a login and
//! for a forwarding, `ssh-add -h client-vm -h 'client-vm>elsewhere'`, and mfa-add's
//! `--forwarded deny`.

use std::fs;
use std::path::PathBuf;

use proto::forwarding::ForwardedPolicy;
use proto::message::{Constraint, Request};

fn frame(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus/request_decode")
        .join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn ssh_session_binds_decode_with_their_flag() {
    for (name, forwarding) in [
        ("captured-extension-session-bind-forwarding-36b46635", true),
        ("captured-extension-session-bind-auth-bcb0b560", false),
    ] {
        match Request::decode(&frame(name)).expect("decodes") {
            Request::SessionBind(bind) => {
                assert_eq!(bind.forwarding, forwarding, "{name}");
                // An ssh-ed25519 host key; the exchange hash of OpenSSH 9.2's default key
                // exchange, sntrup761x25519-sha512, is a SHA-512.
                assert!(bind.host_key.starts_with(b"\0\0\0\x0bssh-ed25519"));
                assert_eq!(bind.session_id.len(), 64);
            }
            other => panic!("{name} decoded as {other:?}"),
        }
    }
}

#[test]
fn ssh_add_h_destinations_decode_hop_by_hop() {
    let request = Request::decode(&frame(
        "captured-add-id-constrained-restrict-destination-80e93d08",
    ))
    .expect("decodes");
    let Request::AddIdentity { constraints, .. } = request else {
        panic!("not an add-identity: {request:?}");
    };
    let [Constraint::Destinations(destinations)] = constraints.as_slice() else {
        panic!("constraints: {constraints:?}");
    };
    let hops: Vec<(Option<&str>, Option<&str>)> = destinations
        .iter()
        .map(|d| (d.from.hostname.as_deref(), d.to.hostname.as_deref()))
        .collect();
    assert_eq!(
        hops,
        [
            (None, Some("client-vm")),
            (Some("client-vm"), Some("elsewhere"))
        ]
    );
    assert!(destinations.iter().all(|d| d.to.keys.len() == 1));
}

#[test]
fn mfa_add_forwarded_deny_decodes() {
    let request = Request::decode(&frame(
        "captured-add-id-constrained-forwarded-deny-7b02f5f5",
    ))
    .expect("decodes");
    let Request::AddIdentity { constraints, .. } = request else {
        panic!("not an add-identity: {request:?}");
    };
    assert_eq!(
        constraints,
        vec![Constraint::Forwarded(ForwardedPolicy::Deny)]
    );
}
