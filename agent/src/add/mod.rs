//! mfa-add's logic: load keys from files into mfa-agent, list, remove, lock and unlock it,
//! as ssh-add does. The command line is the binary's (`bin/mfa-add/cli.rs`).

mod key_file;
mod passphrase;
mod token;
mod verify_log;

use std::path::{Path, PathBuf};
use std::time::Duration;

use client::exit::Status;
use client::{AgentKey, Connection};
use proto::forwarding::ForwardedPolicy;
use proto::key::public_key_blob;
use proto::message::Constraint;
use rsa::RsaPublicKey;

use crate::rsa_key::{material_of, public_of};
use crate::{Error, Result};
use key_file::{KeyFile, LoadedKey};
pub use passphrase::PassphraseSource;

/// How long one call may take: as long as a confirmation may (a person answers it).
const CALL_TIMEOUT: Duration = client::AGENT_TIMEOUT;

/// The program name errors are reported under.
const PROGRAM: &str = "mfa-add";

/// What mfa-add does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Add {
        files: Vec<PathBuf>,
        constraints: Vec<Constraint>,
    },
    /// `-s PROVIDER`: the RSA keys of a PKCS#11 provider's tokens.
    AddProvider {
        provider: PathBuf,
        pin_file: Option<PathBuf>,
        constraints: Vec<Constraint>,
        key: Option<proto::message::KeyFilter>,
        /// `--token LABEL`: that token only.
        token: Option<String>,
    },
    /// `-e PROVIDER`.
    RemoveProvider(PathBuf),
    List,
    ListPublic,
    Delete(Vec<String>),
    DeleteAll,
    Lock,
    Unlock,
    /// `--verify-log FILE`: check the agent log's hash chain.
    VerifyLog(PathBuf),
    /// `--approve`: answer the confirmations waiting in an agent without askpass.
    Approve,
}

/// Runs mfa-add and returns the exit status.
pub fn run(action: &Action, passphrases: &PassphraseSource, any_agent: bool) -> Result<Status> {
    crate::sys::harden_process()?;
    if let Action::VerifyLog(path) = action {
        return verify_log::run(path);
    }
    let mut agent = client::Agent::from_env(CALL_TIMEOUT)?.connect()?;
    let adds = matches!(action, Action::Add { .. } | Action::AddProvider { .. });
    let plain = adds && agent.kind()? == client::AgentKind::NotMfaAgent;
    if plain && !any_agent {
        // An MFA key in a plain ssh-agent would sign SSH logins but no token, and could be
        // forwarded anywhere that agent is.
        return Err(Error::AddToPlainAgent);
    }
    let asks = |constraints: &[Constraint]| {
        constraints.iter().any(|c| {
            matches!(
                c,
                Constraint::Confirm
                    | Constraint::ConfirmFor(_)
                    | Constraint::Forwarded(ForwardedPolicy::Confirm)
            )
        })
    };
    if let Action::Add { constraints, .. } | Action::AddProvider { constraints, .. } = action {
        // Said now, not at a login: without askpass each use waits for mfa-add --approve.
        if !plain && asks(constraints) && !agent.can_confirm()? {
            eprintln!(
                "Note: mfa-agent has no askpass program (MFA_ASKPASS, SSH_ASKPASS): confirm each \
                 use with mfa-add --approve in another terminal, within {} s",
                client::CONFIRM_TIMEOUT.as_secs()
            );
        }
    }
    match action {
        Action::Add { files, constraints } => {
            // A plain agent refuses a constraint it does not know, and signs no token anyway.
            let constraints = &without_purpose_if(plain, constraints);
            // As ssh-add: a file that fails is reported and the others are still added.
            let mut status = Status::SUCCESS;
            for file in files {
                let added = load_key(file, passphrases)
                    .and_then(|loaded| add_key(&mut agent, loaded, constraints));
                if let Err(e) = added {
                    crate::error::print(PROGRAM, &e);
                    status = Status::FAILURE;
                }
            }
            Ok(status)
        }
        Action::AddProvider {
            provider,
            pin_file,
            constraints,
            key,
            token,
        } => {
            let constraints = &without_purpose_if(plain, constraints);
            let load = token::ProviderLoad {
                provider,
                pin_file: pin_file.as_deref(),
                constraints,
                key: key.clone(),
                token: token.clone(),
                plain,
            };
            token::add_provider(&mut agent, &load)?;
            Ok(Status::SUCCESS)
        }
        Action::RemoveProvider(provider) => {
            token::remove_provider(&mut agent, provider)?;
            Ok(Status::SUCCESS)
        }
        Action::List => {
            let Some(keys) = keys_or_say_none(&mut agent)? else {
                return Ok(Status::FAILURE);
            };
            // What each key signs, after ssh-add -l's own line: [token], [ssh] or [token,ssh].
            let purposes = agent.purposes()?.unwrap_or_default();
            for key in keys {
                let purpose = purposes
                    .iter()
                    .find(|(blob, _)| *blob == key.blob)
                    .map_or_else(String::new, |(_, purpose)| format!(" [{purpose}]"));
                println!(
                    "{} {} {} (RSA){purpose}",
                    key.bits(),
                    key.fingerprint,
                    key.comment
                );
            }
            Ok(Status::SUCCESS)
        }
        Action::ListPublic => {
            let Some(keys) = keys_or_say_none(&mut agent)? else {
                return Ok(Status::FAILURE);
            };
            for key in keys {
                print!("{}", key.public_pem());
            }
            Ok(Status::SUCCESS)
        }
        Action::Delete(targets) => {
            let mut status = Status::SUCCESS;
            for target in targets {
                match delete(&mut agent, target, passphrases) {
                    Ok(()) => eprintln!("Identity removed: {target}"),
                    Err(e) => {
                        crate::error::print(PROGRAM, &e);
                        status = Status::FAILURE;
                    }
                }
            }
            Ok(status)
        }
        Action::DeleteAll => {
            agent.remove_all()?;
            eprintln!("All identities removed.");
            Ok(Status::SUCCESS)
        }
        Action::Lock => {
            let pass = passphrases.read("Enter lock password: ")?;
            if let PassphraseSource::Interactive = *passphrases {
                let again = passphrases.read("Again: ")?;
                if *again != *pass {
                    return Err(Error::PassphraseMismatch);
                }
            }
            agent.lock(pass.as_bytes())?;
            eprintln!("Agent locked.");
            Ok(Status::SUCCESS)
        }
        Action::Unlock => {
            let pass = passphrases.read("Enter lock password: ")?;
            agent.unlock(pass.as_bytes())?;
            eprintln!("Agent unlocked.");
            Ok(Status::SUCCESS)
        }
        Action::VerifyLog(path) => verify_log::run(path),
        Action::Approve => approve(&mut agent),
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

/// `mfa-add --approve`: each waiting confirmation shown, and answered at this terminal.
fn approve(agent: &mut Connection) -> Result<Status> {
    use std::io::{BufRead, IsTerminal, Write};
    let waiting = match agent.call(&proto::message::Request::Approvals)? {
        proto::message::Response::Approvals(waiting) => waiting,
        _ => return Err(client::Error::Refused("list the confirmations".to_owned()).into()),
    };
    if waiting.is_empty() {
        println!("No confirmation waits.");
        return Ok(Status::FAILURE);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "mfa-add --approve answers at a terminal: run it in one",
        ));
    }
    for (id, question) in waiting {
        print!("{question}\nApprove? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(Error::io("read the answer"))?;
        let yes = matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES");
        let request = proto::message::Request::Approve { id, yes };
        match agent.call(&request)? {
            proto::message::Response::Success => {
                println!("{}", if yes { "Approved." } else { "Declined." })
            }
            _ => println!("That request no longer waits."),
        }
    }
    Ok(Status::SUCCESS)
}

/// The constraints, less the purpose when `plain` (an agent that does not know it).
fn without_purpose_if(plain: bool, constraints: &[Constraint]) -> Vec<Constraint> {
    constraints
        .iter()
        .filter(|c| !(plain && matches!(c, Constraint::Purpose(_))))
        .cloned()
        .collect()
}

fn add_key(agent: &mut Connection, loaded: LoadedKey, constraints: &[Constraint]) -> Result<()> {
    agent.add(material_of(&loaded.key), &loaded.comment, constraints)?;
    eprintln!("Identity added: {}", loaded.comment);
    for c in constraints {
        match c {
            Constraint::Lifetime(secs) => eprintln!("Lifetime set to {secs} seconds"),
            Constraint::Confirm => eprintln!("The user must confirm each use of the key"),
            Constraint::ConfirmFor(secs) => eprintln!(
                "The user must confirm the key's use; a yes stands {secs} seconds for the same \
                 kind of request from this machine (never through a forwarded agent)"
            ),
            Constraint::Forwarded(ForwardedPolicy::Confirm) => {
                eprintln!("The user must confirm each use of the key through a forwarded agent")
            }
            Constraint::Forwarded(ForwardedPolicy::Deny) => {
                eprintln!("The key is refused to requests through a forwarded agent")
            }
            Constraint::Purpose(purpose) if purpose.ssh && purpose.token => eprintln!(
                "The key signs SSH requests and CloudHSM tokens alike (--purpose {purpose})"
            ),
            Constraint::Purpose(purpose) if !purpose.token => {
                eprintln!("The key signs SSH requests only, no CloudHSM token (--purpose ssh)")
            }
            Constraint::Forwarded(ForwardedPolicy::Allow)
            | Constraint::Destinations(_)
            | Constraint::Purpose(_) => {}
        }
    }
    Ok(())
}

/// The agent's keys; with none, says so (and that it is locked, when that is why) and
/// returns None.
fn keys_or_say_none(agent: &mut Connection) -> Result<Option<Vec<AgentKey>>> {
    let keys = agent.keys()?;
    if !keys.is_empty() {
        return Ok(Some(keys));
    }
    match agent.kind()? {
        client::AgentKind::Locked => {
            println!("The agent has no identities: it is locked (unlock it with mfa-add -X).")
        }
        _ => println!(
            "The agent has no identities: load one with mfa-add KEY (a key added with -t LIFE \
             is forgotten when LIFE runs out)."
        ),
    }
    Ok(None)
}

/// Removes one key named by a fingerprint or a key file.
fn delete(agent: &mut Connection, target: &str, passphrases: &PassphraseSource) -> Result<()> {
    let keys = agent.keys()?;
    let blob = if target.starts_with("SHA256:") {
        // A fingerprint or a prefix of one, as --key takes them.
        let matching: Vec<_> = keys
            .into_iter()
            .filter(|key| key.fingerprint.starts_with(target))
            .collect();
        match matching.as_slice() {
            [key] => key.blob.clone(),
            [] => return Err(Error::NoSuchKey(target.to_owned())),
            _ => return Err(client::Error::AmbiguousKey(target.to_owned()).into()),
        }
    } else if keys.is_empty() {
        // Nothing to remove: no passphrase is asked to find that out.
        return Err(Error::NoSuchKey(target.to_owned()));
    } else {
        public_key_blob(&public_key_of(Path::new(target), passphrases)?)
    };
    Ok(agent.remove(blob, target)?)
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
        // KEY.pub as CloudHSM uses it (SPKI PEM) or as ssh-keygen writes it.
        if line.contains("-----BEGIN PUBLIC KEY-----") {
            use rsa::pkcs8::DecodePublicKey;
            if let Ok(key) = RsaPublicKey::from_public_key_pem(&line) {
                return Ok(key);
            }
        }
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
    public_of(&load_key(path, passphrases)?.key)
        .map_err(|e| Error::KeyFile(format!("{}: {e}", path.display())))
}
