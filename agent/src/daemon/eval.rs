//! The lines mfa-agent prints for `eval`, as ssh-agent prints them: set the variables when an
//! agent starts, unset them when `-k` stops it; sh or csh syntax.

use std::path::Path;

use client::discover::{PID_VARIABLE as PID, SOCKET_VARIABLE as SOCK};

use super::settings::Shell;

/// The lines that set `MFA_AUTH_SOCK` and `MFA_AGENT_PID`; `reused`: the agent ran already.
pub(super) fn eval_lines(shell: Shell, socket: &Path, pid: u32, reused: bool) -> String {
    let sock = shell_quote(&socket.to_string_lossy());
    let echo = if reused {
        format!("echo Agent pid {pid}, reused;")
    } else {
        format!("echo Agent pid {pid};")
    };
    match shell {
        Shell::Sh => {
            format!("{SOCK}={sock}; export {SOCK};\n{PID}={pid}; export {PID};\n{echo}\n")
        }
        Shell::Csh => format!("setenv {SOCK} {sock};\nsetenv {PID} {pid};\n{echo}\n"),
    }
}

/// The lines that unset them after `-k`.
pub(super) fn unset_lines(shell: Shell, pid: u32) -> String {
    match shell {
        Shell::Sh => {
            format!("unset {SOCK};\nunset {PID};\necho Agent pid {pid} killed;\n")
        }
        Shell::Csh => {
            format!("unsetenv {SOCK};\nunsetenv {PID};\necho Agent pid {pid} killed;\n")
        }
    }
}

/// Single-quotes a path when it holds anything a shell would interpret.
fn shell_quote(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%".contains(c));
    if plain && !text.is_empty() {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_lines_match_ssh_agent() {
        assert_eq!(
            eval_lines(Shell::Sh, Path::new("/run/a/agent.sock"), 42, false),
            "MFA_AUTH_SOCK=/run/a/agent.sock; export MFA_AUTH_SOCK;\nMFA_AGENT_PID=42; export MFA_AGENT_PID;\necho Agent pid 42;\n"
        );
        assert_eq!(
            eval_lines(Shell::Csh, Path::new("/a b"), 7, true),
            "setenv MFA_AUTH_SOCK '/a b';\nsetenv MFA_AGENT_PID 7;\necho Agent pid 7, reused;\n"
        );
        assert_eq!(
            unset_lines(Shell::Csh, 7),
            "unsetenv MFA_AUTH_SOCK;\nunsetenv MFA_AGENT_PID;\necho Agent pid 7 killed;\n"
        );
    }

    #[test]
    fn quotes_what_a_shell_would_split() {
        assert_eq!(shell_quote("/tmp/x"), "/tmp/x");
        assert_eq!(shell_quote("/tmp/it's"), "'/tmp/it'\\''s'");
    }
}
