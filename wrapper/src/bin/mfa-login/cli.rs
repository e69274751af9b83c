//! mfa-login's command line: clap's `Args`, and the `Config` they are validated into.

use client::exit::Status;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use cloudhsm_mfa_wrapper::command::Command;
use cloudhsm_mfa_wrapper::config;
use cloudhsm_mfa_wrapper::login::{resolve_command, Config, LaunchError, CLOUDHSM_BIN};
use cloudhsm_mfa_wrapper::transcript::Transcript;

const AFTER_HELP: &str = "\
Runs COMMAND in a pseudo-terminal set up like yours, in the current directory (COMMAND is
looked up in PATH, and cloudhsm-cli and cloudhsm_mgmt_util also in /opt/cloudhsm/bin). You type as
usual (the password, commands in interactive mode). When COMMAND asks for the signed token
file, mfa-login signs every token of the token file through mfa-agent ($MFA_AUTH_SOCK),
rewrites the file and presses Enter for you; at change-mfa's public key prompt it answers with
a temporary PEM file of the agent key. The token file is --token-file, else the --token in
COMMAND's arguments, else the --token of the login you type at the aws-cloudhsm > prompt.
Only your own token file in folders nobody else can write is signed (e.g. mkdir -m 700
~/.cloudhsm; --token ~/.cloudhsm/t.json); a --token that fails this is refused before COMMAND
starts.

A single-command MFA login checks the agent, the key and the token file's path before COMMAND
starts, and exits 125 without starting it if one is wrong (no password typed for nothing).
If anything fails later, mfa-login says so in one line starting `mfa-login: error:`, with a hint on
finishing by hand (mfa-sign FILE, then Enter), and leaves the prompt to you; without a terminal
on stdin it ends COMMAND and exits 125. Wrong answers lock accounts, so mfa-login never answers
again a prompt that comes back right after its answer, a login (same user, role and key) whose
result reported a non-zero error_code earlier in the session, or a password prompt with a
--password-file password that was rejected.

--timeout S bounds each reply of the agent (default 130 s: a confirmation may wait 120 s) and, when stdin is not a terminal,
the whole run (no limit without --timeout). With stdin empty and not a terminal (</dev/null), a
prompt mfa-login does not answer ends the run (125).

Exit status:
  COMMAND's exit status
  128+N  COMMAND was killed by signal N
  125    mfa-login failed (bad arguments, a failure with no terminal on stdin, a timeout)
  126    COMMAND was found but cannot be executed
  127    COMMAND was not found

Example:
  mfa-login -- cloudhsm-cli login --username admin1 --role admin mfa-token-sign \\
    --token ~/.cloudhsm/t.json";

#[derive(Parser, Debug)]
#[command(
    name = "mfa-login",
    version = cloudhsm_mfa_wrapper::VERSION,
    about = "Run a CloudHSM CLI login and answer its MFA token prompt through mfa-agent",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// The agent key to sign with: a SHA256: fingerprint (or a prefix of one) or its comment.
    /// Needed when the agent holds more than one key.
    #[arg(long, value_name = "FP")]
    key: Option<String>,
    /// The agent key `user change-mfa token-sign` registers for the user logged in (key
    /// rotation: log in with --key, register --new-key). Default: the agent's only key.
    #[arg(long, value_name = "FP")]
    new_key: Option<String>,
    /// The token file to sign, when COMMAND's arguments or the typed login do not say.
    #[arg(long, value_name = "F")]
    token_file: Option<PathBuf>,
    /// Answer a login's own `Enter password:` with the first line of F (mode 0600 or
    /// stricter), for unattended use. Never typed into a prompt that sets a password.
    #[arg(long, value_name = "F")]
    password_file: Option<PathBuf>,
    /// Seconds to wait for the agent; without a terminal on stdin, also for the whole run.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Write a transcript to stderr (passwords and anything typed without echo redacted).
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Write the transcript to FILE (stderr when FILE is `-` or left out).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    debug: Option<PathBuf>,
    /// The command to run and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND", value_hint = clap::ValueHint::CommandWithArguments)]
    command: Vec<OsString>,
}

/// Why the command line cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    PasswordFile(#[from] client::Error),
    /// A single-command MFA login whose agent or key is not there: nothing to sign with.
    #[error("{0}")]
    NotReady(#[source] client::Error),
    /// The token file COMMAND will write is somewhere others could swap it.
    #[error("will not sign the token file: {0}")]
    TokenFile(#[source] client::files::Unsafe),
    #[error("cannot write the transcript: {0}")]
    Transcript(#[source] client::files::Unsafe),
    #[error("the config file: {0}")]
    ConfigFile(#[source] config::ConfigFileError),
    #[error("the config file maps key {key} to {other}, not to {user}: not signing {user}'s login with it")]
    KeyOfAnother {
        key: String,
        other: String,
        user: String,
    },
}

impl client::Hinted for ConfigError {
    fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Launch(err) => err.hint(),
            ConfigError::PasswordFile(err) => Some(err.hint()),
            ConfigError::Transcript(err) => Some(err.hint()),
            ConfigError::ConfigFile(err) => Some(err.hint()),
            ConfigError::KeyOfAnother { .. } => Some(
                "name this user's key with --key FP, or correct the config file (the CLI was not \
                 started: no password asked)"
                    .to_owned(),
            ),
            ConfigError::NotReady(err) => Some(format!(
                "{}; then start the login again (the CLI was not started: no password asked)",
                err.hint()
            )),
            ConfigError::TokenFile(err) => Some(format!(
                "{}; e.g. mkdir -m 700 ~/.cloudhsm and --token ~/.cloudhsm/t.json",
                err.hint()
            )),
        }
    }
    fn exit_code(&self) -> Status {
        match self {
            ConfigError::Launch(err) => client::Hinted::exit_code(err),
            _ => Status::OWN_FAILURE,
        }
    }
}

/// Checks the arguments and reads what they name.
pub fn validate(args: Args) -> Result<Config, ConfigError> {
    // clap requires COMMAND, so it has a first word.
    let (name, rest) = args
        .command
        .split_first()
        .unwrap_or((&args.command[0], &[]));
    let program = resolve_command(name)?;
    if program.starts_with(CLOUDHSM_BIN) && !Path::new(name).starts_with(CLOUDHSM_BIN) {
        eprintln!(
            "mfa-login: {} is not on your PATH; running {}",
            name.to_string_lossy(),
            program.display()
        );
    }
    // Before COMMAND asks for a password: a token file others could swap is refused now,
    // not after the password was typed (it would be refused at the prompt all the same).
    let command = Command::from_args(rest);
    let named = args.token_file.as_deref().or_else(|| command.token_file());
    if let Some(path) = named {
        client::files::check_path(path).map_err(ConfigError::TokenFile)?;
    }
    let keys_for_users = config::load().map_err(ConfigError::ConfigFile)?.pairs();
    // Likewise the agent and the key a single-command MFA login will sign with: no agent,
    // no key, a locked agent, several keys and no --key (nor one the config file maps to the
    // user), a --key that matches none.
    if let Command::Login(login) = &command {
        if login.mfa {
            let name = login.user.as_ref().map(|u| u.username.as_str());
            let mapped = name.and_then(|name| config::key_of(&keys_for_users, name));
            let timeout = args
                .timeout
                .map_or(client::AGENT_TIMEOUT, Duration::from_secs);
            let key = client::Agent::from_env(timeout)
                .and_then(|agent| agent.connect())
                .and_then(|mut agent| agent.choose_key(args.key.as_deref().or(mapped.as_deref())))
                .map_err(ConfigError::NotReady)?;
            let others = config::keys_of_others(&keys_for_users, name);
            if let Some((_, other)) = others
                .iter()
                .find(|(k, _)| key.fingerprint.starts_with(k.as_str()))
            {
                return Err(ConfigError::KeyOfAnother {
                    key: key.fingerprint,
                    other: other.clone(),
                    user: name.unwrap_or("this user").to_owned(),
                });
            }
        }
    }
    let password = args
        .password_file
        .as_deref()
        .map(|path| client::secret::read_secret_file("the password file", path))
        .transpose()?;
    let transcript = match (&args.debug, args.verbose) {
        (Some(path), _) if path.as_os_str() != "-" => {
            Transcript::to_file(path).map_err(ConfigError::Transcript)?
        }
        (Some(_), _) | (None, true) => Transcript::to_stderr(),
        (None, false) => Transcript::off(),
    };
    Ok(Config {
        program,
        args: rest.to_vec(),
        key: args.key,
        new_key: args.new_key,
        token_file: args.token_file,
        password,
        timeout: args.timeout.map(Duration::from_secs),
        transcript,
        keys_for_users,
    })
}
