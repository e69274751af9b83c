//! mfa-agent's command line and the validated configuration it turns into.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use cloudhsm_mfa_agent::backend::DEFAULT_PROVIDER_ALLOWLIST;
use cloudhsm_mfa_agent::daemon::{LogTo, Mode, Settings, Shell, DEFAULT_SYSLOG_SOCKET};
use cloudhsm_mfa_agent::lifetime::parse_lifetime;
use cloudhsm_mfa_agent::server::Limits;
use cloudhsm_mfa_agent::{Error, Result};

const AFTER_HELP: &str = "\
Modes:
  mfa-agent [-c|-s]            fork, print shell commands that set MFA_AUTH_SOCK and MFA_AGENT_PID
                               (use as: eval \"$(mfa-agent -s)\")
  mfa-agent -D | -d            stay in the foreground (-d: also log debug lines)
  mfa-agent --reuse [-c|-s]    the same, but reuse this user's agent on the per-user socket
                               ($XDG_RUNTIME_DIR/mfa-agent/agent.sock, else
                               ~/.mfa-agent/agent.sock, or -a PATH) when one runs there
  mfa-agent -k                 kill the agent named by MFA_AGENT_PID
  mfa-agent [options] -- CMD   run CMD with MFA_AUTH_SOCK and MFA_AGENT_PID set; the agent
                               stops when CMD ends, and mfa-agent exits with CMD's status

Socket: -a PATH, else a new private folder (0700) under $XDG_RUNTIME_DIR, else $TMPDIR, else /tmp.
The socket is 0600; only the agent's own uid and root may use it.

Log (one line per signature: time, key fingerprint, token count, peer pid, uid, executable;
never key material or passphrases): stderr with -D or -d. A forked agent appends to
--log-file, default $XDG_STATE_HOME/cloudhsm-mfa/agent.log (else
~/.local/state/cloudhsm-mfa/agent.log), folder 0700, file 0600. --log syslog sends it to
the system log instead (/dev/log: journald, rsyslog; facility auth, tag mfa-agent), as
OpenSSH's agent logs; --log file makes -D or -d write the log file.

LIFE: seconds, or a time like 90s, 10m, 1h30m, 2d, 1w (as ssh-agent -t).
PATTERNS (-P): PKCS#11 providers that ssh-add -s / mfa-add -s may load, as ssh-agent -P:
comma-separated, * and ? wildcards, !pattern refuses; matched against the real path; default
/usr/lib*/*,/usr/local/lib*/*. A refused provider is logged and the client gets FAILURE.
Confirm-on-use keys ask MFA_ASKPASS, else SSH_ASKPASS; with neither set they are refused.

systemd socket activation: with -D or -d, a listening socket passed by systemd (LISTEN_FDS=1,
LISTEN_PID = this process) is served instead of binding one; see the user units
mfa-agent.socket and mfa-agent.service (/usr/lib/systemd/user/ from a package, else
agent/contrib/ in the source): systemctl --user enable --now mfa-agent.socket

Exit status: 0 success; 1 error; 2 usage error; with -- CMD, CMD's status (128+N if it died
of signal N, 127 if it was not found, 126 if it could not be run).";

const DEFAULT_MAX_CONNECTIONS: usize = 128;
const DEFAULT_FRAME_TIMEOUT_SECS: u64 = 30;

/// Keep CloudHSM MFA keys in memory and sign tokens for mfa-login and mfa-sign.
#[derive(Debug, Parser)]
#[command(name = "mfa-agent", version = cloudhsm_mfa_agent::version::version(), after_help = AFTER_HELP)]
pub struct Args {
    /// Bind the socket at PATH.
    #[arg(short = 'a', value_name = "PATH")]
    pub bind: Option<PathBuf>,
    #[command(flatten)]
    pub syntax: Syntax,
    /// Stay in the foreground.
    #[arg(short = 'D')]
    pub foreground: bool,
    /// Stay in the foreground and log debug lines to stderr.
    #[arg(short = 'd', conflicts_with = "foreground")]
    pub debug: bool,
    /// Use the agent already running on your per-user socket (or -a PATH), else start one
    /// there: `eval "$(mfa-agent --reuse)"` in every shell finds the same agent and keys.
    #[arg(long, conflicts_with_all = ["foreground", "debug", "kill", "command"])]
    pub reuse: bool,
    /// Kill the agent named by MFA_AGENT_PID.
    #[arg(short = 'k', conflicts_with_all = ["bind", "foreground", "debug", "lifetime", "command"])]
    pub kill: bool,
    /// PKCS#11 providers that may be loaded (ssh-add -s, mfa-add -s): comma-separated
    /// patterns matched against the provider's real path; `!` refuses.
    #[arg(short = 'P', value_name = "PATTERNS", default_value = DEFAULT_PROVIDER_ALLOWLIST)]
    pub providers: String,
    /// Default lifetime of added keys.
    #[arg(short = 't', value_name = "LIFE")]
    pub lifetime: Option<String>,
    /// Where the log goes (default: stderr with -D or -d, else the log file).
    #[arg(long, value_enum, value_name = "TO")]
    pub log: Option<LogTo>,
    /// Log file of a forked agent (and of --log file).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    #[command(flatten)]
    pub internal: Internal,
    /// Command to run with the agent (after --).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD",
        value_hint = clap::ValueHint::CommandWithArguments
    )]
    pub command: Vec<OsString>,
}

/// The syntax of the lines printed for `eval`.
#[derive(Debug, clap::Args)]
pub struct Syntax {
    /// Print C-shell commands.
    #[arg(short = 'c', conflicts_with = "sh")]
    pub csh: bool,
    /// Print Bourne-shell commands.
    #[arg(short = 's')]
    pub sh: bool,
}

/// The options the programs pass each other and the tests use, hidden from --help.
#[derive(Debug, clap::Args)]
pub struct Internal {
    /// Hidden (tests): the system log's socket.
    #[arg(long, hide = true, value_name = "PATH", default_value = DEFAULT_SYSLOG_SOCKET)]
    pub syslog_socket: PathBuf,
    /// Internal: this process is the child of a forking mfa-agent.
    #[arg(long, hide = true)]
    pub detached: bool,
    /// Internal: the socket's folder was made for this agent; remove it at exit.
    #[arg(long, hide = true)]
    pub owns_dir: bool,
    /// Internal: stop when the process that started us is gone (`-- CMD` mode).
    #[arg(long, hide = true)]
    pub exit_with_parent: bool,
    /// Hidden (tests): connections served at once.
    #[arg(long, hide = true, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Hidden (tests): seconds for the rest of a frame once its first byte arrived.
    #[arg(long, hide = true, value_name = "SECS", default_value_t = DEFAULT_FRAME_TIMEOUT_SECS)]
    pub frame_timeout: u64,
    /// Internal: be the PKCS#11 helper process of PROVIDER (the agent starts it).
    #[arg(long, hide = true, value_name = "PROVIDER")]
    pub pkcs11_helper: Option<PathBuf>,
    /// Hidden (tests): seconds a confirmation without askpass waits for mfa-add --approve.
    #[arg(long, hide = true, value_name = "SECS")]
    pub approve_wait: Option<u64>,
}

/// The validated configuration: what to do and how the agent runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub settings: Settings,
}

impl Config {
    pub fn from_args(args: Args) -> Result<Config> {
        let shell = if args.syntax.csh {
            Shell::Csh
        } else if args.syntax.sh {
            Shell::Sh
        } else if std::env::var("SHELL").is_ok_and(|s| s.ends_with("csh")) {
            Shell::Csh
        } else {
            Shell::Sh
        };
        let mode = if let Some(provider) = args.internal.pkcs11_helper.clone() {
            Mode::Pkcs11Helper(provider)
        } else if args.kill {
            Mode::Kill(shell)
        } else if args.internal.detached || args.foreground || args.debug {
            if !args.command.is_empty() {
                return Err(Error::usage("a command cannot be combined with -D or -d"));
            }
            Mode::Foreground {
                detached: args.internal.detached,
            }
        } else if !args.command.is_empty() {
            Mode::Command(args.command)
        } else if args.reuse {
            Mode::Reuse(shell)
        } else {
            Mode::Fork(shell)
        };
        let default_lifetime = args.lifetime.as_deref().map(parse_lifetime).transpose()?;
        if args.internal.max_connections == 0 || args.internal.frame_timeout == 0 {
            return Err(Error::usage(
                "--max-connections and --frame-timeout must be at least 1",
            ));
        }
        Ok(Config {
            mode,
            settings: Settings {
                socket: args.bind,
                owns_dir: args.internal.owns_dir,
                exit_with_parent: args.internal.exit_with_parent,
                default_lifetime,
                debug: args.debug,
                shell,
                log_to: args.log,
                log_file: args.log_file,
                syslog_socket: args.internal.syslog_socket,
                limits: Limits {
                    max_connections: args.internal.max_connections,
                    frame_timeout: Duration::from_secs(args.internal.frame_timeout),
                    approve_wait: args
                        .internal
                        .approve_wait
                        .map_or(client::CONFIRM_TIMEOUT, Duration::from_secs),
                },
                provider_allowlist: args.providers,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config> {
        let args = Args::try_parse_from(std::iter::once("mfa-agent").chain(args.iter().copied()))
            .map_err(|e| Error::usage(e.to_string()))?;
        Config::from_args(args)
    }

    #[test]
    fn modes_from_flags() {
        assert_eq!(config(&["-s"]).expect("s").mode, Mode::Fork(Shell::Sh));
        assert_eq!(config(&["-c"]).expect("c").mode, Mode::Fork(Shell::Csh));
        assert_eq!(
            config(&["-D", "-a", "/x"]).expect("D").mode,
            Mode::Foreground { detached: false }
        );
        assert_eq!(
            config(&["-t", "10m", "--", "sh", "-c", "exit 3"])
                .expect("cmd")
                .mode,
            Mode::Command(vec!["sh".into(), "-c".into(), "exit 3".into()])
        );
        assert_eq!(
            config(&["-t", "1h"]).expect("t").settings.default_lifetime,
            Some(3600)
        );
        assert!(config(&["-t", "soon"]).is_err());
        assert!(config(&["-k", "-D"]).is_err());
        assert_eq!(
            config(&["-D", "--", "sh"]).map_err(|e| e.exit_code()).err(),
            Some(client::exit::Status::USAGE)
        );
        assert_eq!(
            config(&["-D"]).expect("D").settings.limits,
            Limits::default()
        );
        assert_eq!(
            config(&["-D", "-c"]).expect("D -c").settings.shell,
            Shell::Csh
        );
    }
}
