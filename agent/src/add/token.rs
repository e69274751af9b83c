//! mfa-add's PKCS#11 side (`-s`, `-e`, as ssh-add's): the token PIN from `--pin-file` or the
//! terminal, a check of the PIN and the keys before the agent is asked (so a wrong PIN is one
//! clear error here, tried once, and never again by the agent), then the request.

use std::path::{Path, PathBuf};

use client::Connection;
use proto::message::{Constraint, KeyFilter, Request, Response};
use zeroize::Zeroizing;

use super::PassphraseSource;
use crate::backend::Providers;
use crate::{Error, Result};

/// `mfa-add -s PROVIDER`: load the provider's RSA keys into the agent.
pub(super) fn add_provider(
    agent: &mut Connection,
    provider: &Path,
    pin_file: Option<&Path>,
    constraints: &[Constraint],
    key: Option<KeyFilter>,
) -> Result<()> {
    let real = real_path(provider)?;
    let pin = match pin_file {
        Some(path) => client::secret::read_secret_file("the PIN file", path)?,
        None => PassphraseSource::Interactive.read(&format!(
            "Enter PIN for PKCS#11 provider {}: ",
            real.display()
        ))?,
    };
    // The same login the agent will make: a wrong PIN stops here, counted once by the token.
    let found = Providers::default()
        .load_keys(&real, pin.clone(), key.as_ref())
        .map_err(|e| Error::Token(e.to_string()))?;
    let request = Request::AddSmartcardKey {
        provider: real.to_string_lossy().into_owned(),
        pin: Zeroizing::new(pin.as_bytes().to_vec()),
        constraints: constraints.to_vec(),
        key,
    };
    match agent.call(&request)? {
        Response::Success => {}
        _ => return Err(Error::ProviderRefused(real.display().to_string())),
    }
    eprintln!(
        "Card added: {} ({})",
        real.display(),
        client::report::count(found.len(), "key")
    );
    Ok(())
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
