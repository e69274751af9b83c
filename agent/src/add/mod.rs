//! mfa-add's logic: load keys from files into mfa-agent, list, remove, lock and unlock it,
//! as ssh-add does. The command line is the binary's (`bin/mfa-add/cli.rs`).

mod agent_client;
mod key_file;
mod legacy_pem;
mod passphrase;

use std::path::{Path, PathBuf};

use proto::key::{fingerprint, parse_public_key_blob, public_key_blob, RsaKeyMaterial};
use proto::message::{Constraint, Identity, Request, Response};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use zeroize::Zeroizing;

use crate::{Error, Result};
use agent_client::AgentClient;
use key_file::{KeyFile, LoadedKey};
pub use passphrase::PassphraseSource;

/// What mfa-add does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Add {
        files: Vec<PathBuf>,
        constraints: Vec<Constraint>,
    },
    List,
    ListPublic,
    Delete(Vec<String>),
    DeleteAll,
    Lock,
    Unlock,
}

/// Runs mfa-add and returns the exit status.
pub fn run(action: &Action, passphrases: &PassphraseSource) -> Result<u8> {
    crate::sys::harden_process()?;
    let mut agent = AgentClient::from_env()?;
    match action {
        Action::Add { files, constraints } => {
            // As ssh-add: a file that fails is reported and the others are still added.
            let mut status = 0;
            for file in files {
                let added = load_key(file, passphrases)
                    .and_then(|loaded| add_key(&mut agent, loaded, constraints));
                if let Err(e) = added {
                    crate::error::print(&e);
                    status = 1;
                }
            }
            Ok(status)
        }
        Action::List => {
            let ids = identities(&mut agent)?;
            if ids.is_empty() {
                say_no_identities(&mut agent);
                return Ok(1);
            }
            for id in ids {
                let bits = parse_public_key_blob(&id.key_blob).map_or(0, |k| k.n().bits());
                println!("{bits} {} {} (RSA)", fingerprint(&id.key_blob), id.comment);
            }
            Ok(0)
        }
        Action::ListPublic => {
            let ids = identities(&mut agent)?;
            if ids.is_empty() {
                say_no_identities(&mut agent);
                return Ok(1);
            }
            for id in ids {
                let key = parse_public_key_blob(&id.key_blob)?;
                let pem = key
                    .to_public_key_pem(LineEnding::LF)
                    .map_err(|e| Error::PublicKeyEncoding(e.to_string()))?;
                print!("{pem}");
            }
            Ok(0)
        }
        Action::Delete(targets) => {
            let mut status = 0;
            for target in targets {
                match delete(&mut agent, target, passphrases) {
                    Ok(()) => eprintln!("Identity removed: {target}"),
                    Err(e) => {
                        crate::error::print(&e);
                        status = 1;
                    }
                }
            }
            Ok(status)
        }
        Action::DeleteAll => {
            expect_success(
                agent.call(&Request::RemoveAllIdentities)?,
                "remove all keys",
            )?;
            eprintln!("All identities removed.");
            Ok(0)
        }
        Action::Lock => {
            let pass = passphrases.read("Enter lock password: ")?;
            if let PassphraseSource::Interactive = *passphrases {
                let again = passphrases.read("Again: ")?;
                if *again != *pass {
                    return Err(Error::PassphraseMismatch);
                }
            }
            let request = Request::Lock {
                passphrase: Zeroizing::new(pass.as_bytes().to_vec()),
            };
            expect_success(agent.call(&request)?, "lock (is it already locked?)")?;
            eprintln!("Agent locked.");
            Ok(0)
        }
        Action::Unlock => {
            let pass = passphrases.read("Enter lock password: ")?;
            let request = Request::Unlock {
                passphrase: Zeroizing::new(pass.as_bytes().to_vec()),
            };
            expect_success(
                agent.call(&request)?,
                "unlock (wrong password, or it is not locked)",
            )?;
            eprintln!("Agent unlocked.");
            Ok(0)
        }
    }
}

/// Reads a key file, asking for its passphrase as often as the source allows.
fn load_key(path: &Path, passphrases: &PassphraseSource) -> Result<LoadedKey> {
    let file = KeyFile::read(path)?;
    if !file.is_encrypted() {
        return file.decrypt(None);
    }
    let prompt = format!("Enter passphrase for {}: ", file.name());
    let tries = passphrases.tries();
    for attempt in 1..=tries {
        let pass = passphrases.read(&prompt)?;
        match file.decrypt(Some(pass.as_bytes())) {
            Err(Error::WrongPassphrase(_)) if attempt < tries => {
                eprintln!("Bad passphrase, try again for {}", file.name());
            }
            other => return other,
        }
    }
    Err(Error::WrongPassphrase(file.name().to_owned()))
}

fn add_key(agent: &mut AgentClient, loaded: LoadedKey, constraints: &[Constraint]) -> Result<()> {
    let request = Request::AddIdentity {
        key: RsaKeyMaterial::from_key(&loaded.key)?,
        comment: loaded.comment.clone(),
        constraints: constraints.to_vec(),
    };
    expect_success(agent.call(&request)?, "add the key (is the agent locked?)")?;
    eprintln!("Identity added: {}", loaded.comment);
    for c in constraints {
        match c {
            Constraint::Lifetime(secs) => eprintln!("Lifetime set to {secs} seconds"),
            Constraint::Confirm => eprintln!("The user must confirm each use of the key"),
        }
    }
    Ok(())
}

/// Says the agent lists no keys, and why when it is because the agent is locked: a locked
/// mfa-agent answers nothing but request-identities and unlock, so its `query` fails.
fn say_no_identities(agent: &mut AgentClient) {
    match agent.call(&Request::Query) {
        Ok(Response::Query(_)) => println!("The agent has no identities."),
        _ => println!("The agent has no identities: it is locked (unlock it with mfa-add -X)."),
    }
}

fn identities(agent: &mut AgentClient) -> Result<Vec<Identity>> {
    match agent.call(&Request::RequestIdentities)? {
        Response::Identities(ids) => Ok(ids),
        _ => Err(Error::AgentRefused("list its keys".into())),
    }
}

/// Removes one key named by a fingerprint or a key file.
fn delete(agent: &mut AgentClient, target: &str, passphrases: &PassphraseSource) -> Result<()> {
    let blob = if target.starts_with("SHA256:") {
        identities(agent)?
            .into_iter()
            .find(|id| fingerprint(&id.key_blob) == target)
            .map(|id| id.key_blob)
            .ok_or_else(|| Error::NoSuchKey(target.to_owned()))?
    } else {
        public_key_blob(&public_key_of(Path::new(target), passphrases)?)
    };
    expect_success(
        agent.call(&Request::RemoveIdentity { key_blob: blob })?,
        &format!("remove {target} (the agent does not hold it)"),
    )
}

/// The public key of a key file: from the file itself, else its `.pub`, else by decrypting.
fn public_key_of(path: &Path, passphrases: &PassphraseSource) -> Result<RsaPublicKey> {
    let text = std::fs::read_to_string(path)
        .map_err(Error::io(format!("cannot read {}", path.display())))?;
    if text.contains("-----BEGIN PUBLIC KEY-----") {
        use rsa::pkcs8::DecodePublicKey;
        return RsaPublicKey::from_public_key_pem(&text)
            .map_err(|e| Error::KeyFile(format!("{}: bad public key: {e}", path.display())));
    }
    let file = KeyFile::read(path)?;
    if let Some(key) = file.public_key() {
        return Ok(key);
    }
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    if let Ok(line) = std::fs::read_to_string(&pub_path) {
        if let Some(key) = ssh_key::PublicKey::from_openssh(line.trim())
            .ok()
            .and_then(|k| {
                k.key_data()
                    .rsa()
                    .and_then(|r| RsaPublicKey::try_from(r).ok())
            })
        {
            return Ok(key);
        }
    }
    Ok(load_key(path, passphrases)?.key.to_public_key())
}

fn expect_success(response: Response, what: &str) -> Result<()> {
    match response {
        Response::Success => Ok(()),
        _ => Err(Error::AgentRefused(what.to_owned())),
    }
}
