//! The terminal for mfa-add's passphrase prompt: read without echo, and put echo back when a
//! stop signal (^C) arrives at the prompt, since a shell running a script (`sh -c`) does not.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Mutex, Once};

use nix::sys::termios::{tcgetattr, tcsetattr, SetArg, Termios};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

/// The terminal's settings from before a passphrase prompt turned echo off, while it is open.
static SETTINGS_BEFORE_PROMPT: Mutex<Option<Termios>> = Mutex::new(None);

/// Asks on the terminal without echo; Err when there is no terminal to ask.
pub(crate) fn read_hidden(prompt: &str) -> std::io::Result<String> {
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
