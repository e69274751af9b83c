//! mfa-add's command line and the validated configuration it turns into.

use std::path::PathBuf;

use clap::{ArgGroup, Parser};
use proto::forwarding::ForwardedPolicy;
use proto::message::{Constraint, KeyFilter};
use proto::purpose::Purpose;

use cloudhsm_mfa_agent::add::{Action, PassphraseSource};
use cloudhsm_mfa_agent::lifetime::parse_lifetime;
use cloudhsm_mfa_agent::{Error, Result};

const AFTER_HELP: &str = "\
Key files: PKCS#1 or PKCS#8 PEM (as openssl genrsa writes), encrypted PKCS#8, legacy encrypted
PEM (Proc-Type: 4,ENCRYPTED; AES-128/192/256-CBC or DES-EDE3-CBC), OpenSSH private keys. RSA,
2048 bits or more. Passphrases are read from --passphrase-file (first line, mode 0600), else the
terminal (three tries), else the program named by MFA_ASKPASS.

PKCS#11 (-s PROVIDER, -e PROVIDER, as ssh-add): the token PIN is read from --pin-file, else
the terminal, else MFA_ASKPASS or SSH_ASKPASS; no PIN is asked when no chosen token needs a
login. --token LABEL loads from that token only; --label/--id log in only to tokens that show
such a key. mfa-add tries the PIN once per token before asking the agent, so a wrong PIN
never reaches the agent. Keys are listed as TOKEN/KEY (their labels; the hex id for a key
without one), which --key matches. The agent loads only providers its -P allowlist names,
each in a helper process of its own, with the agent's environment (SOFTHSM2_CONF,
TPM2_PKCS11_STORE...). After a token was replugged or got new keys: mfa-add -e P; mfa-add -s P.

Purpose: mfa-add adds keys for CloudHSM tokens only: the agent refuses them every SSH
signature (logins, ssh-keygen -Y sign). Keys ssh-add adds are SSH keys and sign no token.
mfa-login and mfa-sign choose among the token keys only, so one MFA key beside any number of
SSH keys needs no --key. -l shows each key's purpose in brackets.

LIFE: seconds, or a time like 90s, 10m, 1h30m, 2d, 1w.
The agent is found through MFA_AUTH_SOCK (set by eval \"$(mfa-agent -s)\"), else through
SSH_AUTH_SOCK when that agent is a forwarded mfa-agent.

Exit status: 0 success; 1 failure (also -l or -L with no keys in the agent); 2 usage error.";

/// Load RSA keys into mfa-agent; list, remove, lock and unlock them.
#[derive(Debug, Parser)]
#[command(name = "mfa-add", version = cloudhsm_mfa_agent::version::version(), after_help = AFTER_HELP)]
#[command(group(ArgGroup::new("action").args(["list", "list_public", "verify_log", "approve", "delete", "delete_all", "lock", "unlock", "provider", "remove_provider"])))]
#[command(group(ArgGroup::new("token_key").args(["label", "id"])))]
pub struct Args {
    #[command(flatten)]
    pub constraints: AddConstraints,
    /// Read the passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub listing: Listing,
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
    #[command(flatten)]
    pub token: TokenKeys,
    /// Add keys to an agent that is not mfa-agent (a plain ssh-agent) all the same.
    #[arg(long)]
    pub force: bool,
    /// Key files (or fingerprints with -d).
    #[arg(value_name = "KEYFILE")]
    pub keys: Vec<String>,
}

/// The constraints of the keys added (as ssh-add's).
#[derive(Debug, clap::Args)]
pub struct AddConstraints {
    /// Forget the added keys after LIFE.
    #[arg(short = 't', value_name = "LIFE")]
    pub lifetime: Option<String>,
    /// Ask for confirmation (MFA_ASKPASS/SSH_ASKPASS) before each use of the added keys.
    #[arg(short = 'c')]
    pub confirm: bool,
    /// Ask for confirmation as -c, but let a yes stand for LIFE for the same kind of request
    /// from this machine (a 7-HSM login or a run of quorum approvals then asks once); never
    /// for a request through a forwarded agent.
    #[arg(long, value_name = "LIFE")]
    pub confirm_for: Option<String>,
    /// What the added keys do for a request through a forwarded agent (ssh -A,
    /// ForwardAgent, ssh -R): sign (allow, the default, as OpenSSH), ask first (confirm), or
    /// refuse (deny: the keys sign only for programs on this machine).
    #[arg(long, value_name = "POLICY", value_parser = ["allow", "confirm", "deny"])]
    pub forwarded: Option<String>,
    /// What the added keys sign: CloudHSM tokens only (token, the default), SSH requests only
    /// (ssh, what ssh-add adds), or both (token,ssh: the key then signs any SHA-256 digest
    /// for whoever can reach the agent; avoid it).
    #[arg(long, value_name = "PURPOSE", default_value = "token", value_parser = ["token", "ssh", "token,ssh", "ssh,token"])]
    pub purpose: String,
}

/// What the agent holds, and what its log says.
#[derive(Debug, clap::Args)]
pub struct Listing {
    /// List the fingerprints of the agent's keys.
    #[arg(short = 'l')]
    pub list: bool,
    /// List the agent's public keys as PEM (SPKI, BEGIN PUBLIC KEY).
    #[arg(short = 'L')]
    pub list_public: bool,
    /// Check the agent log FILE's hash chain (a line deleted, moved or edited), and that it
    /// ends with the running agent's last line (cut or rolled back).
    #[arg(long, value_name = "FILE")]
    pub verify_log: Option<PathBuf>,
    /// Answer the confirmations waiting in an agent that has no askpass program, one by one,
    /// at this terminal.
    #[arg(long)]
    pub approve: bool,
}

/// PKCS#11 providers (-s, -e), and with -s the token's PIN and which of its keys.
#[derive(Debug, clap::Args)]
pub struct TokenKeys {
    /// Load the RSA keys of the PKCS#11 provider's tokens (as ssh-add -s).
    #[arg(short = 's', value_name = "PROVIDER")]
    pub provider: Option<PathBuf>,
    /// Remove the keys loaded from the PKCS#11 provider (as ssh-add -e).
    #[arg(short = 'e', value_name = "PROVIDER")]
    pub remove_provider: Option<PathBuf>,
    /// Read the token PIN from the first line of FILE (with -s; mode 0600).
    #[arg(long, value_name = "FILE", requires = "provider")]
    pub pin_file: Option<PathBuf>,
    /// With -s: only the token key with this label (CKA_LABEL).
    #[arg(long, value_name = "LABEL", requires = "provider")]
    pub label: Option<String>,
    /// With -s: only the token key with this id (CKA_ID, hex; also matches the id stored as
    /// that text).
    #[arg(long, value_name = "HEX", requires = "provider")]
    pub id: Option<String>,
    /// With -s: only the keys of the token with this label.
    #[arg(long = "token", value_name = "LABEL", requires = "provider")]
    pub token_label: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub action: Action,
    pub passphrases: PassphraseSource,
    /// `--force`: add to an agent that is not mfa-agent.
    pub any_agent: bool,
}

impl Config {
    pub fn from_args(args: Args) -> Result<Config> {
        let only_adding = |what: &str| -> Result<()> {
            if args.constraints.lifetime.is_some()
                || args.constraints.confirm
                || args.constraints.confirm_for.is_some()
                || args.constraints.forwarded.is_some()
                || !args.keys.is_empty()
            {
                return Err(Error::usage(format!(
                    "{what} takes no key files, -t, -c or --forwarded"
                )));
            }
            Ok(())
        };
        let action = if let Some(provider) = &args.token.provider {
            if !args.keys.is_empty() {
                return Err(Error::usage("-s takes no key files"));
            }
            let key = match (&args.token.label, &args.token.id) {
                (Some(label), _) => Some(KeyFilter::Label(label.clone())),
                (None, Some(hex)) => Some(KeyFilter::Id(parse_hex(hex)?)),
                (None, None) => None,
            };
            Action::AddProvider {
                provider: provider.clone(),
                pin_file: args.token.pin_file.clone(),
                constraints: constraints(&args)?,
                key,
                token: args.token.token_label.clone(),
            }
        } else if let Some(provider) = &args.token.remove_provider {
            only_adding("-e")?;
            Action::RemoveProvider(provider.clone())
        } else if args.listing.approve {
            only_adding("--approve")?;
            Action::Approve
        } else if let Some(log) = &args.listing.verify_log {
            only_adding("--verify-log")?;
            Action::VerifyLog(log.clone())
        } else if args.listing.list {
            only_adding("-l")?;
            Action::List
        } else if args.listing.list_public {
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
            if args.constraints.lifetime.is_some()
                || args.constraints.confirm
                || args.constraints.confirm_for.is_some()
                || args.constraints.forwarded.is_some()
            {
                return Err(Error::usage("-d takes no -t, -c or --forwarded"));
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
            let constraints = constraints(&args)?;
            Action::Add {
                files: args.keys.into_iter().map(PathBuf::from).collect(),
                constraints,
            }
        };
        let passphrases = match args.passphrase_file {
            Some(path) => PassphraseSource::File(path),
            None => PassphraseSource::Interactive,
        };
        Ok(Config {
            action,
            passphrases,
            any_agent: args.force,
        })
    }
}

/// The --purpose, -t, -c and --forwarded constraints of an add.
fn constraints(args: &Args) -> Result<Vec<Constraint>> {
    let purpose = Purpose::parse(&args.constraints.purpose)?;
    let mut constraints = vec![Constraint::Purpose(purpose)];
    if let Some(life) = &args.constraints.lifetime {
        constraints.push(Constraint::Lifetime(parse_lifetime(life)?));
    }
    if args.constraints.confirm {
        constraints.push(Constraint::Confirm);
    }
    if let Some(life) = &args.constraints.confirm_for {
        constraints.push(Constraint::ConfirmFor(parse_lifetime(life)?));
    }
    // allow is what an agent does for a key without the constraint.
    match args
        .constraints
        .forwarded
        .as_deref()
        .and_then(ForwardedPolicy::parse)
    {
        None | Some(ForwardedPolicy::Allow) => {}
        Some(policy) => constraints.push(Constraint::Forwarded(policy)),
    }
    Ok(constraints)
}

/// `--id` in hex, as `pkcs11-tool` and `softhsm2-util` print it.
fn parse_hex(text: &str) -> Result<Vec<u8>> {
    let bad = || {
        Error::usage(format!(
            "--id {text:?} is not hex (e.g. --id 01 or --id a1b2)"
        ))
    };
    let text = text.trim_start_matches("0x");
    if text.is_empty() || text.len() % 2 != 0 {
        return Err(bad());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}
