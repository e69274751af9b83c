//! The agent's log file: `--log-file`, else the default in the user's state folder, opened
//! the safe way (`client::files`), and rotated by the writer (`server::audit`).

use std::fs::File;
use std::path::PathBuf;

use super::absolute;
use crate::sys::create_private_dir_all;
use crate::{Error, Result};

/// The forked agent's log: `--log-file`, else `$XDG_STATE_HOME/cloudhsm-mfa/agent.log`, else
/// `~/.local/state/cloudhsm-mfa/agent.log`; appended, a new file 0600. Only the default folder
/// is created (0700); a `--log-file` folder must exist. Never through a link, never a file
/// of someone else's or one others can read (see [`client::files::open_private_append`]).
pub(super) fn open_log_file(explicit: Option<PathBuf>) -> Result<(File, PathBuf)> {
    let path = match explicit {
        Some(p) => p,
        None => {
            let state = std::env::var_os("XDG_STATE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
                .ok_or(Error::NoStateDir)?;
            let dir = state.join("cloudhsm-mfa");
            create_private_dir_all(&dir).map_err(Error::io(format!("create {}", dir.display())))?;
            dir.join("agent.log")
        }
    };
    let file = client::files::open_private_append(&path).map_err(|source| Error::UnsafeFile {
        what: "the log file",
        source,
    })?;
    // The child opens it again by this name (to rotate it): a name relative to here would
    // not mean the same file there.
    let path = absolute(&path)?;
    Ok((file, path))
}
