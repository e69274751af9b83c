//! File modes: a token file's permissions kept across its rewrite, the 0600 transcript, and
//! whether COMMAND is executable or names a path, as a Unix shell decides it.

use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions, Permissions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// A file's permission bits, setuid, setgid and sticky included (`0o7777` part).
pub(crate) fn mode_of(meta: &Metadata) -> u32 {
    meta.permissions().mode() & 0o7777
}

/// Sets the permission bits of an open file.
pub(crate) fn set_file_mode(file: &File, mode: u32) -> io::Result<()> {
    file.set_permissions(Permissions::from_mode(mode))
}

/// Sets the permission bits of the file at `path`.
#[cfg(test)]
pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(mode))
}

/// A regular file someone may execute.
pub(crate) fn is_executable(meta: &Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// A command name with a `/` is a path; anything else is looked up in `PATH`.
pub(crate) fn names_a_path(name: &OsStr) -> bool {
    name.as_bytes().contains(&b'/')
}

/// Opens `path` for appending, creating it readable by the owner only.
pub(crate) fn open_private_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn modes_are_set_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let file = open_private_append(&path).expect("open");
        assert_eq!(mode_of(&fs::metadata(&path).expect("meta")), 0o600);
        assert!(!is_executable(&fs::metadata(&path).expect("meta")));
        set_file_mode(&file, 0o750).expect("chmod");
        assert!(is_executable(&fs::metadata(&path).expect("meta")));
        set_mode(&path, 0o4640).expect("chmod");
        assert_eq!(mode_of(&fs::metadata(&path).expect("meta")), 0o4640);
        assert!(!is_executable(&fs::metadata(dir.path()).expect("meta")));
        assert!(names_a_path(OsStr::new("./x")));
        assert!(!names_a_path(OsStr::new("cloudhsm-cli")));
    }
}
