//! mfa-doctor's forwarding findings: on an ssh session, how the agent got here (`ssh -R`,
//! OpenSSH 10.1+'s `~/.ssh/agent` sockets, a home folder too long for one); on any machine,
//! `ForwardAgent` lines in `~/.ssh/config` that forward nothing or another agent.

use std::path::{Path, PathBuf};

use super::{Doctor, Level};

impl Doctor {
    /// On an ssh session: how the agent got here; on any machine: ssh's ForwardAgent lines.
    pub(super) fn forwarding(&mut self, mfa_sock: Option<&Path>, ssh_sock: Option<&Path>) {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        if let Some(from) = std::env::var_os("SSH_CONNECTION").filter(|v| !v.is_empty()) {
            let from = from.to_string_lossy();
            let client = from.split_whitespace().next().unwrap_or("?");
            self.say(
                Level::Note,
                "ssh",
                format!("this is an ssh session from {client}"),
                None,
            );
            if mfa_sock.is_some() {
                self.say(
                    Level::Note,
                    "ssh",
                    "MFA_AUTH_SOCK on an ssh session: a socket forwarded with ssh -R; mfa-agent \
                     cannot tell which host asks (its --forwarded policy applies)"
                        .to_owned(),
                    None,
                );
            }
            let in_agent_folder = match (ssh_sock, &home) {
                (Some(sock), Some(home)) => sock.starts_with(home.join(".ssh/agent")),
                _ => false,
            };
            if in_agent_folder {
                self.say(
                    Level::Note,
                    "ssh",
                    "SSH_AUTH_SOCK is in ~/.ssh/agent/: forwarded by OpenSSH 10.1 or later"
                        .to_owned(),
                    None,
                );
            }
            // The socket sshd makes is `~/.ssh/agent/s.HASH.sshd.RANDOM`: see the client's
            // `longest_home_for_forwarding` for the rule.
            let longest = client::discover::longest_home_for_forwarding();
            let long_home = home
                .as_ref()
                .filter(|home| home.as_os_str().len() > longest);
            if let (None, Some(home)) = (ssh_sock, long_home) {
                self.say(
                    Level::Warning,
                    "ssh",
                    format!(
                        "no forwarded agent, and the home folder {} is longer than {} bytes: \
                         OpenSSH 10.1+ sshd cannot make its forwarded agent socket there",
                        home.display(),
                        longest
                    ),
                    Some(
                        "forward with ssh -R to a short path and set MFA_AUTH_SOCK to it"
                            .to_owned(),
                    ),
                );
            }
        }
        if let Some(home) = home {
            self.ssh_config(&home.join(".ssh/config"));
        }
    }

    /// `ForwardAgent` lines that forward another agent than mfa-agent, or nothing.
    fn ssh_config(&mut self, path: &Path) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        for (number, line) in text.lines().enumerate() {
            let Some(value) = forward_agent_value(line) else {
                continue;
            };
            let at = format!("{} line {}", path.display(), number + 1);
            if let Some(bare) = value.strip_prefix('$').filter(|v| !v.starts_with('{')) {
                // OpenSSH (9.2 tried) expands only ${VAR} there: $VAR is taken as a path,
                // fails, and ssh forwards SSH_AUTH_SOCK's agent instead.
                self.say(
                    Level::Warning,
                    "ssh",
                    format!("{at}: ForwardAgent {value} is read as a path, not the variable"),
                    Some(format!("write it with braces: ForwardAgent ${{{bare}}}")),
                );
                continue;
            }
            let variable = value.strip_prefix("${").and_then(|v| v.strip_suffix('}'));
            match variable {
                Some(name) if std::env::var_os(name).is_none_or(|v| v.is_empty()) => self.say(
                    Level::Warning,
                    "ssh",
                    format!("{at}: ForwardAgent {value}, but {name} is not set here: ssh forwards nothing"),
                    Some("start the agent first (eval \"$(mfa-agent --reuse)\") in the shell that runs ssh".to_owned()),
                ),
                Some(_) => {}
                None if value.eq_ignore_ascii_case("yes") => self.say(
                    Level::Note,
                    "ssh",
                    format!("{at}: ForwardAgent yes forwards SSH_AUTH_SOCK's agent, not mfa-agent"),
                    Some("forward mfa-agent with ForwardAgent ${MFA_AUTH_SOCK}".to_owned()),
                ),
                None => {}
            }
        }
    }
}

/// The value of an ssh_config `ForwardAgent` line (`ForwardAgent X` or `ForwardAgent=X`).
fn forward_agent_value(line: &str) -> Option<&str> {
    let line = line.trim();
    let (keyword, rest) = line.split_at(line.find(|c: char| c.is_whitespace() || c == '=')?);
    if !keyword.eq_ignore_ascii_case("ForwardAgent") {
        return None;
    }
    let value = rest.trim_start().strip_prefix('=').unwrap_or(rest).trim();
    let value = value.trim_matches('"');
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_agent_lines_are_read_as_ssh_reads_them() {
        assert_eq!(
            forward_agent_value("ForwardAgent ${MFA_AUTH_SOCK}"),
            Some("${MFA_AUTH_SOCK}")
        );
        assert_eq!(forward_agent_value("  forwardagent=yes"), Some("yes"));
        assert_eq!(
            forward_agent_value("ForwardAgent = \"$SOCK\""),
            Some("$SOCK")
        );
        assert_eq!(forward_agent_value("ForwardX11 yes"), None);
        assert_eq!(forward_agent_value("ForwardAgent"), None);
    }
}
