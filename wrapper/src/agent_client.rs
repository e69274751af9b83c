//! The client side of mfa-agent: connect to `$MFA_AUTH_SOCK`, list the RSA keys, choose one,
//! and sign tokens through the token-sign extension.
//!
//! Each operation opens its own connection, so an agent restarted between two logins is found
//! again and an agent that died mid-login is reported at the moment it is needed.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::key::{fingerprint, parse_public_key_blob};
use proto::message::{Request, Response, TokenSignRequest};
use proto::signing::{verify_token, Token};
use rsa::RsaPublicKey;

use crate::{Error, Result};

/// The environment variable naming the agent's socket.
pub const SOCKET_VARIABLE: &str = "MFA_AUTH_SOCK";

/// How long an agent may take to answer when `--timeout` does not say. Generous, because a
/// key added with `mfa-add -c` waits for the user to confirm each use.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A running agent, reached through its socket.
#[derive(Debug, Clone)]
pub struct AgentClient {
    socket: PathBuf,
    timeout: Duration,
}

/// An RSA key the agent holds.
#[derive(Debug, Clone)]
pub struct AgentKey {
    pub blob: Vec<u8>,
    pub comment: String,
    pub fingerprint: String,
    pub public: RsaPublicKey,
}

impl AgentClient {
    /// The agent named by `$MFA_AUTH_SOCK`.
    pub fn from_env(timeout: Duration) -> Result<Self> {
        let socket = std::env::var_os(SOCKET_VARIABLE)
            .filter(|s| !s.is_empty())
            .ok_or(Error::NoAgentVariable)?;
        Ok(Self::new(Path::new(&socket), timeout))
    }

    pub fn new(socket: &Path, timeout: Duration) -> Self {
        AgentClient {
            socket: socket.to_path_buf(),
            timeout,
        }
    }

    fn call(&self, request: &Request) -> Result<Response> {
        let no_agent = |source| Error::NoAgent {
            path: self.socket.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.socket).map_err(no_agent)?;
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(no_agent)?;
        proto::client::call(&mut stream, request).map_err(Error::AgentIo)
    }

    /// The RSA keys the agent holds, in its order. Keys of other types are skipped.
    pub fn keys(&self) -> Result<Vec<AgentKey>> {
        match self.call(&Request::RequestIdentities)? {
            Response::Identities(identities) => Ok(identities
                .into_iter()
                .filter_map(|id| {
                    let public = parse_public_key_blob(&id.key_blob).ok()?;
                    Some(AgentKey {
                        fingerprint: fingerprint(&id.key_blob),
                        blob: id.key_blob,
                        comment: id.comment,
                        public,
                    })
                })
                .collect()),
            _ => Err(Error::AgentRefused),
        }
    }

    /// The key to sign with: the one `selector` names, else the only one.
    pub fn choose_key(&self, selector: Option<&str>) -> Result<AgentKey> {
        let keys = self.keys()?;
        // A locked agent lists no keys and fails every request but unlock, `query` included.
        if keys.is_empty()
            && matches!(
                self.call(&Request::Query),
                Ok(Response::Failure | Response::ExtensionFailure)
            )
        {
            return Err(Error::Locked);
        }
        choose(keys, selector)
    }

    /// Signs the tokens with `key`, one signature per token, each checked against the key.
    pub fn sign_tokens(&self, key: &AgentKey, tokens: &[Token]) -> Result<Vec<Vec<u8>>> {
        let request = Request::TokenSign(TokenSignRequest {
            key_blob: key.blob.clone(),
            tokens: tokens.to_vec(),
        });
        let signatures = match self.call(&request)? {
            Response::TokenSign(signatures) if signatures.len() == tokens.len() => signatures,
            _ => return Err(Error::AgentRefused),
        };
        for (token, signature) in tokens.iter().zip(&signatures) {
            verify_token(&key.public, token, signature).map_err(|_| Error::BadSignature)?;
        }
        Ok(signatures)
    }
}

/// Picks a key: by fingerprint (`SHA256:...`, or a prefix of it, with or without `SHA256:`)
/// or by exact comment; with no selector, the only key.
pub fn choose(keys: Vec<AgentKey>, selector: Option<&str>) -> Result<AgentKey> {
    let Some(selector) = selector else {
        return match keys.len() {
            0 => Err(Error::NoKeys),
            1 => Ok(keys.into_iter().next().ok_or(Error::NoKeys)?),
            count => Err(Error::SeveralKeys {
                count,
                fingerprints: keys
                    .iter()
                    .map(|k| format!("{} {}", k.fingerprint, k.comment))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        };
    };
    if keys.is_empty() {
        return Err(Error::NoKeys);
    }
    let wanted = if selector.starts_with("SHA256:") {
        selector.to_owned()
    } else {
        format!("SHA256:{selector}")
    };
    let mut matching: Vec<AgentKey> = keys
        .into_iter()
        .filter(|k| {
            k.comment == selector || (wanted.len() > 7 && k.fingerprint.starts_with(&wanted))
        })
        .collect();
    // A full fingerprint or an exact comment wins over prefixes of other keys.
    if matching.len() > 1 {
        let exact: Vec<AgentKey> = matching
            .iter()
            .filter(|k| k.fingerprint == wanted || k.comment == selector)
            .cloned()
            .collect();
        if exact.len() == 1 {
            matching = exact;
        }
    }
    match matching.len() {
        0 => Err(Error::NoSuchKey(selector.to_owned())),
        1 => Ok(matching.remove(0)),
        _ => Err(Error::AmbiguousKey(selector.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::BigUint;

    fn key(fp: &str, comment: &str) -> AgentKey {
        AgentKey {
            blob: vec![],
            comment: comment.into(),
            fingerprint: fp.into(),
            public: RsaPublicKey::new_unchecked(BigUint::from(3u8), BigUint::from(3u8)),
        }
    }

    #[test]
    fn the_only_key_is_chosen_and_several_need_a_selector() {
        assert!(matches!(choose(vec![], None), Err(Error::NoKeys)));
        let one = choose(vec![key("SHA256:abc", "a")], None).expect("one");
        assert_eq!(one.comment, "a");
        let two = || vec![key("SHA256:abc", "a"), key("SHA256:abd", "b")];
        // Each key is named with its comment too, which --key also takes.
        assert!(matches!(
            choose(two(), None),
            Err(Error::SeveralKeys { count: 2, fingerprints }) if fingerprints == "SHA256:abc a, SHA256:abd b"
        ));
        assert_eq!(
            choose(two(), Some("SHA256:abd")).expect("full").comment,
            "b"
        );
        assert_eq!(
            choose(two(), Some("abc")).expect("bare prefix").comment,
            "a"
        );
        assert_eq!(choose(two(), Some("b")).expect("comment").comment, "b");
        assert!(matches!(
            choose(two(), Some("SHA256:ab")),
            Err(Error::AmbiguousKey(_))
        ));
        assert!(matches!(
            choose(two(), Some("SHA256:x")),
            Err(Error::NoSuchKey(_))
        ));
    }
}
