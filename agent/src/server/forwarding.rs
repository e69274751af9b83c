//! Where and what for a key may be used ([`UsePolicy`]) and the decision for one use over one
//! connection ([`decide`]): the key's purpose (`token`, `ssh`), `mfa-add --forwarded
//! allow|confirm|deny`, `-c`, and OpenSSH's destination constraints (`ssh-add -h`) judged as
//! ssh-agent.c's `identity_permitted` judges them.
//!
//! A pure function of the key's policy, the connection's [`Route`] and the request: the agent
//! only carries the verdict out (asks, signs or refuses).

use proto::cert::{is_certificate, Certificate, HOST_CERT};
use proto::forwarding::{parse_userauth_request, DestinationConstraint, ForwardedPolicy, Hop};
use proto::purpose::Purpose;

use super::refusal::Refusal;
use super::route::Route;
use crate::glob::glob;

/// A key's limits on where it is used, set when it is added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UsePolicy {
    /// `mfa-add --forwarded`.
    pub forwarded: ForwardedPolicy,
    /// `ssh-add -h`; empty means unrestricted.
    pub destinations: Vec<DestinationConstraint>,
    /// What the key may sign (`purpose@cloudhsm-mfa`; without it, SSH only).
    pub purpose: Purpose,
    /// `mfa-add --confirm-for`: how long a yes stands for the same kind of local request.
    pub confirm_for: Option<u32>,
}

/// What the key is asked to do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Use<'a> {
    /// Sign CloudHSM tokens (our extension).
    Token,
    /// An SSH sign request over `data` with the key whose blob is `key_blob`.
    Ssh { data: &'a [u8], key_blob: &'a [u8] },
    /// Be listed, removed or replaced.
    See,
}

/// The decision for one use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    /// Ask the user first; the line says where the request comes from.
    Ask(String),
    /// Refuse, for this reason (logged, never sent).
    Refuse(Refusal),
}

/// Decides one use of a key (with `confirm` from `-c`) over a connection's route.
pub(crate) fn decide(policy: &UsePolicy, confirm: bool, route: &Route, usage: Use<'_>) -> Verdict {
    match usage {
        Use::Ssh { .. } if !policy.purpose.ssh => {
            return Verdict::Refuse(Refusal::Purpose(
                "the key is for CloudHSM tokens only (purpose token): it signs no SSH request"
                    .to_owned(),
            ))
        }
        Use::Token if !policy.purpose.token => {
            return Verdict::Refuse(Refusal::Purpose(
                "the key is an SSH key (purpose ssh: ssh-add adds keys so): it signs no CloudHSM \
                 token"
                    .to_owned(),
            ))
        }
        _ => {}
    }
    let host = match destination_host(&policy.destinations, route, usage) {
        Ok(host) => host,
        Err(why) => {
            return Verdict::Refuse(Refusal::Forwarding(format!(
                "destination constraint: {why}"
            )))
        }
    };
    if matches!(usage, Use::See) {
        return Verdict::Allow;
    }
    let mut line = format!("Through {}", route_words(route));
    if let Some(host) = host {
        line.push_str(&format!(", to listed host {host}"));
    }
    line.push('.');
    let forwarded = route.is_forwarded();
    match policy.forwarded {
        ForwardedPolicy::Deny if forwarded => Verdict::Refuse(Refusal::Forwarding(format!(
            "the key is --forwarded deny and the request came through {}",
            route_words(route)
        ))),
        ForwardedPolicy::Confirm if forwarded => Verdict::Ask(line),
        _ if confirm => Verdict::Ask(line),
        _ => Verdict::Allow,
    }
}

/// Whether the key may sign CloudHSM tokens for this connection (perhaps after a
/// confirmation): what `key-purposes@cloudhsm-mfa` lists beside the keys listed as
/// identities, so mfa-sign and mfa-login find a token key on a hop where OpenSSH's rule
/// hides it from `ssh-add -l`.
pub(crate) fn token_usable(policy: &UsePolicy, route: &Route) -> bool {
    !matches!(decide(policy, false, route, Use::Token), Verdict::Refuse(_))
}

/// Whether a connection may make the agent load a PKCS#11 provider (`ssh-add -s`): not once
/// ssh bound it to a session, so a far host cannot make this machine load a library (OpenSSH
/// refuses it too unless `ssh-agent -Oallow-remote-pkcs11`; CVE-2023-38408).
pub(crate) fn may_load_provider(route: &Route) -> Result<(), String> {
    if route.bind_attempted() {
        return Err(format!(
            "a PKCS#11 provider asked for through {}",
            route_words(route)
        ));
    }
    Ok(())
}

/// How the route reads in a question or refusal.
fn route_words(route: &Route) -> String {
    match route.hops().last() {
        None if route.unbound_ssh() => {
            "ssh without a session binding (ssh -R or another forwarding; host unknown)".to_owned()
        }
        None if route.is_forwarded() => "a forwarded connection (unverified host)".to_owned(),
        None => "a local connection".to_owned(),
        Some(last) if route.is_forwarded() => format!(
            "an agent forwarded to host key {} ({} hop{})",
            last.fingerprint,
            route.hops().len(),
            if route.hops().len() == 1 { "" } else { "s" }
        ),
        Some(last) => format!("ssh authenticating to host key {}", last.fingerprint),
    }
}

/// Checks the destination constraints; Ok carries the matched host name, if any.
fn destination_host(
    destinations: &[DestinationConstraint],
    route: &Route,
    usage: Use<'_>,
) -> Result<Option<String>, String> {
    if destinations.is_empty() {
        return Ok(None);
    }
    match usage {
        // Listed (and removable) only where OpenSSH lists it: where it may be used onward.
        // A key that may sign tokens at the far end of the route but not be used onward is
        // not listed there; our key-purposes extension names it for our clients
        // (`token_usable`).
        Use::See => identity_permitted(destinations, route, None),
        Use::Token => token_permitted(destinations, route),
        Use::Ssh { data, key_blob } => {
            let last = route
                .hops()
                .last()
                .ok_or("an SSH signature on a connection ssh did not bind")?;
            let request = parse_userauth_request(data, key_blob)
                .map_err(|_| "an SSH signature that is not a userauth request")?;
            let host = identity_permitted(destinations, route, Some(&request.user))?;
            if request.session_id != last.session_id {
                return Err("the userauth request is for another session".into());
            }
            if route.hops().len() > 1 && request.host_key.is_none() {
                return Err("no host key in the userauth request of a forwarded connection".into());
            }
            if request.host_key.is_some_and(|k| k != last.host_key) {
                return Err("the userauth request names another host key".into());
            }
            Ok(host)
        }
    }
}

/// ssh-agent.c's `identity_permitted`: every hop of the route must be allowed from the one
/// before it (the first from the origin); `user`, given for sign requests, is matched at the
/// last hop, which must then be an authentication binding. Without `user` (listing), a route
/// ending in a forwarding also needs a constraint onward from its last host.
fn identity_permitted(
    destinations: &[DestinationConstraint],
    route: &Route,
    user: Option<&str>,
) -> Result<Option<String>, String> {
    let hops = route.hops();
    let Some(last) = hops.last() else {
        return if route.bind_attempted() {
            Err("a session binding failed on this connection".into())
        } else {
            Ok(None) // local use
        };
    };
    let mut from: Option<&[u8]> = None;
    let mut host = None;
    for (i, hop) in hops.iter().enumerate() {
        let is_last = i + 1 == hops.len();
        if is_last && hop.forwarded && user.is_some() {
            return Err("a signature asked for on a forwarding hop".into());
        }
        if !is_last && !hop.forwarded {
            return Err("forwarding through an authentication binding".into());
        }
        let test_user = if is_last { user } else { None };
        host = permitted_by(destinations, from, Some(&hop.host_key), test_user)
            .ok_or_else(|| format!("host key {} is not a permitted hop", hop.fingerprint))?;
        from = Some(&hop.host_key);
    }
    if last.forwarded
        && user.is_none()
        && permitted_by(destinations, Some(&last.host_key), None, None).is_none()
    {
        return Err(format!(
            "permitted at host key {} but not beyond it",
            last.fingerprint
        ));
    }
    Ok(host)
}

/// Token signing through a route: the CLI runs on the host at the far end of the last
/// forwarding, so every hop must be a forwarding allowed from the one before it. No user is
/// checked (a token names none). Local use is allowed, as listing is.
fn token_permitted(
    destinations: &[DestinationConstraint],
    route: &Route,
) -> Result<Option<String>, String> {
    if route.is_forwarded() && route.hops().is_empty() || route.hops().iter().any(|h| !h.forwarded)
    {
        return Err("token signing needs a verified forwarding on every hop".into());
    }
    let mut from: Option<&[u8]> = None;
    let mut host = None;
    for hop in route.hops() {
        host = permitted_by(destinations, from, Some(&hop.host_key), None)
            .ok_or_else(|| format!("host key {} is not a permitted hop", hop.fingerprint))?;
        from = Some(&hop.host_key);
    }
    Ok(host)
}

/// ssh-agent.c's `permitted_by_dest_constraints`: the first constraint from `from` (None: the
/// origin) to `to` (None: anywhere) for `user`; Some(its host name) when one matches.
fn permitted_by(
    destinations: &[DestinationConstraint],
    from: Option<&[u8]>,
    to: Option<&[u8]>,
    user: Option<&str>,
) -> Option<Option<String>> {
    destinations.iter().find_map(|d| {
        let from_ok = match from {
            None => d.from.hostname.is_none() && d.from.keys.is_empty(),
            Some(key) => matches_hop(key, &d.from),
        };
        let to_ok = to.is_none_or(|key| matches_hop(key, &d.to));
        let user_ok = match (&d.to.user, user) {
            (Some(pattern), Some(user)) => glob(pattern.as_bytes(), user.as_bytes()),
            _ => true,
        };
        (from_ok && to_ok && user_ok).then(|| d.to.hostname.clone())
    })
}

/// ssh-agent.c's `match_key_hop`: a plain host key matches a plain key listed for the hop; a
/// host certificate (verified with the binding) matches a CA key listed for it
/// (`@cert-authority` in the known_hosts `ssh-add -h` read) when it is valid for the hop's
/// host name (`sshkey_cert_check_host`; the origin is named `(ORIGIN)`, as there).
fn matches_hop(key: &[u8], hop: &Hop) -> bool {
    if !is_certificate(key) {
        return hop.keys.iter().any(|k| !k.is_ca && k.blob == key);
    }
    let Ok(cert) = Certificate::parse(key) else {
        return false;
    };
    let host = hop.hostname.as_deref().unwrap_or("(ORIGIN)");
    hop.keys
        .iter()
        .any(|k| k.is_ca && k.blob == cert.signature_key)
        && host_certificate_valid(&cert, host, crate::log::unix_now())
}

/// A host certificate valid now for `host`: a host certificate, within its validity period,
/// with a principal (a pattern) matching `host`, no critical options, and a CA signature of
/// an algorithm OpenSSH allows for CAs (not SHA-1 `ssh-rsa`, not `ssh-dss`).
fn host_certificate_valid(cert: &Certificate<'_>, host: &str, now: u64) -> bool {
    cert.cert_type == HOST_CERT
        && cert.valid_after <= now
        && now < cert.valid_before
        && cert
            .principals
            .iter()
            .any(|p| glob(p.as_bytes(), host.as_bytes()))
        && cert.critical_options.is_empty()
        && cert
            .signature_algorithm()
            .is_ok_and(|a| a != "ssh-rsa" && a != "ssh-dss")
}

#[cfg(test)]
#[path = "forwarding_tests.rs"]
mod tests;
