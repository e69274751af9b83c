//! The helper process (`mfa-agent --pkcs11-helper PROVIDER`, as OpenSSH's ssh-pkcs11-helper):
//! the one process that loads a provider's library. It reads [`HelperRequest`]s on stdin and
//! answers on stdout, one at a time, until stdin closes; a provider that crashes or hangs
//! takes only this process with it. It holds the logged-in sessions and the PIN (zeroized) so
//! a token unplugged and plugged back in is reopened by label at the next signature.

use std::io::Write;
use std::path::Path;

use cryptoki::session::Session;
use proto::pkcs11::{HelperRequest, HelperResponse, Pkcs11Cause, TokenKeyInfo};
use proto::wire::frame;
use zeroize::Zeroizing;

use super::choice::{TokenFacts, TokenFailure};
use super::library::{is_gone, rsa_keys, sign_with, token_error, token_gone, Library};
use super::load::{chosen, open_chosen};

/// One token this helper opened.
struct HeldToken {
    facts: TokenFacts,
    pin: Option<Zeroizing<String>>,
    session: Option<Session>,
}

/// What the helper keeps between requests.
struct Helper {
    provider: String,
    library: Result<Library, TokenFailure>,
    tokens: Vec<HeldToken>,
    /// Each loaded key: its token (an index into `tokens`) and `CKA_ID`.
    keys: Vec<(usize, Vec<u8>)>,
}

/// Serves the agent on stdin/stdout; returns when the agent closes the pipe.
pub fn run_helper(provider: &Path) -> crate::Result<()> {
    crate::sys::harden_process()?;
    let mut helper = Helper {
        provider: provider.display().to_string(),
        library: Library::open(provider),
        tokens: Vec::new(),
        keys: Vec::new(),
    };
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    loop {
        // The agent closed the pipe (or broke the framing): this helper is done either way.
        let Ok(body) = proto::client::read_frame(&mut input) else {
            return Ok(());
        };
        let response = match HelperRequest::decode(&body) {
            Ok(request) => helper.handle(request),
            Err(e) => HelperResponse::Failed {
                cause: Pkcs11Cause::TokenFailed,
                text: format!("bad request from the agent: {e}"),
            },
        };
        output
            .write_all(&frame(&response.encode()))
            .and_then(|()| output.flush())
            .map_err(crate::Error::io("answer the agent"))?;
    }
}

impl Helper {
    fn handle(&mut self, request: HelperRequest) -> HelperResponse {
        let result = match request {
            HelperRequest::Load {
                pin,
                tokens,
                filter,
            } => {
                let pin = pin.map(|p| Zeroizing::new(String::from_utf8_lossy(&p).into_owned()));
                self.load(pin, &tokens, filter.as_ref())
            }
            HelperRequest::Sign { key, data } => {
                self.sign(key, &data).map(HelperResponse::Signature)
            }
        };
        result.unwrap_or_else(|f| HelperResponse::Failed {
            cause: f.cause,
            text: f.text,
        })
    }

    fn load(
        &mut self,
        pin: Option<Zeroizing<String>>,
        wanted: &[String],
        filter: Option<&proto::message::KeyFilter>,
    ) -> Result<HelperResponse, TokenFailure> {
        let library = self.library.as_ref().map_err(Clone::clone)?;
        let (chosen, notes) = chosen(library, wanted, filter)?;
        for note in notes {
            eprintln!("mfa-agent pkcs11 helper: {}: {note}", self.provider);
        }
        let (opened, skipped) = open_chosen(library, chosen, pin.as_deref().map(String::as_str))?;
        let mut keys = Vec::new();
        for token in opened {
            let found =
                rsa_keys(&token.session, filter).map_err(|e| token_error(&token.facts.label, e))?;
            let index = self.tokens.len();
            for key in found {
                keys.push(TokenKeyInfo {
                    key: self.keys.len() as u32,
                    token: token.facts.label.clone(),
                    label: key.label,
                    id: key.id.clone(),
                    blob: proto::key::public_key_blob(&key.public),
                });
                self.keys.push((index, key.id));
            }
            self.tokens.push(HeldToken {
                pin: token.facts.login_required.then(|| pin.clone()).flatten(),
                facts: token.facts,
                session: Some(token.session),
            });
        }
        if keys.is_empty() {
            let which = filter.map_or_else(String::new, |f| {
                format!(" with {}", super::choice::describe_filter(f))
            });
            return Err(TokenFailure::new(
                Pkcs11Cause::NoMatchingKey,
                format!("no RSA key{which} on the tokens of {}", self.provider),
            ));
        }
        Ok(HelperResponse::Loaded { keys, skipped })
    }

    /// Signs with a loaded key, reopening its token once if it went away and came back.
    fn sign(&mut self, key: u32, data: &[u8]) -> Result<Vec<u8>, TokenFailure> {
        let (index, id) = self
            .keys
            .get(key as usize)
            .cloned()
            .ok_or_else(|| TokenFailure::new(Pkcs11Cause::TokenFailed, "no such key"))?;
        let library = self.library.as_ref().map_err(Clone::clone)?;
        let token = self
            .tokens
            .get_mut(index)
            .ok_or_else(|| TokenFailure::new(Pkcs11Cause::TokenFailed, "no such token"))?;
        if let Some(session) = &token.session {
            match sign_with(session, &id, data) {
                Ok(signature) => return Ok(signature),
                Err(e) if !is_gone(&e) => return Err(token_error(&token.facts.label, e)),
                Err(_) => token.session = None,
            }
        }
        let label = token.facts.label.clone();
        let (slot, facts) = library.find(&label).ok_or_else(|| token_gone(&label))?;
        let pin = token.pin.as_deref().map(String::as_str);
        let session = library.open_session(slot, &facts, pin).map_err(|f| {
            if f.cause == Pkcs11Cause::TokenFailed {
                token_gone(&label)
            } else {
                f
            }
        })?;
        let signature = sign_with(&session, &id, data).map_err(|e| token_error(&label, e))?;
        token.session = Some(session);
        Ok(signature)
    }
}
