//! Signals mfa-login receives: window resizes to forward to the PTY, and the termination
//! signals, which go to the child instead of killing mfa-login (so the terminal is restored
//! and the child's exit status is reported when it ends).

use std::io;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGWINCH};
use signal_hook::iterator::Signals;

/// The signals mfa-login handles.
pub const HANDLED: [i32; 5] = [SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT];

/// True for a signal that asks the program to end; it is passed on to the child.
pub fn is_termination(signal: i32) -> bool {
    matches!(signal, SIGTERM | SIGHUP | SIGINT | SIGQUIT)
}

pub fn is_resize(signal: i32) -> bool {
    signal == SIGWINCH
}

/// Calls `deliver` on a thread of its own for every handled signal, from now on.
pub fn watch(mut deliver: impl FnMut(i32) + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new(HANDLED)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                deliver(signal);
            }
        })?;
    Ok(())
}
