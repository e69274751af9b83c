//! The agent's log file: `--log-file`, else the default in the user's state folder, opened
//! the safe way (`client::files`), and rotated by the writer (`log::audit`).

use std::fs::File;
use std::path::PathBuf;

use super::settings::absolute;
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
            let path = client::discover::default_log_file().ok_or(Error::NoStateDir)?;
            if let Some(dir) = path.parent() {
                create_private_dir_all(dir)
                    .map_err(Error::io(format!("create {}", dir.display())))?;
            }
            path
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
