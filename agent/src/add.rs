//! mfa-add: load keys into mfa-agent and manage it, like ssh-add.

use std::path::{Path, PathBuf};

use clap::{ArgGroup, Parser};
use proto::key::{fingerprint, parse_public_key_blob, public_key_blob, RsaKeyMaterial};
use proto::message::{Constraint, Identity, Request, Response};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use zeroize::Zeroizing;

use crate::client::AgentClient;
use crate::keyfile::{KeyFile, LoadedKey};
use crate::lifetime::parse_lifetime;
use crate::passphrase::PassphraseSource;
use crate::{Error, Result};

const AFTER_HELP: &str = "\
Key files: PKCS#1 or PKCS#8 PEM (as openssl genrsa writes), encrypted PKCS#8, legacy encrypted
PEM (Proc-Type: 4,ENCRYPTED; AES-128/192/256-CBC or DES-EDE3-CBC), OpenSSH private keys. RSA,
2048 bits or more. Passphrases are read from --passphrase-file, else the terminal (three tries),
else the program named by MFA_ASKPASS.

LIFE: seconds, or a time like 90s, 10m, 1h30m, 2d, 1w.
The agent is found through MFA_AUTH_SOCK (set by eval \"$(mfa-agent -s)\").

Exit status: 0 success; 1 failure (also -l or -L with no keys in the agent); 2 usage error.";

/// mfa-add: load RSA keys into mfa-agent, list, remove, lock and unlock.
#[derive(Debug, Parser)]
#[command(name = "mfa-add", version, after_help = AFTER_HELP)]
#[command(group(ArgGroup::new("action").args(["list", "list_public", "delete", "delete_all", "lock", "unlock"])))]
pub struct Args {
    /// Forget the added keys after LIFE.
    #[arg(short = 't', value_name = "LIFE")]
    pub lifetime: Option<String>,
    /// Ask for confirmation (MFA_ASKPASS/SSH_ASKPASS) before each use of the added keys.
    #[arg(short = 'c')]
    pub confirm: bool,
    /// Read the passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// List the fingerprints of the agent's keys.
    #[arg(short = 'l')]
    pub list: bool,
    /// List the agent's public keys as PEM (SPKI, BEGIN PUBLIC KEY).
    #[arg(short = 'L')]
    pub list_public: bool,
    /// Remove the keys given as KEYFILE or SHA256:FINGERPRINT.
    #[arg(short = 'd')]
    pub delete: bool,
    /// Remove every key.
    #[arg(short = 'D')]
    pub delete_all: bool,
    /// Lock the agent with a passphrase.
    #[arg(short = 'x')]
    pub lock: bool,
    /// Unlock the agent.
    #[arg(short = 'X')]
    pub unlock: bool,
    /// Key files (or fingerprints with -d).
    #[arg(value_name = "KEYFILE")]
    pub keys: Vec<String>,
}

/// What to do.
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

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct AddConfig {
    pub action: Action,
    pub passphrases: PassphraseSource,
}

impl AddConfig {
    pub fn from_args(args: Args) -> Result<AddConfig> {
        let only_adding = |what: &str| -> Result<()> {
            if args.lifetime.is_some() || args.confirm || !args.keys.is_empty() {
                return Err(Error::usage(format!("{what} takes no key files, -t or -c")));
            }
            Ok(())
        };
        let action = if args.list {
            only_adding("-l")?;
            Action::List
        } else if args.list_public {
            only_adding("-L")?;
            Action::ListPublic
        } else if args.delete_all {
            only_adding("-D")?;
            Action::DeleteAll
        } else if args.lock {
            only_adding("-x")?;
            Action::Lock
        } else if args.unlock {
            only_adding("-X")?;
            Action::Unlock
        } else if args.delete {
            if args.lifetime.is_some() || args.confirm {
                return Err(Error::usage("-d takes no -t or -c"));
            }
            if args.keys.is_empty() {
                return Err(Error::usage("-d needs a KEYFILE or SHA256:FINGERPRINT"));
            }
            Action::Delete(args.keys)
        } else {
            if args.keys.is_empty() {
                return Err(Error::Usage {
                    message: "no key file given".into(),
                    hint: Some(
                        "mfa-add officer1.key (or mfa-add -l to list the agent's keys)".into(),
                    ),
                });
            }
            let mut constraints = Vec::new();
            if let Some(life) = &args.lifetime {
                constraints.push(Constraint::Lifetime(parse_lifetime(life)?));
            }
            if args.confirm {
                constraints.push(Constraint::Confirm);
            }
            Action::Add {
                files: args.keys.into_iter().map(PathBuf::from).collect(),
                constraints,
            }
        };
        let passphrases = match args.passphrase_file {
            Some(path) => PassphraseSource::File(path),
            None => PassphraseSource::Interactive,
        };
        Ok(AddConfig {
            action,
            passphrases,
        })
    }
}

/// Runs mfa-add and returns the exit status.
pub fn run(config: AddConfig) -> Result<i32> {
    crate::hardening::harden_process()?;
    let mut agent = AgentClient::from_env()?;
    match &config.action {
        Action::Add { files, constraints } => {
            // As ssh-add: a file that fails is reported and the others are still added.
            let mut status = 0;
            for file in files {
                let added = load_key(file, &config.passphrases)
                    .and_then(|loaded| add_key(&mut agent, loaded, constraints));
                if let Err(e) = added {
                    eprintln!("error: {e}");
                    if let Some(hint) = e.hint() {
                        eprintln!("hint: {hint}");
                    }
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
                    .map_err(|e| Error::Agent(format!("cannot encode a public key: {e}")))?;
                print!("{pem}");
            }
            Ok(0)
        }
        Action::Delete(targets) => {
            let mut status = 0;
            for target in targets {
                match delete(&mut agent, target, &config.passphrases) {
                    Ok(()) => eprintln!("Identity removed: {target}"),
                    Err(e) => {
                        eprintln!("error: {e}");
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
            let pass = config.passphrases.read("Enter lock password: ")?;
            if let PassphraseSource::Interactive = config.passphrases {
                let again = config.passphrases.read("Again: ")?;
                if *again != *pass {
                    return Err(Error::Agent("the passwords do not match".into()));
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
            let pass = config.passphrases.read("Enter lock password: ")?;
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
pub fn load_key(path: &Path, passphrases: &PassphraseSource) -> Result<LoadedKey> {
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
        _ => Err(Error::Agent("the agent refused to list its keys".into())),
    }
}

/// Removes one key named by a fingerprint or a key file.
fn delete(agent: &mut AgentClient, target: &str, passphrases: &PassphraseSource) -> Result<()> {
    let blob = if target.starts_with("SHA256:") {
        identities(agent)?
            .into_iter()
            .find(|id| fingerprint(&id.key_blob) == target)
            .map(|id| id.key_blob)
            .ok_or_else(|| Error::Agent(format!("the agent holds no key {target}")))?
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
        _ => Err(Error::Agent(format!("the agent refused to {what}"))),
    }
}
