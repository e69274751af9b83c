//! mfa-doctor: whether a hands-free login would work here, and if not, why; one line per
//! finding, each with what to do. It asks the agent (which one the environment names, its
//! kind, lock and keys), looks for the CloudHSM CLI, the agent's log, and the forwarding
//! case (an ssh session, OpenSSH 10.1+'s `~/.ssh/agent` sockets, `ForwardAgent` lines in
//! `~/.ssh/config`). It changes nothing.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use client::{AgentKey, AgentKind, Connection, SOCKET_VARIABLE, SSH_SOCKET_VARIABLE};

use crate::login::{resolve_command, CLOUDHSM_BIN};

// The forwarding case: an ssh session, OpenSSH 10.1+'s agent sockets, `ForwardAgent` lines.
mod forwarding;

/// How long the agent has to answer each question.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Note,
    Warning,
    /// A login would not work.
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    /// The ANSI colour of its word on a terminal.
    fn colour(self) -> &'static str {
        match self {
            Level::Ok => "32",
            Level::Note => "2",
            Level::Warning => "33",
            Level::Error => "31",
        }
    }
}

/// One thing the doctor found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// What it is about: `agent`, `key`, `log`, `cli`, `ssh`.
    pub subject: &'static str,
    pub text: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Finding {
    /// The finding's one line; the level's word in colour when `colour`.
    pub fn line(&self, colour: bool) -> String {
        let word = self.level.word();
        let mut line = if colour {
            format!(
                "\x1b[{}m{word:<7}\x1b[0m {}: {}",
                self.level.colour(),
                self.subject,
                self.text
            )
        } else {
            format!("{word:<7} {}: {}", self.subject, self.text)
        };
        if let Some(hint) = &self.hint {
            let _ = write!(line, " (fix: {hint})");
        }
        line
    }
}

/// Everything the doctor finds; `key`: the `--key` a login would be given.
pub fn examine(key: Option<&str>) -> Vec<Finding> {
    let mut doctor = Doctor::default();
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mfa_sock = env(SOCKET_VARIABLE).map(PathBuf::from);
    let ssh_sock = env(SSH_SOCKET_VARIABLE).map(PathBuf::from);
    let agent = match (&mfa_sock, &ssh_sock) {
        (Some(path), _) => doctor.agent(path, SOCKET_VARIABLE),
        (None, Some(path)) => doctor.agent(path, SSH_SOCKET_VARIABLE),
        (None, None) => {
            doctor.no_agent_variable();
            None
        }
    };
    if let Some(agent) = agent {
        doctor.keys(agent, key);
    }
    if mfa_sock.is_some() {
        doctor.log_file();
    }
    doctor.cli();
    doctor.forwarding(mfa_sock.as_deref(), ssh_sock.as_deref());
    doctor.findings
}

#[derive(Default)]
struct Doctor {
    findings: Vec<Finding>,
}

impl Doctor {
    fn say(&mut self, level: Level, subject: &'static str, text: String, hint: Option<String>) {
        self.findings.push(Finding {
            level,
            subject,
            text,
            hint,
        });
    }

    /// The agent at `path` (named by the variable `var`), when a login could use it.
    fn agent(&mut self, path: &Path, var: &str) -> Option<Connection> {
        let shown = path.display();
        let mut agent = match client::Agent::at(path, ASK_TIMEOUT).connect() {
            Ok(agent) => agent,
            Err(err) => {
                self.say(
                    Level::Error,
                    "agent",
                    format!("{var}: {err}"),
                    Some(err.hint()),
                );
                return None;
            }
        };
        let kind = match agent.kind() {
            Ok(kind) => kind,
            Err(err) => {
                self.say(
                    Level::Error,
                    "agent",
                    format!("{var}={shown}: {err}"),
                    Some(err.hint()),
                );
                return None;
            }
        };
        let pid = agent
            .server_pid()
            .map_or_else(String::new, |pid| format!(" (pid {pid})"));
        match kind {
            AgentKind::MfaAgent => {
                let how = if var == SOCKET_VARIABLE {
                    String::new()
                } else {
                    " (forwarded: MFA_AUTH_SOCK is not set, SSH_AUTH_SOCK names it)".to_owned()
                };
                self.say(
                    Level::Ok,
                    "agent",
                    format!("mfa-agent at {shown}{pid}{how}"),
                    None,
                );
                Some(agent)
            }
            AgentKind::Locked => {
                self.say(
                    Level::Error,
                    "agent",
                    format!("mfa-agent at {shown}{pid} is locked: it signs nothing"),
                    Some("unlock it: mfa-add -X".to_owned()),
                );
                None
            }
            AgentKind::NotMfaAgent => {
                let text = if var == SOCKET_VARIABLE {
                    format!("MFA_AUTH_SOCK={shown} is an agent without the token-sign extension, not mfa-agent (a plain ssh-agent?)")
                } else {
                    format!("MFA_AUTH_SOCK is not set, and SSH_AUTH_SOCK={shown} is a plain ssh-agent, not mfa-agent")
                };
                self.say(
                    Level::Error,
                    "agent",
                    text,
                    Some(
                        "start mfa-agent and point MFA_AUTH_SOCK at it: eval \"$(mfa-agent \
                         --reuse)\"; on a remote host forward it: ssh -o \
                         'ForwardAgent=${MFA_AUTH_SOCK}' HOST"
                            .to_owned(),
                    ),
                );
                None
            }
        }
    }

    fn no_agent_variable(&mut self) {
        let running = client::discover::per_user_socket()
            .filter(|socket| client::Agent::at(socket, ASK_TIMEOUT).connect().is_ok());
        let hint = match running {
            Some(socket) => format!(
                "an agent runs at {}: eval \"$(mfa-agent --reuse)\" names it in this shell",
                socket.display()
            ),
            None => "start one and load your key: eval \"$(mfa-agent --reuse)\"; mfa-add KEY \
                     (on a remote host, forward it: ssh -o 'ForwardAgent=${MFA_AUTH_SOCK}' HOST)"
                .to_owned(),
        };
        self.say(
            Level::Error,
            "agent",
            "no agent: neither MFA_AUTH_SOCK nor SSH_AUTH_SOCK is set".to_owned(),
            Some(hint),
        );
    }

    /// The agent's keys, and whether a login knows which one to use.
    fn keys(&mut self, mut agent: Connection, key: Option<&str>) {
        // Every key with its purpose; a login chooses among the token keys only.
        let purposes = agent.purposes().ok().flatten().unwrap_or_default();
        let all = agent.keys().unwrap_or_default();
        for each in all.iter().filter(|_| all.len() > 1) {
            let purpose = purposes
                .iter()
                .find(|(blob, _)| *blob == each.blob)
                .map_or("?", |(_, purpose)| purpose.as_str());
            self.say(
                Level::Note,
                "key",
                format!("{} [{purpose}]", describe(each)),
                None,
            );
        }
        let keys = match agent.token_keys() {
            Ok(keys) if keys.is_empty() => {
                return self.say(
                    Level::Error,
                    "key",
                    "mfa-agent holds no key".to_owned(),
                    Some(
                        "load your MFA key: mfa-add KEY (from a token: mfa-add -s PROVIDER)"
                            .to_owned(),
                    ),
                )
            }
            Ok(keys) => keys,
            Err(err) => {
                return self.say(Level::Error, "key", err.to_string(), Some(err.hint()));
            }
        };
        match client::keys::choose(keys.clone(), key) {
            Ok(chosen) => {
                let how = key.map_or_else(String::new, |key| format!(" (--key {key})"));
                self.say(
                    Level::Ok,
                    "key",
                    format!("a login signs with {}{how}", describe(&chosen)),
                    None,
                );
            }
            Err(client::Error::SeveralKeys { .. }) => self.say(
                Level::Error,
                "key",
                format!(
                    "mfa-agent holds {} keys for CloudHSM tokens and nothing chooses one: \
                     mfa-login would stop at the token prompt",
                    keys.len()
                ),
                Some("name it: mfa-login --key FP (mfa-doctor --key FP checks it)".to_owned()),
            ),
            Err(err) => self.say(Level::Error, "key", err.to_string(), Some(err.hint())),
        }
    }

    /// Where a forked agent logs by default.
    fn log_file(&mut self) {
        let Some(path) = client::discover::default_log_file() else {
            return;
        };
        if path.exists() {
            self.say(
                Level::Note,
                "log",
                format!("a forked agent logs to {}", path.display()),
                None,
            );
        } else {
            self.say(
                Level::Note,
                "log",
                format!(
                    "no log at {}: the agent logs elsewhere (stderr with -D/-d, the system log \
                     with --log syslog, or its --log-file)",
                    path.display()
                ),
                None,
            );
        }
    }

    fn cli(&mut self) {
        match resolve_command(OsStr::new("cloudhsm-cli")) {
            Ok(path) => {
                let note = if path.starts_with(CLOUDHSM_BIN) {
                    " (not on PATH; mfa-login finds it there)"
                } else {
                    ""
                };
                self.say(
                    Level::Ok,
                    "cli",
                    format!("cloudhsm-cli is {}{note}", path.display()),
                    None,
                );
            }
            Err(err) => self.say(
                Level::Error,
                "cli",
                format!("{err} (not on PATH, not in {CLOUDHSM_BIN})"),
                Some(
                    "install the AWS CloudHSM client where you log in; where only the key is \
                     kept, log in over ssh with the agent forwarded instead"
                        .to_owned(),
                ),
            ),
        }
    }
}

/// A key as `mfa-add -l` shows it.
fn describe(key: &AgentKey) -> String {
    format!(
        "{} {} (RSA {} bits)",
        key.fingerprint,
        key.comment,
        key.bits()
    )
}

/// The exit status: 0 when nothing stops a login.
pub fn healthy(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.level != Level::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_one_line_with_its_fix() {
        let finding = Finding {
            level: Level::Error,
            subject: "agent",
            text: "mfa-agent is locked".into(),
            hint: Some("mfa-add -X".into()),
        };
        assert_eq!(
            finding.line(false),
            "error   agent: mfa-agent is locked (fix: mfa-add -X)"
        );
        assert!(finding
            .line(true)
            .starts_with("\x1b[31merror  \x1b[0m agent:"));
        assert!(!healthy(&[finding]));
    }
}
