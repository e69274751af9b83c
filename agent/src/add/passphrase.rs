//! Where mfa-add gets passphrases: a file named with --passphrase-file, else the terminal (no
//! echo), else the MFA_ASKPASS program (else SSH_ASKPASS, as ssh-add asks). Never the command
//! line. Token PINs come the same way.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::sys::read_hidden;
use crate::{Error, Result};

/// Tries a person gets at the terminal before mfa-add gives up on a key.
pub const TERMINAL_TRIES: u32 = 3;

/// Where passphrases come from.
#[derive(Debug, Clone)]
pub enum PassphraseSource {
    /// The first line of a file (trailing newline removed).
    File(PathBuf),
    /// The terminal, else MFA_ASKPASS.
    Interactive,
}

impl PassphraseSource {
    /// How many tries this source gets: a file's answer does not change.
    pub fn tries(&self) -> u32 {
        match self {
            PassphraseSource::File(_) => 1,
            PassphraseSource::Interactive => TERMINAL_TRIES,
        }
    }

    /// Reads one passphrase, prompting with `prompt` when a person is asked.
    pub fn read(&self, prompt: &str) -> Result<Zeroizing<String>> {
        match self {
            PassphraseSource::File(path) => Ok(client::secret::read_secret_file(
                "the passphrase file",
                path,
            )?),
            PassphraseSource::Interactive => ask(prompt, Error::NoTerminal),
        }
    }

    /// Reads a token PIN from the terminal, else the askpass program.
    pub fn read_pin(&self, prompt: &str) -> Result<Zeroizing<String>> {
        ask(prompt, Error::NoTerminalForPin)
    }
}

/// The terminal, else MFA_ASKPASS, else SSH_ASKPASS; `no_terminal` names the failure when
/// there is none of them.
fn ask(prompt: &str, no_terminal: fn(std::io::Error) -> Error) -> Result<Zeroizing<String>> {
    match read_hidden(prompt) {
        Ok(p) => Ok(Zeroizing::new(p)),
        Err(tty_error) => match askpass_program() {
            Some(program) => askpass(&program, prompt),
            None => Err(no_terminal(tty_error)),
        },
    }
}

fn askpass_program() -> Option<std::ffi::OsString> {
    ["MFA_ASKPASS", "SSH_ASKPASS"]
        .iter()
        .find_map(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
}

fn askpass(program: &std::ffi::OsStr, prompt: &str) -> Result<Zeroizing<String>> {
    let output = Command::new(program)
        .arg(prompt)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(Error::io(format!(
            "cannot run {}",
            program.to_string_lossy()
        )))?;
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(Error::PromptCancelled);
    }
    let text = std::str::from_utf8(&stdout).map_err(|_| Error::AskpassNotUtf8)?;
    Ok(Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}
