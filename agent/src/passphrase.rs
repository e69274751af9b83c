//! Where mfa-add gets passphrases: a file named with --passphrase-file, else the terminal (no
//! echo, via /dev/tty), else the MFA_ASKPASS program. Never the command line.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, Once};

use nix::sys::termios::{tcgetattr, tcsetattr, SetArg, Termios};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use zeroize::Zeroizing;

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
            PassphraseSource::File(path) => read_passphrase_file(path),
            PassphraseSource::Interactive => match prompt_on_terminal(prompt) {
                Ok(p) => Ok(Zeroizing::new(p)),
                Err(tty_error) => match std::env::var_os("MFA_ASKPASS").filter(|v| !v.is_empty()) {
                    Some(program) => askpass(&program, prompt),
                    None => Err(Error::WithHint {
                        message: format!("a passphrase is needed but there is no terminal to ask ({tty_error})"),
                        hint: "use --passphrase-file FILE, or set MFA_ASKPASS to a program that prints it".into(),
                    }),
                },
            },
        }
    }
}

/// The terminal's settings from before a passphrase prompt turned echo off, while it is open.
static SETTINGS_BEFORE_PROMPT: Mutex<Option<Termios>> = Mutex::new(None);

/// Asks on the terminal without echo. A stop signal (^C) at the prompt puts the terminal's
/// echo back before mfa-add dies: a shell running a script (`sh -c`) does not.
fn prompt_on_terminal(prompt: &str) -> std::io::Result<String> {
    if let Ok(settings) = File::open("/dev/tty").and_then(|tty| Ok(tcgetattr(&tty)?)) {
        if let Ok(mut saved) = SETTINGS_BEFORE_PROMPT.lock() {
            *saved = Some(settings);
        }
        restore_terminal_on_stop_signals();
    }
    let answer = rpassword::prompt_password(prompt);
    if matches!(&answer, Err(e) if e.kind() == std::io::ErrorKind::Interrupted) {
        // A stop signal broke the read: the watcher is ending mfa-add; do not report the
        // prompt as failed meanwhile.
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
    if let Ok(mut saved) = SETTINGS_BEFORE_PROMPT.lock() {
        *saved = None;
    }
    answer
}

/// Once per process: on SIGINT, SIGTERM, SIGHUP or SIGQUIT, restores the settings saved by an
/// open prompt, then dies of the signal as it would have without this.
fn restore_terminal_on_stop_signals() {
    static WATCH: Once = Once::new();
    WATCH.call_once(|| {
        let Ok(mut signals) =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
        else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("tty-restore".into())
            .spawn(move || {
                for signal in signals.forever() {
                    if let Ok(saved) = SETTINGS_BEFORE_PROMPT.lock() {
                        let tty = OpenOptions::new().write(true).open("/dev/tty");
                        if let (Some(settings), Ok(mut tty)) = (saved.as_ref(), tty) {
                            let _ = tcsetattr(&tty, SetArg::TCSANOW, settings);
                            let _ = tty.write_all(b"\n");
                        }
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                }
            });
    });
}

/// The first line of `path`, without its line ending.
pub fn read_passphrase_file(path: &Path) -> Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(Error::io(format!(
            "cannot read passphrase file {}",
            path.display()
        )))?;
    let line = text.split(['\n']).next().unwrap_or("");
    Ok(Zeroizing::new(
        line.strip_suffix('\r').unwrap_or(line).to_owned(),
    ))
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
        return Err(Error::Agent("the passphrase prompt was cancelled".into()));
    }
    let text = std::str::from_utf8(&stdout).map_err(|_| {
        Error::Agent("the askpass program printed something that is not UTF-8".into())
    })?;
    Ok(Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_gives_its_first_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p");
        std::fs::write(&path, "s3cret pass\r\nignored\n").expect("write");
        assert_eq!(
            read_passphrase_file(&path).expect("read").as_str(),
            "s3cret pass"
        );
        std::fs::write(&path, "").expect("write");
        assert_eq!(read_passphrase_file(&path).expect("read").as_str(), "");
    }
}
