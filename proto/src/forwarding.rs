//! Agent forwarding on the wire: OpenSSH's `session-bind@openssh.com` extension, the
//! `restrict-destination-v00@openssh.com` key constraint (`ssh-add -h`), our own
//! `forwarded@cloudhsm-mfa` key constraint (`mfa-add --forwarded`), and the public-key
//! userauth request a destination-constrained SSH signature must be.
//!
//! OpenSSH's PROTOCOL.agent defines the first two; ssh-agent.c is the reference for their
//! limits. Only decoding and encoding live here: verifying a binding's signature and deciding
//! what a hop may do is the agent's.

use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// OpenSSH's extension binding an agent connection to an SSH session (PROTOCOL.agent 1).
pub const SESSION_BIND_EXTENSION: &str = "session-bind@openssh.com";
/// OpenSSH's destination constraint (`ssh-add -h`), PROTOCOL.agent 2.
pub const RESTRICT_DESTINATION_CONSTRAINT: &str = "restrict-destination-v00@openssh.com";
/// Our key constraint: what to do when a request comes through a forwarded connection.
pub const FORWARDED_CONSTRAINT: &str = "forwarded@cloudhsm-mfa";

/// Longest session identifier accepted (ssh-agent.c `AGENT_MAX_SID_LEN`): a SHA-512 is 64.
pub const MAX_SESSION_ID_LEN: usize = 128;
/// Most destination constraints on one key (ssh-agent.c `AGENT_MAX_DEST_CONSTRAINTS`).
pub const MAX_DESTINATION_CONSTRAINTS: usize = 1024;

/// `session-bind@openssh.com`: the host key, the session identifier (the exchange hash of the
/// first key exchange, RFC 4253 section 7.2), the host key's signature over it, and whether
/// the connection is a forwarding (true) or ssh authenticating itself (false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBind {
    pub host_key: Vec<u8>,
    pub session_id: Vec<u8>,
    pub signature: Vec<u8>,
    pub forwarding: bool,
}

impl SessionBind {
    /// Decodes the extension's contents (after its name).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let host_key = r.string()?.to_vec();
        let session_id = r.string()?.to_vec();
        if session_id.is_empty() || session_id.len() > MAX_SESSION_ID_LEN {
            return Err(Error::BadSessionBind("session identifier length"));
        }
        let signature = r.string()?.to_vec();
        let forwarding = r.u8()? != 0;
        Ok(SessionBind {
            host_key,
            session_id,
            signature,
            forwarding,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.string(&self.host_key)
            .string(&self.session_id)
            .string(&self.signature)
            .u8(u8::from(self.forwarding));
    }
}

/// `mfa-add --forwarded`: what a key does for a request through a forwarded connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedPolicy {
    /// Sign, as OpenSSH's agent does (the default).
    #[default]
    Allow,
    /// Ask the user first (askpass), as for a `-c` key.
    Confirm,
    /// Refuse; the key signs only for local clients.
    Deny,
}

impl ForwardedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardedPolicy::Allow => "allow",
            ForwardedPolicy::Confirm => "confirm",
            ForwardedPolicy::Deny => "deny",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "allow" => Some(ForwardedPolicy::Allow),
            "confirm" => Some(ForwardedPolicy::Confirm),
            "deny" => Some(ForwardedPolicy::Deny),
            _ => None,
        }
    }

    /// The constraint's contents: one string, the policy's name.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let text = r.utf8()?;
        ForwardedPolicy::parse(text)
            .ok_or_else(|| Error::UnsupportedConstraint(format!("{FORWARDED_CONSTRAINT} {text:?}")))
    }
}

/// One end of a destination constraint (ssh-agent.c `dest_constraint_hop`): a host name
/// (`None` is the origin, the agent's own machine), an optional user pattern, and the host
/// keys that identify the host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hop {
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub keys: Vec<HopKey>,
}

/// A host key of a hop, or a CA key (`@cert-authority` in known_hosts) that signs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopKey {
    pub blob: Vec<u8>,
    pub is_ca: bool,
}

/// One `ssh-add -h FROM>TO` (or `-h TO`, from the origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationConstraint {
    pub from: Hop,
    pub to: Hop,
}

/// Decodes the contents of `restrict-destination-v00@openssh.com`: a string holding the
/// constraints back to back, each itself a string. The consistency checks are ssh-agent.c's.
pub fn decode_destinations(r: &mut Reader<'_>) -> Result<Vec<DestinationConstraint>> {
    let mut all = Reader::new(r.string()?);
    let mut constraints = Vec::new();
    while !all.is_empty() {
        if constraints.len() >= MAX_DESTINATION_CONSTRAINTS {
            return Err(Error::BadDestination("too many destination constraints"));
        }
        let mut one = Reader::new(all.string()?);
        let from = decode_hop(one.string()?)?;
        let to = decode_hop(one.string()?)?;
        if !one.string()?.is_empty() {
            return Err(Error::BadDestination("unsupported constraint extensions"));
        }
        one.finish()?;
        if from.hostname.is_none() != from.keys.is_empty() || from.user.is_some() {
            return Err(Error::BadDestination("inconsistent \"from\" specification"));
        }
        if to.hostname.is_none() || to.keys.is_empty() {
            return Err(Error::BadDestination("incomplete \"to\" specification"));
        }
        constraints.push(DestinationConstraint { from, to });
    }
    Ok(constraints)
}

/// The longest user name a destination constraint may hold.
pub const MAX_CONSTRAINT_USER: usize = 256;

fn decode_hop(bytes: &[u8]) -> Result<Hop> {
    let mut r = Reader::new(bytes);
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let user = non_empty(r.utf8()?);
    // ssh-agent.c (OpenSSH 9.8 on) refuses user names longer than this in a constraint.
    if user.as_ref().is_some_and(|u| u.len() > MAX_CONSTRAINT_USER) {
        return Err(Error::BadDestination("a user name longer than 256 bytes"));
    }
    let hostname = non_empty(r.utf8()?);
    if !r.string()?.is_empty() {
        return Err(Error::BadDestination("unsupported hop extensions"));
    }
    let mut keys = Vec::new();
    while !r.is_empty() {
        let blob = r.string()?.to_vec();
        let is_ca = r.u8()? != 0;
        keys.push(HopKey { blob, is_ca });
    }
    Ok(Hop {
        user,
        hostname,
        keys,
    })
}

/// Encodes constraints as `ssh-add -h` sends them (for tests and clients).
pub fn encode_destinations(w: &mut Writer, constraints: &[DestinationConstraint]) {
    let mut all = Writer::new();
    for c in constraints {
        let mut one = Writer::new();
        one.string(&encode_hop(&c.from))
            .string(&encode_hop(&c.to))
            .string(&[]);
        all.string(&one.into_vec());
    }
    w.string(&all.into_vec());
}

fn encode_hop(hop: &Hop) -> Vec<u8> {
    let mut w = Writer::new();
    w.string(hop.user.as_deref().unwrap_or("").as_bytes())
        .string(hop.hostname.as_deref().unwrap_or("").as_bytes())
        .string(&[]);
    for key in &hop.keys {
        w.string(&key.blob).u8(u8::from(key.is_ca));
    }
    w.into_vec()
}

/// SSH_MSG_USERAUTH_REQUEST (RFC 4252 section 7).
const USERAUTH_REQUEST: u8 = 50;

/// The parts of a public-key userauth request (RFC 4252 section 7, and OpenSSH's
/// `publickey-hostbound-v00@openssh.com`, which adds the server's host key) that a
/// destination-constrained signature is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserauthRequest {
    pub session_id: Vec<u8>,
    pub user: String,
    /// The host key the request names (hostbound requests only).
    pub host_key: Option<Vec<u8>>,
}

/// Reads `data` as the userauth request ssh-agent.c's `parse_userauth_request` accepts: for
/// `key_blob`, service `ssh-connection`, method `publickey` or the hostbound one, and nothing
/// after it. Anything else is not a userauth request.
pub fn parse_userauth_request(data: &[u8], key_blob: &[u8]) -> Result<UserauthRequest> {
    let bad = Error::BadDestination("not a public-key userauth request for this key");
    let mut r = Reader::new(data);
    let session_id = r.string()?.to_vec();
    if session_id.is_empty() || r.u8()? != USERAUTH_REQUEST {
        return Err(bad);
    }
    let user = r.utf8()?.to_owned();
    let service = r.utf8()?;
    let method = r.utf8()?;
    let sig_follows = r.u8()?;
    let algorithm = r.utf8()?;
    let key = r.string()?;
    // The agent holds RSA keys and certificates only: the algorithm must name an RSA
    // signature for the key's type.
    let rsa = crate::cert::userauth_algorithms(key_blob).contains(&algorithm);
    if service != "ssh-connection" || sig_follows != 1 || key != key_blob || !rsa {
        return Err(bad);
    }
    let host_key = match method {
        "publickey-hostbound-v00@openssh.com" => Some(r.string()?.to_vec()),
        "publickey" => None,
        _ => return Err(bad),
    };
    r.finish()?;
    Ok(UserauthRequest {
        session_id,
        user,
        host_key,
    })
}

#[cfg(test)]
#[path = "forwarding_tests.rs"]
mod tests;
