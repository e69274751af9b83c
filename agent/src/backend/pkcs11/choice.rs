//! The rules of a PKCS#11 load, as pure functions with a test each: which slots' tokens can be
//! used at all (one whose info does not parse is skipped, not the whole library), which tokens
//! a load uses (`--token`, `--label`/`--id` on their public objects), what becomes of logins
//! that failed, and what `--id` matches.

use proto::message::KeyFilter;
use proto::pkcs11::{hex, Pkcs11Cause, SkippedToken};

/// Why a provider or one of its tokens failed: the cause for clients' hints, words for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct TokenFailure {
    pub cause: Pkcs11Cause,
    pub text: String,
}

impl TokenFailure {
    pub fn new(cause: Pkcs11Cause, text: impl Into<String>) -> Self {
        TokenFailure {
            cause,
            text: text.into(),
        }
    }
}

/// What a token says about itself, as far as the choice needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    /// `CK_TOKEN_INFO.label`, its padding trimmed.
    pub label: String,
    /// `CKF_LOGIN_REQUIRED`: without it the token gets no PIN.
    pub login_required: bool,
    pub initialized: bool,
}

/// The slots whose token can be used, and a note for each one skipped. `slots` pairs a slot
/// with its token's facts or the error reading them: opencryptoki fills `utcTime` with a value
/// cryptoki cannot parse, which must cost that token only.
pub fn usable_tokens<S: Copy + std::fmt::Display>(
    slots: Vec<(S, Result<TokenFacts, String>)>,
) -> (Vec<(S, TokenFacts)>, Vec<String>) {
    let mut usable = Vec::new();
    let mut notes = Vec::new();
    for (slot, facts) in slots {
        match facts {
            Ok(facts) if facts.initialized => usable.push((slot, facts)),
            Ok(_) => {}
            Err(why) => notes.push(format!(
                "skipped the token in slot {slot}: its token info cannot be read ({why})"
            )),
        }
    }
    (usable, notes)
}

/// The tokens a load uses: those `wanted` names (all when empty), and with a key filter only
/// those whose public objects match it (`has_match`, asked of the remaining ones only), so
/// no PIN goes to a token that holds no wanted key.
pub fn choose_tokens<S: Copy>(
    tokens: &[(S, TokenFacts)],
    wanted: &[String],
    filter: Option<&KeyFilter>,
    mut has_match: impl FnMut(S) -> bool,
) -> Result<Vec<(S, TokenFacts)>, TokenFailure> {
    let labels = || {
        let all: Vec<&str> = tokens.iter().map(|(_, t)| t.label.as_str()).collect();
        if all.is_empty() {
            "it has none".to_owned()
        } else {
            format!("it has {}", all.join(", "))
        }
    };
    let named: Vec<(S, TokenFacts)> = tokens
        .iter()
        .filter(|(_, t)| wanted.is_empty() || wanted.contains(&t.label))
        .cloned()
        .collect();
    if named.is_empty() {
        let text = if wanted.is_empty() {
            "no initialised token".to_owned()
        } else {
            format!("no token labelled {} ({})", wanted.join(" or "), labels())
        };
        return Err(TokenFailure::new(Pkcs11Cause::NoToken, text));
    }
    let Some(filter) = filter else {
        return Ok(named);
    };
    let matching: Vec<(S, TokenFacts)> = named
        .into_iter()
        .filter(|(slot, _)| has_match(*slot))
        .collect();
    if matching.is_empty() {
        return Err(TokenFailure::new(
            Pkcs11Cause::NoMatchingKey,
            format!("no RSA key with {} on its tokens", describe_filter(filter)),
        ));
    }
    Ok(matching)
}

/// The PIN prompt for the chosen `tokens`, naming those that need a login; `None` when none
/// does (`CKF_LOGIN_REQUIRED` clear): then no PIN is asked or sent.
pub fn pin_prompt<S>(tokens: &[(S, TokenFacts)]) -> Option<String> {
    match needing_login(tokens).as_slice() {
        [] => None,
        [one] => Some(format!("Enter PIN for token {one}: ")),
        many => Some(format!("Enter PIN for tokens {}: ", many.join(", "))),
    }
}

/// What a PIN costs when several chosen `tokens` need a login: one try on each, and each that
/// refuses it counts a failed login (a TPM counts those of all its tokens in one lockout).
/// `None` for one token or none.
pub fn several_logins_note<S>(tokens: &[(S, TokenFacts)]) -> Option<String> {
    let needing = needing_login(tokens);
    (needing.len() > 1).then(|| {
        format!(
            "the PIN goes to {} tokens ({}), once each, and each that refuses it counts a failed \
             login (on a TPM against one lockout for all): --token LABEL sends it to one",
            needing.len(),
            needing.join(", ")
        )
    })
}

/// The labels of the `tokens` that need a login (`CKF_LOGIN_REQUIRED`).
fn needing_login<S>(tokens: &[(S, TokenFacts)]) -> Vec<&str> {
    tokens
        .iter()
        .filter(|(_, t)| t.login_required)
        .map(|(_, t)| t.label.as_str())
        .collect()
}

/// `label officer2` or `id 01`, as the messages name a filter.
pub fn describe_filter(filter: &KeyFilter) -> String {
    match filter {
        KeyFilter::Label(label) => format!("label {label:?}"),
        KeyFilter::Id(id) => format!("id {}", hex(id)),
    }
}

/// The outcome of one login per chosen token: the tokens that opened, and those skipped
/// because another one opened. When none opened, the first failure is the load's.
pub fn settle_logins<T>(
    results: Vec<(String, Result<T, TokenFailure>)>,
) -> Result<(Vec<T>, Vec<SkippedToken>), TokenFailure> {
    let mut opened = Vec::new();
    let mut failed = Vec::new();
    for (token, result) in results {
        match result {
            Ok(open) => opened.push(open),
            Err(failure) => failed.push((token, failure)),
        }
    }
    if opened.is_empty() {
        if let Some((_, failure)) = failed.into_iter().next() {
            return Err(failure);
        }
        return Err(TokenFailure::new(Pkcs11Cause::NoToken, "no token to open"));
    }
    let skipped = failed
        .into_iter()
        .map(|(token, failure)| SkippedToken {
            token,
            cause: failure.cause,
            text: failure.text,
        })
        .collect();
    Ok((opened, skipped))
}

/// True when a key with `label` and `id` is the one `filter` names. `--id 01` matches the
/// bytes 0x01 and also the ASCII bytes "01", as tools that store the id as text make it.
pub fn filter_matches(filter: &KeyFilter, label: &str, id: &[u8]) -> bool {
    match filter {
        KeyFilter::Label(wanted) => label == wanted,
        KeyFilter::Id(wanted) => {
            id == wanted.as_slice()
                || id == hex(wanted).as_bytes()
                || id == hex(wanted).to_uppercase().as_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(label: &str, login: bool) -> TokenFacts {
        TokenFacts {
            label: label.into(),
            login_required: login,
            initialized: true,
        }
    }

    #[test]
    fn a_token_whose_info_does_not_parse_is_skipped_not_the_library() {
        let slots = vec![
            (1u64, Ok(token("first", true))),
            (
                2,
                Err("Error parsing string as integer: utcTime".to_owned()),
            ),
            (
                3,
                Ok(TokenFacts {
                    initialized: false,
                    ..token("blank", true)
                }),
            ),
            (4, Ok(token("second", false))),
        ];
        let (usable, notes) = usable_tokens(slots);
        let labels: Vec<&str> = usable.iter().map(|(_, t)| t.label.as_str()).collect();
        assert_eq!(labels, ["first", "second"]);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("slot 2") && notes[0].contains("utcTime"),
            "{notes:?}"
        );
    }

    #[test]
    fn token_choice_follows_token_then_filter_on_public_objects() {
        let tokens = vec![(1u64, token("officer", true)), (2, token("backup", true))];
        let all = choose_tokens(&tokens, &[], None, |_| unreachable!()).expect("all");
        assert_eq!(all.len(), 2);
        let one = choose_tokens(&tokens, &["backup".into()], None, |_| true).expect("one");
        assert_eq!(one, vec![(2, token("backup", true))]);
        let missing = choose_tokens(&tokens, &["nope".into()], None, |_| true).expect_err("no");
        assert_eq!(missing.cause, Pkcs11Cause::NoToken);
        assert!(missing.text.contains("officer, backup"), "{}", missing.text);
        // With a filter, only tokens whose public objects match are chosen (and asked).
        let filter = KeyFilter::Label("officer2".into());
        let mut asked = Vec::new();
        let matching = choose_tokens(&tokens, &[], Some(&filter), |slot| {
            asked.push(slot);
            slot == 1
        })
        .expect("matching");
        assert_eq!(matching, vec![(1, token("officer", true))]);
        assert_eq!(asked, [1, 2]);
        let none = choose_tokens(&tokens, &["backup".into()], Some(&filter), |s| s == 1)
            .expect_err("no key on backup");
        assert_eq!(none.cause, Pkcs11Cause::NoMatchingKey);
        let empty: Vec<(u64, TokenFacts)> = Vec::new();
        assert_eq!(
            choose_tokens(&empty, &[], None, |_| true)
                .expect_err("none")
                .cause,
            Pkcs11Cause::NoToken
        );
    }

    #[test]
    fn the_pin_prompt_names_the_tokens_that_need_one_and_none_asks_nothing() {
        let free = (1u64, token("free", false));
        assert_eq!(pin_prompt(std::slice::from_ref(&free)), None);
        assert_eq!(
            pin_prompt(&[free.clone(), (2, token("officer", true))]).as_deref(),
            Some("Enter PIN for token officer: ")
        );
        assert_eq!(
            pin_prompt(&[
                (2, token("officer", true)),
                free,
                (3, token("backup", true))
            ])
            .as_deref(),
            Some("Enter PIN for tokens officer, backup: ")
        );
    }

    #[test]
    fn several_tokens_needing_a_login_are_named_with_what_a_wrong_pin_costs() {
        let free = (1u64, token("free", false));
        let officer = (2u64, token("officer", true));
        assert_eq!(several_logins_note(&[free.clone(), officer.clone()]), None);
        let note = several_logins_note(&[officer, free, (3, token("backup", true))])
            .expect("two tokens need a login");
        assert!(
            note.starts_with("the PIN goes to 2 tokens (officer, backup), once each"),
            "{note}"
        );
        assert!(note.ends_with("--token LABEL sends it to one"), "{note}");
    }

    #[test]
    fn failed_logins_are_skipped_when_another_token_opened() {
        let wrong = || TokenFailure::new(Pkcs11Cause::PinIncorrect, "wrong PIN for backup");
        let (opened, skipped) = settle_logins(vec![
            ("officer".into(), Ok(1)),
            ("backup".into(), Err(wrong())),
        ])
        .expect("one opened");
        assert_eq!(opened, [1]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].token, "backup");
        assert_eq!(skipped[0].cause, Pkcs11Cause::PinIncorrect);
        let locked = TokenFailure::new(Pkcs11Cause::PinLocked, "locked");
        let none: Result<(Vec<u8>, _), _> = settle_logins(vec![
            ("backup".into(), Err(wrong())),
            ("officer".into(), Err(locked)),
        ]);
        assert_eq!(none.expect_err("none opened"), wrong());
    }

    #[test]
    fn an_id_matches_its_bytes_or_its_hex_text() {
        let id = KeyFilter::Id(vec![0x01]);
        assert!(filter_matches(&id, "", &[0x01]));
        assert!(filter_matches(&id, "", b"01"));
        assert!(!filter_matches(&id, "", &[0x02]));
        assert!(!filter_matches(&id, "", b"1"));
        let ab = KeyFilter::Id(vec![0xab]);
        assert!(filter_matches(&ab, "", b"AB") && filter_matches(&ab, "", b"ab"));
        let label = KeyFilter::Label("officer2".into());
        assert!(filter_matches(&label, "officer2", &[1]));
        assert!(!filter_matches(&label, "officer", &[1]));
    }
}
