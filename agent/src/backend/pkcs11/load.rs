//! A load of a provider's keys over a [`Library`]: the tokens chosen before any PIN (mfa-add
//! names them in its prompt), then one login per chosen token that needs it, never two.

use cryptoki::session::Session;
use cryptoki::slot::Slot;
use proto::message::KeyFilter;
use proto::pkcs11::SkippedToken;

use super::choice::{choose_tokens, settle_logins, TokenFacts, TokenFailure};
use super::library::{Library, Tokens};

/// A chosen token with its open (and, when it needs one, logged-in) session.
pub struct OpenToken {
    pub facts: TokenFacts,
    pub session: Session,
}

/// The tokens a load of `wanted` (all when empty) and `filter` uses, and notes on slots
/// skipped because their token info cannot be read.
pub fn chosen(
    library: &Library,
    wanted: &[String],
    filter: Option<&KeyFilter>,
) -> Result<Tokens, TokenFailure> {
    let (tokens, notes) = library.tokens()?;
    let chosen = choose_tokens(&tokens, wanted, filter, |slot| {
        filter.is_some_and(|f| library.has_public_match(slot, f))
    })?;
    Ok((chosen, notes))
}

/// Opens each chosen token, logging in with `pin` where needed: once each. Tokens whose
/// login failed are skipped when another opened.
pub fn open_chosen(
    library: &Library,
    chosen: Vec<(Slot, TokenFacts)>,
    pin: Option<&str>,
) -> Result<(Vec<OpenToken>, Vec<SkippedToken>), TokenFailure> {
    let results = chosen
        .into_iter()
        .map(|(slot, facts)| {
            let opened = library
                .open_session(slot, &facts, pin)
                .map(|session| OpenToken {
                    facts: facts.clone(),
                    session,
                });
            (facts.label, opened)
        })
        .collect();
    settle_logins(results)
}
