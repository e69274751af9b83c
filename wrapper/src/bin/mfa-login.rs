//! mfa-login: run a CloudHSM CLI login in a pseudo-terminal and answer its token-sign MFA
//! prompt with signatures from mfa-agent, like sshpass does for passwords.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use cloudhsm_mfa_wrapper::login::{read_password_file, resolve_command, Config, EXIT_OWN_FAILURE};
use cloudhsm_mfa_wrapper::session;
use cloudhsm_mfa_wrapper::transcript::Transcript;

const AFTER_HELP: &str = "\
Runs COMMAND in a pseudo-terminal set up like yours, in the current directory. You type as
usual (the password, commands in interactive mode). When COMMAND asks for the signed token
file, mfa-login signs every token of the token file through mfa-agent ($MFA_AUTH_SOCK),
rewrites the file and presses Enter for you; at change-mfa's public key prompt it answers with
a temporary PEM file of the agent key. The token file is --token-file, else the --token in
COMMAND's arguments, else the --token of the login you type at the aws-cloudhsm > prompt.

If anything fails, mfa-login says so in one line starting `mfa-login: error:`, with a hint on
finishing by hand (mfa-sign FILE, then Enter), and leaves the prompt to you; without a terminal
on stdin it ends COMMAND and exits 125. Wrong answers lock accounts, so mfa-login never answers
again a prompt that comes back right after its answer, a login (same user, role and key) whose
result reported a non-zero error_code earlier in the session, or a password prompt with a
--password-file password that was rejected.

--timeout S bounds each reply of the agent (default 60 s) and, when stdin is not a terminal,
the whole run (no limit without --timeout). With stdin empty and not a terminal (</dev/null), a
prompt mfa-login does not answer ends the run (125).

Exit status:
  COMMAND's exit status
  128+N  COMMAND was killed by signal N
  125    mfa-login failed (bad arguments, a failure with no terminal on stdin, a timeout)
  126    COMMAND was found but cannot be executed
  127    COMMAND was not found

Example:
  mfa-login -- cloudhsm-cli login --username admin1 --role admin mfa-token-sign --token t.json";

#[derive(Parser, Debug)]
#[command(
    name = "mfa-login",
    version,
    about = "Run a CloudHSM CLI login and answer its MFA token prompt through mfa-agent",
    after_help = AFTER_HELP
)]
struct Args {
    /// The agent key to sign with: a SHA256: fingerprint (or a prefix of one) or its comment.
    /// Needed when the agent holds more than one key.
    #[arg(long, value_name = "FP")]
    key: Option<String>,
    /// The token file to sign, when COMMAND's arguments or the typed login do not say.
    #[arg(long, value_name = "F")]
    token_file: Option<PathBuf>,
    /// Answer `Enter password:` and `Confirm password:` with the first line of F (mode 0600
    /// or stricter), for unattended use.
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
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

fn main() {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            std::process::exit(if err.use_stderr() {
                EXIT_OWN_FAILURE
            } else {
                0
            });
        }
    };
    let config = match validate(args) {
        Ok(config) => config,
        Err((code, err)) => {
            eprintln!("mfa-login: error: {err:#}");
            std::process::exit(code);
        }
    };
    std::process::exit(session::run(config));
}

fn validate(args: Args) -> Result<Config, (i32, anyhow::Error)> {
    let own = |err: anyhow::Error| (EXIT_OWN_FAILURE, err);
    let (name, rest) = args
        .command
        .split_first()
        .ok_or_else(|| own(anyhow::anyhow!("no COMMAND given")))?;
    let program = resolve_command(name).map_err(|e| (e.exit_code(), e.into()))?;
    let password = args
        .password_file
        .as_deref()
        .map(read_password_file)
        .transpose()
        .map_err(own)?;
    let transcript = match (&args.debug, args.verbose) {
        (Some(path), _) if path.as_os_str() != "-" => Transcript::to_file(path)
            .map_err(|e| own(anyhow::anyhow!("cannot write {}: {e}", path.display())))?,
        (Some(_), _) | (None, true) => Transcript::to_stderr(),
        (None, false) => Transcript::off(),
    };
    Ok(Config {
        program,
        args: rest.to_vec(),
        key: args.key,
        token_file: args.token_file,
        password,
        timeout: args.timeout.map(Duration::from_secs),
        transcript,
    })
}
