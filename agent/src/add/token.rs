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
use crate::backend::pkcs11::{
    chosen, open_chosen, pin_prompt, several_logins_note, Library, TokenFailure,
};
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

/// What mfa-add found before asking the agent: the PIN (if any token needs one) and the
/// tokens to load from.
struct Checked {
    pin: Option<Zeroizing<String>>,
    tokens: Vec<String>,
}

/// `mfa-add -s PROVIDER`: load the chosen tokens' RSA keys into the agent.
pub(super) fn add_provider(agent: &mut Connection, load: &ProviderLoad<'_>) -> Result<()> {
    let real = real_path(load.provider)?;
    let wanted: Vec<String> = load.token.iter().cloned().collect();
    let checked = match check_tokens(load, &real, &wanted)? {
        Ok(checked) => checked,
        // mfa-add cannot read the tokens itself (the library does not start here, or shows
        // no such token with this environment): the agent, with its own, decides.
        Err(failure)
            if matches!(
                failure.cause,
                Pkcs11Cause::ProviderLoadFailed | Pkcs11Cause::NoToken
            ) =>
        {
            eprintln!("Note: {failure}; asking the agent");
            let prompt = format!("Enter PIN for PKCS#11 provider {}: ", real.display());
            Checked {
                pin: Some(read_pin(load.pin_file, &prompt)?),
                tokens: wanted,
            }
        }
        Err(failure) => return Err(local(failure, &real)),
    };
    let Checked { pin, tokens } = checked;
    let request = Request::AddSmartcardKey {
        provider: real.to_string_lossy().into_owned(),
        pin: Zeroizing::new(
            pin.as_ref()
                .map_or_else(Vec::new, |p| p.as_bytes().to_vec()),
        ),
        constraints: load.constraints.to_vec(),
        key: load.key.clone().filter(|_| !load.plain),
        tokens: if load.plain { Vec::new() } else { tokens },
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

/// Reads the provider's tokens here: the chosen ones, a PIN if any needs a login (asked
/// naming them), and one login each; the tokens that opened are the ones the agent loads.
/// The outer error is mfa-add's own (the PIN could not be read), the inner one the token's.
fn check_tokens(
    load: &ProviderLoad<'_>,
    real: &Path,
    wanted: &[String],
) -> Result<Result<Checked, TokenFailure>> {
    let library = match Library::open(real) {
        Ok(library) => library,
        Err(failure) => return Ok(Err(failure)),
    };
    let (tokens, notes) = match chosen(&library, wanted, load.key.as_ref()) {
        Ok(chosen) => chosen,
        Err(failure) => return Ok(Err(failure)),
    };
    for note in notes.into_iter().chain(several_logins_note(&tokens)) {
        eprintln!("Note: {note}");
    }
    let pin = match pin_prompt(&tokens) {
        None => None,
        Some(prompt) => Some(read_pin(load.pin_file, &prompt)?),
    };
    // The same logins the agent will make: a wrong PIN stops here, counted once by the token.
    let (opened, skipped) = match open_chosen(&library, tokens, pin.as_deref().map(String::as_str))
    {
        Ok(opened) => opened,
        Err(failure) => return Ok(Err(failure)),
    };
    for skip in &skipped {
        eprintln!("Skipped token {}: {}", skip.token, skip.text);
    }
    // Sessions closed and the library finalised (when these drop) before the agent's helper
    // opens it.
    let tokens = opened.iter().map(|t| t.facts.label.clone()).collect();
    Ok(Ok(Checked { pin, tokens }))
}

/// The PIN: from `--pin-file`, else asked with `prompt`.
fn read_pin(pin_file: Option<&Path>, prompt: &str) -> Result<Zeroizing<String>> {
    match pin_file {
        Some(path) => Ok(client::secret::read_secret_file("the PIN file", path)?),
        None => PassphraseSource::Interactive.read_pin(prompt),
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
