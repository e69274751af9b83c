//! Process hardening on Linux: no core files and not dumpable, so another process of the same
//! user cannot ptrace the agent or read its memory through /proc, and a crash leaves no key on
//! disk. Called first thing in every mode.

use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::{umask, Mode};

use crate::{Error, Result};

/// Turns off core dumps and ptrace/`/proc/PID/mem` access by the same uid, and sets a
/// restrictive umask so every file and socket the process creates is private.
pub(crate) fn harden_process() -> Result<()> {
    umask(Mode::from_bits_truncate(0o077));
    // The agent starts no program that needs core files: the hard limit goes too.
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|e| Error::Hardening {
        what: "disable core dumps",
        source: e.into(),
    })?;
    client::harden::forbid_tracing().map_err(|source| Error::Hardening {
        what: "make the process non-dumpable",
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_is_not_dumpable_and_has_no_core_limit() {
        harden_process().expect("harden");
        let (soft, hard) = nix::sys::resource::getrlimit(Resource::RLIMIT_CORE).expect("rlimit");
        assert_eq!((soft, hard), (0, 0));
        #[cfg(target_os = "linux")]
        assert!(!nix::sys::prctl::get_dumpable().expect("get_dumpable"));
    }
}
