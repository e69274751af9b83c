//! How one connection reached the agent ([`Route`]): the SSH sessions OpenSSH's ssh bound it
//! to with `session-bind@openssh.com`, each checked against its host key's signature over the
//! session identifier, as ssh-agent.c's `process_ext_session_bind` does.
//!
//! A connection with no binding is local. ssh sends a binding with the forwarding flag on
//! every connection it opens for a forwarded agent (`ForwardAgent`, `ssh -A`), and one without
//! it before it uses the agent to authenticate; each hop of a chain of forwardings adds one.
//! `ssh -R` forwards a bare socket: no binding. A connection from OpenSSH's `ssh` itself that
//! asks for a signature without binding is that (or another stream forwarding): it counts as
//! forwarded from an unknown host. Its one cost: OpenSSH clients older than 8.9 sign their own
//! logins without a binding, and are then treated as forwarded too.

use proto::cert::{is_certificate, Certificate};
use proto::forwarding::SessionBind;
use proto::key::fingerprint;
use signature::Verifier;

/// Most bindings on one connection (ssh-agent.c `AGENT_MAX_SESSION_IDS`).
const MAX_HOPS: usize = 16;

/// One verified binding: the host the session is with, and whether it forwards the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    pub host_key: Vec<u8>,
    pub fingerprint: String,
    pub session_id: Vec<u8>,
    pub forwarded: bool,
}

/// The bindings of one connection, in the order they were made (origin first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Route {
    hops: Vec<Hop>,
    /// A binding was refused on this connection: whoever is at the other end cannot be told
    /// from a forwarding, so it is treated as one (stricter than OpenSSH, which calls the
    /// connection remote only for its destination constraints).
    failed: bool,
    /// The peer is OpenSSH's `ssh`: without a binding, it carries a forwarded connection.
    from_ssh: bool,
}

/// Whether `exe` is OpenSSH's client, `ssh` (not sshd, not ssh-add).
pub(crate) fn is_ssh_client(exe: Option<&std::path::Path>) -> bool {
    exe.and_then(|e| e.file_name())
        .is_some_and(|name| name == "ssh")
}

impl Route {
    /// A route with these bindings already verified (for tests of what routes allow).
    #[cfg(test)]
    pub fn from_hops(hops: Vec<Hop>, failed: bool) -> Route {
        Route {
            hops,
            failed,
            from_ssh: false,
        }
    }

    /// The route of a new connection: local until bound, unless the peer is `ssh`.
    pub fn for_peer(from_ssh: bool) -> Route {
        Route {
            from_ssh,
            ..Route::default()
        }
    }

    /// `ssh` with no binding: `ssh -R` or another stream forwarding, from a host unknown.
    pub fn unbound_ssh(&self) -> bool {
        self.from_ssh && self.hops.is_empty() && !self.failed
    }

    /// The verified bindings, origin first.
    pub fn hops(&self) -> &[Hop] {
        &self.hops
    }

    /// True when a binding was attempted on this connection (ssh-agent.c `socket_is_remote`).
    pub fn bind_attempted(&self) -> bool {
        self.failed || !self.hops.is_empty()
    }

    /// True when the request may come from beyond this machine: some hop forwards the agent,
    /// or a binding failed.
    pub fn is_forwarded(&self) -> bool {
        self.failed || self.unbound_ssh() || self.hops.iter().any(|h| h.forwarded)
    }

    /// Verifies and records a binding; Ok says what was recorded, Err why it was refused.
    /// A refused binding marks the connection (see [`Route::is_forwarded`]).
    pub fn bind(&mut self, bind: SessionBind) -> Result<String, String> {
        let result = self.try_bind(bind);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn try_bind(&mut self, bind: SessionBind) -> Result<String, String> {
        // A host certificate is named by its key's fingerprint, as ssh-keygen -l names it.
        let fp = fingerprint(&proto::cert::plain_key_of(&bind.host_key));
        verify(&bind).map_err(|why| format!("host key {fp}: {why}"))?;
        for hop in &self.hops {
            if !hop.forwarded {
                return Err(format!(
                    "{fp}: the connection is already bound for authentication"
                ));
            }
            if hop.session_id == bind.session_id {
                return if hop.host_key == bind.host_key {
                    Ok(format!("{fp} already bound"))
                } else {
                    Err(format!("{fp}: session already bound to another host key"))
                };
            }
        }
        if self.hops.len() >= MAX_HOPS {
            return Err(format!("{fp}: more than {MAX_HOPS} bindings"));
        }
        let kind = if bind.forwarding {
            "forwarding"
        } else {
            "authentication"
        };
        self.hops.push(Hop {
            host_key: bind.host_key,
            fingerprint: fp.clone(),
            session_id: bind.session_id,
            forwarded: bind.forwarding,
        });
        Ok(format!("bound to host key {fp} for {kind}"))
    }

    /// The audit field: `local`, `via=SHA256:...[,SHA256:...] forwarded` (the request came
    /// through a forwarded agent, hops origin first), `via=SHA256:... auth` (ssh on this
    /// machine authenticating to that host), with `unverified` when a binding failed.
    pub fn describe(&self) -> String {
        if self.hops.is_empty() {
            return if self.failed {
                "via=unverified forwarded".to_owned()
            } else if self.from_ssh {
                "via=unbound-ssh forwarded".to_owned()
            } else {
                "local".to_owned()
            };
        }
        let hosts: Vec<&str> = self.hops.iter().map(|h| h.fingerprint.as_str()).collect();
        let kind = match (self.failed, self.is_forwarded()) {
            (true, _) => "forwarded unverified",
            (false, true) => "forwarded",
            (false, false) => "auth",
        };
        format!("via={} {kind}", hosts.join(","))
    }
}

/// Checks the host key's signature over the session identifier. The key types and signature
/// algorithms are those the `ssh-key` crate verifies: ssh-ed25519, ecdsa-sha2-nistp256/384/521,
/// and RSA keys with rsa-sha2-256/512 (OpenSSH signs key exchanges with no others by default).
/// A host certificate (sshd's `HostCertificate`) is verified as ssh-agent reads one: its CA's
/// signature over it, then its key's signature over the session identifier.
fn verify(bind: &SessionBind) -> Result<(), String> {
    let plain = host_key_of(&bind.host_key)?;
    verify_signed(&plain, &bind.session_id, &bind.signature)
}

/// The plain host key of a host key blob: itself, or a certificate's key once its CA's
/// signature verifies.
fn host_key_of(blob: &[u8]) -> Result<Vec<u8>, String> {
    if !is_certificate(blob) {
        return Ok(blob.to_vec());
    }
    let cert = Certificate::parse(blob).map_err(|e| format!("unreadable host certificate: {e}"))?;
    verify_signed(cert.signature_key, cert.signed, cert.signature)
        .map_err(|why| format!("host certificate: its CA's {why}"))?;
    Ok(cert.plain_key())
}

/// Checks `signature` (an SSH signature blob) over `data` with the public key `key_blob`.
fn verify_signed(key_blob: &[u8], data: &[u8], signature: &[u8]) -> Result<(), String> {
    let key =
        ssh_key::PublicKey::from_bytes(key_blob).map_err(|e| format!("unreadable key: {e}"))?;
    let signature = ssh_key::Signature::try_from(signature)
        .map_err(|e| format!("unreadable signature: {e}"))?;
    Verifier::verify(key.key_data(), data, &signature)
        .map_err(|_| format!("{} signature does not verify", signature.algorithm()))
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
