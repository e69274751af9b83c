//! The user's terminal: its settings and size, raw mode while mfa-login runs, and the one-line
//! notices mfa-login prints beside the child's output.
//!
//! Raw mode is entered only when stdin is a terminal and is undone on every way out: the
//! guard's `Drop`, an explicit [`restore`] before `exit`, and a panic hook. SIGTERM and SIGHUP
//! do not kill mfa-login (see `sys::signals`); they reach the child, whose exit then takes
//! the normal way out.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::{Mutex, Once};

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use portable_pty::PtySize;

/// The settings to put back, while raw mode is on.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);
static PANIC_HOOK: Once = Once::new();

/// A terminal's settings, handed from the user's terminal to COMMAND's PTY.
#[derive(Debug, Clone)]
pub(crate) struct TerminalSettings(Termios);

impl TerminalSettings {
    pub(super) fn termios(&self) -> &Termios {
        &self.0
    }
}

/// The terminal settings of stdin, when it is a terminal.
pub(crate) fn stdin_settings() -> Option<TerminalSettings> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    tcgetattr(&stdin).ok().map(TerminalSettings)
}

/// The size of the user's terminal (stdin, else stdout, else stderr); 24x80 when none is one.
pub(crate) fn window_size() -> PtySize {
    let sizes = [
        rustix::termios::tcgetwinsize(std::io::stdin()),
        rustix::termios::tcgetwinsize(std::io::stdout()),
        rustix::termios::tcgetwinsize(std::io::stderr()),
    ];
    for ws in sizes.into_iter().flatten() {
        if ws.ws_row > 0 && ws.ws_col > 0 {
            return PtySize {
                rows: ws.ws_row,
                cols: ws.ws_col,
                pixel_width: ws.ws_xpixel,
                pixel_height: ws.ws_ypixel,
            };
        }
    }
    PtySize::default()
}

/// COMMAND's output on its way to the user: stdout, written unbuffered, one `write` per piece
/// as `script` does. (std's stdout is line-buffered: it would split each piece at its last
/// newline and write the rest on flush, two system calls where one does.)
#[derive(Debug)]
pub(crate) struct OutputWriter {
    /// A duplicate of stdout's descriptor; `None` when it could not be made.
    stdout: Option<File>,
}

impl OutputWriter {
    pub(crate) fn new() -> Self {
        let stdout = std::io::stdout().as_fd().try_clone_to_owned().ok();
        OutputWriter {
            stdout: stdout.map(File::from),
        }
    }

    /// Writes a piece of output; a failure (stdout closed) drops it, as the output of a
    /// command whose terminal went away.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        let _ = match &mut self.stdout {
            Some(file) => file.write_all(bytes),
            None => std::io::stdout()
                .lock()
                .write_all(bytes)
                .and_then(|()| std::io::stdout().lock().flush()),
        };
    }
}

/// Raw mode on the user's terminal, undone when dropped.
#[derive(Debug)]
pub(crate) struct RawMode(());

impl RawMode {
    /// Puts stdin's terminal in raw mode; `None` when stdin is not a terminal.
    pub(crate) fn enter() -> std::io::Result<Option<RawMode>> {
        let Some(original) = stdin_settings() else {
            return Ok(None);
        };
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        let original = original.0;
        let mut raw = original.clone();
        cfmakeraw(&mut raw);
        if let Ok(mut saved) = SAVED.lock() {
            *saved = Some(original);
        }
        tcsetattr(std::io::stdin(), SetArg::TCSANOW, &raw)?;
        Ok(Some(RawMode(())))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// The key that suspends a job (^Z), as typed in raw mode.
pub(crate) const SUSPEND_KEY: u8 = 0x1a;

/// ^Z at mfa-login's terminal: mfa-login stops as the shell's job (COMMAND runs in a session
/// of its own, where the kernel would drop the stop signal, so it waits where it is), with the
/// user's terminal settings back; once continued (`fg`), raw mode again. Without raw mode
/// (nobody at a terminal) nothing is done.
pub(crate) fn suspend() {
    let original = match SAVED.lock() {
        Ok(saved) => saved.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let Some(original) = original else {
        return;
    };
    let _ = tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &original);
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTSTP);
    let mut raw = original;
    cfmakeraw(&mut raw);
    let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &raw);
}

/// Puts the user's terminal settings back, if raw mode is on. Safe to call more than once.
pub(crate) fn restore() {
    let saved = match SAVED.lock() {
        Ok(mut saved) => saved.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    if let Some(original) = saved {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &original);
    }
}

fn raw_mode_on() -> bool {
    SAVED.lock().map(|s| s.is_some()).unwrap_or(false)
}

/// Prints one line to the user's terminal (stderr), on a line of its own even when the
/// child's prompt is waiting at the end of the current line. Never goes to the child.
pub(crate) fn notice(line: &str) {
    let stderr = std::io::stderr();
    let text = if raw_mode_on() {
        format!("\r\n{}\r\n", line.replace('\n', "\r\n"))
    } else if stderr.is_terminal() {
        format!("\n{line}\n")
    } else {
        format!("{line}\n")
    };
    let mut err = stderr.lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// `line` dimmed for a terminal that shows colour (stderr is one, and `NO_COLOR` is unset):
/// what mfa-login did, set apart from what the CLI says.
pub(crate) fn dim(line: &str) -> String {
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    if colour {
        format!("\x1b[2m{line}\x1b[0m")
    } else {
        line.to_owned()
    }
}

/// Line ends for text mfa-login writes itself: `\r\n` while raw mode is on.
pub(crate) fn newline() -> &'static str {
    if raw_mode_on() {
        "\r\n"
    } else {
        "\n"
    }
}
