//! mfa-add's PKCS#11 side (`-s`, `-e`, as ssh-add's). mfa-add reads the provider's tokens
//! itself first: which tokens `--token` and `--label`/`--id` choose (by their public objects,
//! before any PIN), whether any needs a login (no PIN asked otherwise), their labels for the
//! prompt; then one login per chosen token, so a wrong PIN is one clear error here, tried
//! once, and never reaches the agent; then the agent is asked for exactly the tokens that
//! opened, and says what it loaded or why not (`card-loaded@`, `why@cloudhsm-mfa`).

use std::path::{Path, PathBuf};

use client::Connection;
use proto::message::{Constraint, KeyFilter, Request, Response};
use proto::pkcs11::Pkcs11Cause;
use zeroize::Zeroizing;

use super::PassphraseSource;
use crate::backend::pkcs11::{chosen, open_chosen, Library, TokenFailure};
use crate::{Error, Result};

/// `mfa-add -s PROVIDER` and its options.
pub(super) struct ProviderLoad<'a> {
    pub provider: &'a Path,
    pub pin_file: Option<&'a Path>,
    pub constraints: &'a [Constraint],
    pub key: Option<KeyFilter>,
    /// `--token LABEL`.
    pub token: Option<String>,
    /// The agent is not mfa-agent (`--force`): it takes no constraint of ours.
    pub plain: bool,
}

/// A failure mfa-add found itself, with the hint for its cause.
fn local(failure: TokenFailure, provider: &Path) -> Error {
    Error::Pkcs11 {
        hint: client::pkcs11_hint::hint(failure.cause, &provider.display().to_string(), None),
        text: failure.text,
    }
}

/// `mfa-add -s PROVIDER`: load the chosen tokens' RSA keys into the agent.
pub(super) fn add_provider(agent: &mut Connection, load: &ProviderLoad<'_>) -> Result<()> {
    let real = real_path(load.provider)?;
    let wanted: Vec<String> = load.token.iter().cloned().collect();
    let library = Library::open(&real).map_err(|f| local(f, &real))?;
    let (tokens, notes) =
        chosen(&library, &wanted, load.key.as_ref()).map_err(|f| local(f, &real))?;
    for note in notes {
        eprintln!("Note: {note}");
    }
    let needing: Vec<&str> = tokens
        .iter()
        .filter(|(_, t)| t.login_required)
        .map(|(_, t)| t.label.as_str())
        .collect();
    let pin = if needing.is_empty() {
        None
    } else {
        Some(read_pin(load.pin_file, &needing)?)
    };
    // The same logins the agent will make: a wrong PIN stops here, counted once by the token.
    let (opened, skipped) = open_chosen(&library, tokens, pin.as_deref().map(String::as_str))
        .map_err(|f| local(f, &real))?;
    let labels: Vec<String> = opened.iter().map(|t| t.facts.label.clone()).collect();
    // Sessions closed and the library finalised before the agent's helper opens it.
    drop(opened);
    drop(library);
    for skip in &skipped {
        eprintln!("Skipped token {}: {}", skip.token, skip.text);
    }
    let request = Request::AddSmartcardKey {
        provider: real.to_string_lossy().into_owned(),
        pin: Zeroizing::new(
            pin.as_ref()
                .map_or_else(Vec::new, |p| p.as_bytes().to_vec()),
        ),
        constraints: load.constraints.to_vec(),
        key: load.key.clone().filter(|_| !load.plain),
        tokens: if load.plain { Vec::new() } else { labels },
    };
    if agent.call(&request)? != Response::Success {
        return Err(agent_refused(agent, &real));
    }
    match agent.card_loaded() {
        Some((keys, skipped)) => {
            for skip in skipped {
                eprintln!("Skipped token {skip}");
            }
            eprintln!(
                "Card added: {} ({}: {})",
                real.display(),
                client::report::count(keys.len(), "key"),
                keys.join(", ")
            );
        }
        None => eprintln!("Card added: {}", real.display()),
    }
    Ok(())
}

/// The agent's refusal of a load, with the hint for its cause.
fn agent_refused(agent: &mut Connection, real: &Path) -> Error {
    let said = agent.why();
    let cause = said.as_ref().and_then(|r| Pkcs11Cause::parse(&r.code));
    let text = format!(
        "the agent refused to load the keys of PKCS#11 provider {}{}",
        real.display(),
        said.as_ref()
            .map_or_else(String::new, |r| format!(": {}", r.text))
    );
    let hint = match cause {
        Some(cause) => {
            let env = client::pkcs11_hint::asks_environment(cause)
                .then(|| agent.provider_env())
                .flatten();
            client::pkcs11_hint::hint(cause, &real.display().to_string(), env.as_deref())
        }
        None => said.map_or_else(
            || {
                "the provider must match the agent's -P allowlist, or the agent could not use \
                 it: the agent's log says why"
                    .to_owned()
            },
            |r| r.hint(),
        ),
    };
    Error::Pkcs11 { text, hint }
}

/// The PIN: from `--pin-file`, else asked naming the tokens that need it.
fn read_pin(pin_file: Option<&Path>, tokens: &[&str]) -> Result<Zeroizing<String>> {
    match pin_file {
        Some(path) => Ok(client::secret::read_secret_file("the PIN file", path)?),
        None => {
            let which = match tokens {
                [one] => format!("token {one}"),
                many => format!("tokens {}", many.join(", ")),
            };
            PassphraseSource::Interactive.read_pin(&format!("Enter PIN for {which}: "))
        }
    }
}

/// `mfa-add -e PROVIDER`: remove the keys loaded from it.
pub(super) fn remove_provider(agent: &mut Connection, provider: &Path) -> Result<()> {
    let real = real_path(provider)?;
    let request = Request::RemoveSmartcardKey {
        provider: real.to_string_lossy().into_owned(),
        pin: Zeroizing::new(Vec::new()),
    };
    match agent.call(&request)? {
        Response::Success => {
            eprintln!("Card removed: {}", real.display());
            Ok(())
        }
        _ => Err(Error::NoProviderKeys(real.display().to_string())),
    }
}

/// The provider's real path: the agent matches its allowlist against it, and may run in
/// another folder.
fn real_path(provider: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(provider).map_err(Error::io(format!(
        "cannot find the PKCS#11 provider {}",
        provider.display()
    )))
}
