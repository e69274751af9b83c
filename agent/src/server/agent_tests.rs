//! Unit tests of the agent's answers: token signing, lock, confirm-on-use, removal.

use super::*;
use crate::rsa_key::material_of;
use proto::key::public_key_blob;
use proto::message::{Constraint, TokenSignRequest, SIGN_RSA_SHA2_256, SIGN_RSA_SHA2_512};
use proto::purpose::Purpose;
use proto::signing::verify_token;
use rsa::RsaPublicKey;
use zeroize::Zeroizing;

fn public() -> RsaPublicKey {
    crate::rsa_key::public_of(&crate::test_key()).expect("public key")
}

fn peer() -> Peer {
    Peer {
        pid: Some(1),
        uid: 0,
        exe: None,
    }
}

fn agent() -> Arc<Agent> {
    // No askpass: a confirmation waits a moment for mfa-add --approve, then is refused.
    let confirmer = Confirmer::default().with_queue_wait(std::time::Duration::from_millis(200));
    Arc::new(Agent::new(None, confirmer, Log::new(false)))
}

/// Adds the test key with `constraints`; a key for both purposes unless they name one (these
/// tests judge other rules; `purposes_keep_each_key_to_its_use` judges the purpose).
async fn add(agent: &Arc<Agent>, mut constraints: Vec<Constraint>) -> Response {
    if !constraints
        .iter()
        .any(|c| matches!(c, Constraint::Purpose(_)))
    {
        constraints.push(Constraint::Purpose(Purpose::BOTH));
    }
    let request = Request::AddIdentity {
        key: material_of(&crate::test_key()),
        comment: "test".into(),
        constraints,
    };
    agent.handle(request, &peer()).await
}

fn token_sign_request(tokens: Vec<[u8; 32]>) -> Request {
    Request::TokenSign(TokenSignRequest {
        key_blob: public_key_blob(&public()),
        tokens,
        about: String::new(),
    })
}

#[tokio::test]
async fn token_sign_signs_each_token_in_order() {
    let agent = agent();
    assert_eq!(add(&agent, vec![]).await, Response::Success);
    let tokens = vec![[1u8; 32], [2u8; 32], [3u8; 32]];
    match agent
        .handle(token_sign_request(tokens.clone()), &peer())
        .await
    {
        Response::TokenSign(sigs) => {
            assert_eq!(sigs.len(), 3);
            for (t, s) in tokens.iter().zip(&sigs) {
                verify_token(&public(), t, s).expect("verifies");
            }
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn locked_agent_lists_nothing_and_signs_nothing() {
    let agent = agent();
    assert_eq!(add(&agent, vec![]).await, Response::Success);
    let lock = |p: &[u8]| Request::Lock {
        passphrase: Zeroizing::new(p.to_vec()),
    };
    let unlock = |p: &[u8]| Request::Unlock {
        passphrase: Zeroizing::new(p.to_vec()),
    };
    assert_eq!(agent.handle(lock(b"pw"), &peer()).await, Response::Success);
    assert_eq!(
        agent.handle(Request::RequestIdentities, &peer()).await,
        Response::Identities(vec![])
    );
    assert_eq!(
        agent
            .handle(token_sign_request(vec![[0; 32]]), &peer())
            .await,
        Response::ExtensionFailure
    );
    assert_eq!(add(&agent, vec![]).await, Response::Failure);
    assert_eq!(agent.handle(lock(b"pw"), &peer()).await, Response::Failure);
    assert_eq!(
        agent.handle(unlock(b"no"), &peer()).await,
        Response::Failure
    );
    assert_eq!(
        agent.handle(unlock(b"pw"), &peer()).await,
        Response::Success
    );
    assert!(matches!(
        agent
            .handle(token_sign_request(vec![[0; 32]]), &peer())
            .await,
        Response::TokenSign(_)
    ));
    assert_eq!(
        agent.handle(unlock(b"pw"), &peer()).await,
        Response::Failure
    );
}

#[tokio::test]
async fn confirm_keys_are_refused_with_nothing_to_ask() {
    let agent = agent();
    assert_eq!(
        add(&agent, vec![Constraint::Confirm]).await,
        Response::Success
    );
    assert_eq!(
        agent
            .handle(token_sign_request(vec![[0; 32]]), &peer())
            .await,
        Response::ExtensionFailure
    );
}

#[tokio::test]
async fn a_key_removed_while_its_use_is_confirmed_is_not_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (asked, answer) = (dir.path().join("asked"), dir.path().join("answer"));
    let script = dir.path().join("confirm.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\nfor i in $(seq 300); do [ -e '{}' ] && exit 0; sleep 0.1; done\nexit 1\n",
            asked.display(),
            answer.display()
        ),
    )
    .expect("write the script");
    crate::sys::set_mode(&script, 0o755).expect("chmod");
    let agent = Arc::new(Agent::new(
        None,
        Confirmer::new(Some(script.into_os_string())),
        Log::new(false),
    ));
    for remove in [false, true] {
        let _ = std::fs::remove_file(&asked);
        let _ = std::fs::remove_file(&answer);
        assert_eq!(
            add(&agent, vec![Constraint::Confirm]).await,
            Response::Success
        );
        let signer = Arc::clone(&agent);
        let signing = tokio::spawn(async move {
            signer
                .handle(token_sign_request(vec![[7; 32]]), &peer())
                .await
        });
        while !asked.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if remove {
            assert_eq!(
                agent.handle(Request::RemoveAllIdentities, &peer()).await,
                Response::Success
            );
        }
        std::fs::write(&answer, b"").expect("answer yes");
        let response = signing.await.expect("the signing task");
        if remove {
            assert_eq!(response, Response::ExtensionFailure);
        } else {
            assert!(matches!(response, Response::TokenSign(_)), "{response:?}");
        }
    }
}

#[tokio::test]
async fn remove_and_unknown_keys_fail_cleanly() {
    let agent = agent();
    let blob = public_key_blob(&public());
    let remove = || Request::RemoveIdentity {
        key_blob: blob.clone(),
    };
    assert_eq!(agent.handle(remove(), &peer()).await, Response::Failure);
    assert_eq!(
        agent
            .handle(token_sign_request(vec![[0; 32]]), &peer())
            .await,
        Response::ExtensionFailure
    );
    assert_eq!(add(&agent, vec![]).await, Response::Success);
    assert_eq!(agent.handle(remove(), &peer()).await, Response::Success);
    assert_eq!(
        agent.handle(Request::RequestIdentities, &peer()).await,
        Response::Identities(vec![])
    );
}

#[tokio::test]
async fn a_binding_that_does_not_verify_fails_and_a_deny_key_then_refuses_the_connection() {
    use proto::forwarding::{ForwardedPolicy, SessionBind};
    let agent = agent();
    assert_eq!(
        add(&agent, vec![Constraint::Forwarded(ForwardedPolicy::Deny)]).await,
        Response::Success
    );
    let mut route = ConnectionState::default();
    let forged = Request::SessionBind(SessionBind {
        host_key: b"not a host key".to_vec(),
        session_id: vec![1; 32],
        signature: b"not a signature".to_vec(),
        forwarding: true,
    });
    assert_eq!(
        agent.handle_on(forged, &peer(), &mut route).await,
        Response::ExtensionFailure
    );
    // Whoever sent it cannot be told from a forwarding: the deny key refuses it.
    assert_eq!(
        agent
            .handle_on(token_sign_request(vec![[0; 32]]), &peer(), &mut route)
            .await,
        Response::ExtensionFailure
    );
    assert!(matches!(
        agent
            .handle(token_sign_request(vec![[0; 32]]), &peer())
            .await,
        Response::TokenSign(_)
    ));
}

#[tokio::test]
async fn both_sha2_flags_get_rsa_sha2_256_as_from_ssh_agent() {
    let agent = agent();
    assert_eq!(add(&agent, vec![]).await, Response::Success);
    let sign = |flags| Request::Sign {
        key_blob: public_key_blob(&public()),
        data: b"anything".to_vec(),
        flags,
    };
    for (flags, want) in [
        (SIGN_RSA_SHA2_256, "rsa-sha2-256"),
        (SIGN_RSA_SHA2_512, "rsa-sha2-512"),
        (SIGN_RSA_SHA2_256 | SIGN_RSA_SHA2_512, "rsa-sha2-256"),
    ] {
        match agent.handle(sign(flags), &peer()).await {
            // The blob: string algorithm, string signature.
            Response::Sign { signature } => {
                let len = u32::from_be_bytes(signature[..4].try_into().expect("length")) as usize;
                assert_eq!(&signature[4..4 + len], want.as_bytes(), "flags {flags}");
            }
            other => panic!("flags {flags}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_locked_agent_verifies_session_bindings_and_extensions_fail_as_openssh_says() {
    use signature::Signer;
    let agent = agent();
    assert_eq!(add(&agent, vec![]).await, Response::Success);
    let lock = Request::Lock {
        passphrase: Zeroizing::new(b"pw".to_vec()),
    };
    assert_eq!(agent.handle(lock, &peer()).await, Response::Success);
    // OpenSSH 10.5: session-bind is accepted while locked, so ssh's binding holds.
    let host = ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519)
        .expect("host key");
    let session_id = vec![7u8; 32];
    let signature: ssh_key::Signature = host.try_sign(&session_id).expect("sign");
    let bind = Request::SessionBind(proto::forwarding::SessionBind {
        host_key: host.public_key().to_bytes().expect("blob"),
        session_id,
        signature: Vec::<u8>::try_from(signature).expect("signature blob"),
        forwarding: false,
    });
    let mut route = ConnectionState::default();
    assert_eq!(
        agent.handle_on(bind, &peer(), &mut route).await,
        Response::Success
    );
    assert_eq!(route.route.hops().len(), 1);
    // A known extension that fails: EXTENSION_FAILURE; an unknown one: FAILURE.
    assert_eq!(
        agent
            .handle(token_sign_request(vec![[0; 32]]), &peer())
            .await,
        Response::ExtensionFailure
    );
    let unknown = Request::UnknownExtension {
        name: "nobody@example.com".into(),
    };
    assert_eq!(agent.handle(unknown, &peer()).await, Response::Failure);
}

#[tokio::test]
async fn purposes_keep_each_key_to_its_use() {
    let ssh_request = || Request::Sign {
        key_blob: public_key_blob(&public()),
        data: b"session data".to_vec(),
        flags: SIGN_RSA_SHA2_256,
    };
    let token = agent();
    add(&token, vec![Constraint::Purpose(Purpose::TOKEN)]).await;
    assert!(matches!(
        token
            .handle(token_sign_request(vec![[7; 32]]), &peer())
            .await,
        Response::TokenSign(_)
    ));
    assert_eq!(
        token.handle(ssh_request(), &peer()).await,
        Response::Failure
    );
    assert_eq!(
        token.handle(Request::KeyPurposes, &peer()).await,
        Response::KeyPurposes(vec![(public_key_blob(&public()), Purpose::TOKEN)])
    );
    // ssh-add -h (no purpose constraint) on a key the agent holds keeps its purpose.
    let again = Request::AddIdentity {
        key: material_of(&crate::test_key()),
        comment: "ssh-add -h".into(),
        constraints: vec![Constraint::Confirm],
    };
    assert_eq!(token.handle(again, &peer()).await, Response::Success);
    assert_eq!(
        token.handle(Request::KeyPurposes, &peer()).await,
        Response::KeyPurposes(vec![(public_key_blob(&public()), Purpose::TOKEN)])
    );

    // As ssh-add adds it: no purpose constraint, an SSH key.
    let ssh = agent();
    let request = Request::AddIdentity {
        key: material_of(&crate::test_key()),
        comment: "ssh-add".into(),
        constraints: vec![],
    };
    assert_eq!(ssh.handle(request, &peer()).await, Response::Success);
    assert!(matches!(
        ssh.handle(ssh_request(), &peer()).await,
        Response::Sign { .. }
    ));
    assert_eq!(
        ssh.handle(token_sign_request(vec![[7; 32]]), &peer()).await,
        Response::ExtensionFailure
    );
    assert_eq!(
        ssh.handle(Request::KeyPurposes, &peer()).await,
        Response::KeyPurposes(vec![(public_key_blob(&public()), Purpose::SSH)])
    );
}

#[tokio::test]
async fn why_tells_the_cause_of_the_connections_last_refusal_once() {
    let agent = agent();
    let request = Request::AddIdentity {
        key: material_of(&crate::test_key()),
        comment: "ssh-add".into(),
        constraints: vec![],
    };
    assert_eq!(agent.handle(request, &peer()).await, Response::Success);
    let mut connection = ConnectionState::default();
    let mut other = ConnectionState::default();
    assert_eq!(
        agent
            .handle_on(token_sign_request(vec![[1; 32]]), &peer(), &mut connection)
            .await,
        Response::ExtensionFailure
    );
    let nothing = Response::Why {
        code: String::new(),
        text: String::new(),
        provider: String::new(),
    };
    assert_eq!(
        agent.handle_on(Request::Why, &peer(), &mut other).await,
        nothing,
        "another connection's refusal is not told"
    );
    match agent
        .handle_on(Request::Why, &peer(), &mut connection)
        .await
    {
        Response::Why { code, text, .. } => {
            assert_eq!(code, "purpose");
            assert!(text.contains("it signs no CloudHSM token"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        agent
            .handle_on(Request::Why, &peer(), &mut connection)
            .await,
        nothing,
        "told once"
    );
}

/// An `ssh-rsa-cert-v01@openssh.com` blob for the test key (CA fields made up: the agent
/// leaves the CA's signature to the server).
fn test_certificate() -> Vec<u8> {
    let material = material_of(&crate::test_key());
    let f = material.fields();
    let mut w = proto::wire::Writer::new();
    w.string(proto::cert::SSH_RSA_CERT.as_bytes())
        .string(&[7; 32])
        .mpint(f.e)
        .mpint(f.n)
        .u32(0)
        .u32(1)
        .u32(1)
        .string(b"officer")
        .string(b"")
        .u32(0)
        .u32(0)
        .u32(u32::MAX)
        .u32(u32::MAX);
    for field in [&b""[..], b"", b"", b"ca key", b"ca signature"] {
        w.string(field);
    }
    w.into_vec()
}

#[tokio::test]
async fn an_rsa_certificate_is_held_beside_its_key_and_signs_ssh_requests_only() {
    let agent = agent();
    assert_eq!(add(&agent, vec![]).await, Response::Success);
    let certificate = test_certificate();
    let material = material_of(&crate::test_key());
    let f = material.fields();
    let mut w = proto::wire::Writer::new();
    w.u8(proto::ids::ADD_IDENTITY)
        .string(proto::cert::SSH_RSA_CERT.as_bytes())
        .string(&certificate)
        .mpint(f.d)
        .mpint(f.iqmp)
        .mpint(f.p)
        .mpint(f.q)
        .string(b"cert");
    let add_certificate = w.into_vec();
    let request = Request::decode(&add_certificate).expect("a certificate add decodes");
    assert_eq!(agent.handle(request, &peer()).await, Response::Success);
    let blobs: Vec<Vec<u8>> = agent
        .keys()
        .identities()
        .into_iter()
        .map(|i| i.key_blob)
        .collect();
    assert_eq!(blobs, [public_key_blob(&public()), certificate.clone()]);
    let sign = Request::Sign {
        key_blob: certificate.clone(),
        data: b"anything".to_vec(),
        flags: SIGN_RSA_SHA2_512,
    };
    assert!(matches!(
        agent.handle(sign, &peer()).await,
        Response::Sign { .. }
    ));
    let tokens = Request::TokenSign(TokenSignRequest {
        key_blob: certificate.clone(),
        tokens: vec![[1; 32]],
        about: String::new(),
    });
    assert_eq!(
        agent.handle(tokens, &peer()).await,
        Response::ExtensionFailure
    );
    let remove = Request::RemoveIdentity {
        key_blob: certificate.clone(),
    };
    assert_eq!(agent.handle(remove, &peer()).await, Response::Success);
    assert_eq!(agent.keys().identities().len(), 1);
    // Back again; the key then added for tokens only (mfa-add) takes its certificate away.
    let again = Request::decode(&add_certificate.clone()).expect("decode");
    assert_eq!(agent.handle(again, &peer()).await, Response::Success);
    assert_eq!(agent.keys().identities().len(), 2);
    assert_eq!(
        add(&agent, vec![Constraint::Purpose(Purpose::TOKEN)]).await,
        Response::Success
    );
    assert_eq!(agent.keys().identities().len(), 1);
    // And a key held for tokens only gets no certificate.
    let refused = Request::decode(&add_certificate).expect("decode");
    assert_eq!(agent.handle(refused, &peer()).await, Response::Failure);
}
