//! File modes and ownership: private folders (0700), private files (0600), and what a folder's
//! owner and mode say about who can reach a socket in it.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Who owns a folder and who else can enter it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirAccess {
    pub owner: u32,
    /// Permission bits (`0o777` part).
    pub mode: u32,
    /// Root-owned with the sticky bit, as /tmp: others cannot replace what we put there.
    pub shared_sticky: bool,
}

/// Creates `dir` and its missing parents, each made 0700.
pub(crate) fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Sets a file's or folder's permission bits.
pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// A file's permission bits (`0o777` part).
#[cfg(test)]
pub(crate) fn mode_of(path: &Path) -> io::Result<u32> {
    Ok(fs::metadata(path)?.mode() & 0o777)
}

/// The owner and mode of a folder.
pub(crate) fn dir_access(dir: &Path) -> io::Result<DirAccess> {
    let meta = fs::metadata(dir)?;
    Ok(DirAccess {
        owner: meta.uid(),
        mode: meta.mode() & 0o777,
        shared_sticky: meta.uid() == 0 && meta.mode() & 0o1000 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_folders_and_files_are_private() {
        let base = tempfile::tempdir().expect("tempdir");
        let dir = base.path().join("a/b");
        create_private_dir_all(&dir).expect("mkdir");
        assert_eq!(mode_of(&dir).expect("mode"), 0o700);
        let access = dir_access(&dir).expect("access");
        assert_eq!(access.mode, 0o700);
        assert!(!access.shared_sticky);
        let file = dir.join("log");
        fs::write(&file, b"").expect("write");
        set_mode(&file, 0o600).expect("chmod");
        assert_eq!(mode_of(&file).expect("mode"), 0o600);
        set_mode(&file, 0o640).expect("chmod");
        assert_eq!(mode_of(&file).expect("mode"), 0o640);
    }
}
