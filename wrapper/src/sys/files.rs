//! Whether COMMAND is executable or names a path, as a Unix shell decides it. (Token files and
//! the transcript are opened through `client::files`.)

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

/// A regular file someone may execute.
pub(crate) fn is_executable(meta: &Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// A command name with a `/` is a path; anything else is looked up in `PATH`.
pub(crate) fn names_a_path(name: &OsStr) -> bool {
    name.as_bytes().contains(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn executables_and_paths_are_told_as_a_shell_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prog");
        fs::write(&path, b"").expect("write");
        assert!(!is_executable(&fs::metadata(&path).expect("meta")));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o750)).expect("chmod");
        assert!(is_executable(&fs::metadata(&path).expect("meta")));
        assert!(!is_executable(&fs::metadata(dir.path()).expect("meta")));
        assert!(names_a_path(OsStr::new("./x")));
        assert!(!names_a_path(OsStr::new("cloudhsm-cli")));
    }
}
