//! Where the agent's socket goes: a fresh private folder (mkdtemp, 0700) under
//! `$XDG_RUNTIME_DIR`, else `$TMPDIR`, else /tmp; or a folder named with `-a`, checked for who
//! else can reach it.

use std::path::{Path, PathBuf};

use crate::sys::{create_private_dir_all, dir_access, effective_uid, set_mode};
use crate::{Error, Result};

/// Where the default socket's folder is made: `$XDG_RUNTIME_DIR`, else `$TMPDIR`, else /tmp.
pub(super) fn default_socket_base() -> PathBuf {
    for var in ["XDG_RUNTIME_DIR", "TMPDIR"] {
        if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(dir);
            if dir.is_dir() {
                return dir;
            }
        }
    }
    PathBuf::from("/tmp")
}

/// Makes a fresh private folder (mkdtemp, 0700) under `base` and returns the socket path in it.
pub(super) fn make_default_socket_path(base: &Path) -> Result<PathBuf> {
    let dir = tempfile::Builder::new()
        .prefix("mfa-agent.")
        .tempdir_in(base)
        .map_err(Error::io(format!(
            "cannot create a private folder in {}",
            base.display()
        )))?
        .keep();
    set_mode(&dir, 0o700).map_err(Error::io(format!("chmod 0700 {}", dir.display())))?;
    Ok(dir.join("agent.sock"))
}

/// Makes sure the socket's folder exists and only we can enter it.
///
/// A missing folder is created 0700. Every folder up the path must be ours or root's and not
/// writable by others unless sticky (the walk of `client::files`, as for token files): in a
/// folder someone else can rename things in, the socket clients find could be theirs. The
/// folder itself must be ours, or a root-owned sticky folder such as /tmp; if others can enter
/// it we still bind (the socket itself is 0600 and every peer's uid is checked) but return a
/// warning to log.
pub(super) fn prepare_socket_dir(socket: &Path) -> Result<Option<String>> {
    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        create_private_dir_all(&dir)
            .map_err(Error::io(format!("cannot create {}", dir.display())))?;
    }
    client::files::open_folder(&dir).map_err(|source| Error::UnsafeFile {
        what: "the socket's folder",
        source,
    })?;
    let access = dir_access(&dir).map_err(Error::io(format!("stat {}", dir.display())))?;
    if access.shared_sticky {
        // /tmp and the like: others cannot replace our socket, and every peer's uid is
        // checked, but anyone can see it; ssh-agent -a allows this too.
        return Ok(Some(format!(
            "warning: {} is a shared folder; prefer a private one (0700) for the socket",
            dir.display()
        )));
    }
    if access.owner != effective_uid() {
        return Err(Error::ForeignSocketDir {
            dir,
            owner: access.owner,
        });
    }
    if access.mode & 0o077 != 0 {
        return Ok(Some(format!(
            "warning: {} has mode {:03o}; others may see the socket (the agent still refuses their uid)",
            dir.display(),
            access.mode
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::mode_of;

    #[test]
    fn default_folder_is_private() {
        let base = tempfile::tempdir().expect("tempdir");
        let sock = make_default_socket_path(base.path()).expect("path");
        let dir = sock.parent().expect("parent");
        assert_eq!(mode_of(dir).expect("stat"), 0o700);
    }

    #[test]
    fn a_folder_others_can_enter_is_warned_about() {
        let base = tempfile::tempdir().expect("tempdir");
        let made = base.path().join("new/sub");
        assert_eq!(prepare_socket_dir(&made.join("s")).expect("prepare"), None);
        assert_eq!(mode_of(&made).expect("stat"), 0o700);
        set_mode(&made, 0o755).expect("chmod");
        let warning = prepare_socket_dir(&made.join("s")).expect("prepare");
        assert!(warning.is_some_and(|w| w.contains("mode 755")));
    }

    #[test]
    fn a_folder_up_the_path_that_others_can_write_is_refused() {
        let base = tempfile::tempdir().expect("tempdir");
        let made = base.path().join("team/me");
        assert_eq!(prepare_socket_dir(&made.join("s")).expect("prepare"), None);
        // Not the socket's own folder, but the one above it: others could rename `me`.
        set_mode(&base.path().join("team"), 0o775).expect("chmod");
        let err = prepare_socket_dir(&made.join("s")).expect_err("refused");
        assert!(
            err.to_string()
                .contains("team can be changed by other users (mode 0775)"),
            "{err}"
        );
    }
}
