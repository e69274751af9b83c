//! Signals mfa-login receives: window resizes to forward to the PTY, and the termination
//! signals, which go to the child instead of killing mfa-login (so the terminal is restored
//! and the child's exit status is reported when it ends).

use std::io;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGWINCH};
use signal_hook::iterator::Signals;

use super::{ChildSignal, ReceivedSignal};

/// The signals mfa-login handles, as it reports them.
const HANDLED: [(i32, ReceivedSignal); 5] = [
    (SIGWINCH, ReceivedSignal::Resize),
    (SIGTERM, ReceivedSignal::Pass(ChildSignal::Terminate)),
    (SIGHUP, ReceivedSignal::Pass(ChildSignal::Hangup)),
    (SIGINT, ReceivedSignal::Pass(ChildSignal::Interrupt)),
    (SIGQUIT, ReceivedSignal::Pass(ChildSignal::Quit)),
];

/// Calls `deliver` on a thread of its own for every handled signal, from now on.
pub(crate) fn watch(mut deliver: impl FnMut(ReceivedSignal) + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new(HANDLED.map(|(number, _)| number))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for number in signals.forever() {
                if let Some(&(_, signal)) = HANDLED.iter().find(|(n, _)| *n == number) {
                    deliver(signal);
                }
            }
        })?;
    Ok(())
}

/// The Unix signal for a [`ChildSignal`].
pub(super) fn to_unix(signal: ChildSignal) -> nix::sys::signal::Signal {
    use nix::sys::signal::Signal;
    match signal {
        ChildSignal::Terminate => Signal::SIGTERM,
        ChildSignal::Hangup => Signal::SIGHUP,
        ChildSignal::Interrupt => Signal::SIGINT,
        ChildSignal::Quit => Signal::SIGQUIT,
        ChildSignal::Kill => Signal::SIGKILL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_child_signal_maps_to_the_signal_of_its_name() {
        for signal in [
            ChildSignal::Terminate,
            ChildSignal::Hangup,
            ChildSignal::Interrupt,
            ChildSignal::Quit,
            ChildSignal::Kill,
        ] {
            assert_eq!(to_unix(signal).as_str(), signal.name());
        }
    }

    #[test]
    fn every_handled_termination_signal_is_passed_on_as_itself() {
        for (number, received) in HANDLED {
            match received {
                ReceivedSignal::Resize => assert_eq!(number, SIGWINCH),
                ReceivedSignal::Pass(signal) => assert_eq!(to_unix(signal) as i32, number),
            }
        }
    }
}
