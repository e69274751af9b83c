//! A temporary folder per test, removed when the test ends, with helpers to write and read
//! files in it with a chosen mode.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A per-test temporary folder (mode 0700, like the folders the real tools keep secrets in).
#[derive(Debug)]
pub struct WorkDir {
    dir: TempDir,
}

impl Default for WorkDir {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkDir {
    /// Creates a fresh folder under the system temporary directory.
    ///
    /// Short prefix on purpose: agent sockets live in here, and a Unix socket path must fit
    /// in 108 bytes.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("mfa-e2e-")
            .tempdir()
            .expect("create a temporary folder");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))
            .expect("chmod 0700 the temporary folder");
        WorkDir { dir }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the folder (nothing is created).
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `name` with mode 0600 and returns its path.
    pub fn write(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        self.write_mode(name, contents, 0o600)
    }

    /// Writes `name` with the given mode (set after writing, so 0400 works too).
    pub fn write_mode(
        &self,
        name: impl AsRef<Path>,
        contents: impl AsRef<[u8]>,
        mode: u32,
    ) -> PathBuf {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent folders");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        set_mode(&path, mode);
        path
    }

    /// Creates a subfolder with the given mode and returns its path.
    pub fn mkdir(&self, name: impl AsRef<Path>, mode: u32) -> PathBuf {
        let path = self.join(name);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        set_mode(&path, mode);
        path
    }

    /// Reads a file in the folder (or any absolute path).
    pub fn read(&self, name: impl AsRef<Path>) -> Vec<u8> {
        let path = self.join(name);
        fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Reads a text file in the folder (or any absolute path).
    pub fn read_string(&self, name: impl AsRef<Path>) -> String {
        String::from_utf8(self.read(name)).expect("file is UTF-8")
    }

    /// Keeps the folder after the test, for debugging a failure; returns its path.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}

/// Sets a file's permission bits.
pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A file's permission bits (`0o600`, ...).
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}
