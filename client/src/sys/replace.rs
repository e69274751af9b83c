//! Unix: rewriting a file of the caller's, or creating one, through a temporary file beside
//! it (`O_EXCL`, 0600) renamed over the name only if the name still names the file that was
//! read ([`Replacement`]). The folder walk and the checks are [`super::safe_open`]'s.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{openat, renameat, statat, unlinkat, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::safe_open::{open_folder, split, Folder, OwnFile, GO_WRITE};
use crate::untrusted::Unsafe;

/// A rewrite in progress: the temporary file exists (0600, `O_EXCL`) beside the file it will
/// replace; dropped without [`Replacement::commit`], it is removed.
#[derive(Debug)]
pub struct Replacement {
    folder: Folder,
    name: OsString,
    path: PathBuf,
    temp: OsString,
    file: File,
    /// The (device, inode) the name must still have at the rename; `None`: no file yet.
    expect: Option<(u64, u64)>,
    mode: u32,
    committed: bool,
}

impl Folder {
    /// Starts writing `name` in this folder: a new temporary file beside it.
    fn begin(
        self,
        name: &OsStr,
        expect: Option<(u64, u64)>,
        mode: u32,
    ) -> Result<Replacement, Unsafe> {
        let path = self.path.join(name);
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for n in 0u32.. {
            let mut temp = OsString::from(".");
            temp.push(name);
            temp.push(format!(".{}.{stamp:x}.{n}.tmp", std::process::id()));
            match openat(&self.dir, &temp, flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => {
                    return Ok(Replacement {
                        folder: self,
                        name: name.to_owned(),
                        path,
                        temp,
                        file: File::from(fd),
                        expect,
                        mode,
                        committed: false,
                    })
                }
                Err(Errno::EXIST) if n < 100 => continue,
                Err(e) => {
                    return Err(Unsafe::Io {
                        path,
                        source: e.into(),
                    })
                }
            }
        }
        unreachable!("the loop returns")
    }
}

impl OwnFile {
    /// Starts its rewrite (see [`Replacement`]): the new file will have its permissions, less
    /// group and other write, and replaces it only if the name still names it.
    pub fn begin_replace(&self) -> Result<Replacement, Unsafe> {
        let folder = self
            .folder
            .try_clone()
            .map_err(Unsafe::io_at(&self.folder.path))?;
        let expect = Some((self.meta.dev(), self.meta.ino()));
        folder.begin(&self.name, expect, self.mode() & !GO_WRITE)
    }
}

impl Replacement {
    /// Starts writing `path`, a file of the caller's or a new one (created 0600), through a
    /// temporary file beside it.
    pub fn create_or_replace(path: &Path) -> Result<Replacement, Unsafe> {
        let (folder, name) = split(path)?;
        let folder = open_folder(folder)?;
        match folder
            .try_clone()
            .map_err(Unsafe::io_at(path))?
            .open_own(name, OFlags::RDONLY)
        {
            Ok(own) => own.begin_replace(),
            Err(Unsafe::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                folder.begin(name, None, 0o600)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `bytes`, sets the mode, and renames the temporary file over the name, if the
    /// name still names the file that was read (or still names nothing, for a new file).
    /// `sync`: fsync the file before the rename and the folder after it.
    pub fn commit(mut self, bytes: &[u8], sync: bool) -> Result<(), Unsafe> {
        let at = Unsafe::io_at(&self.path);
        self.file.write_all(bytes).map_err(&at)?;
        self.file
            .set_permissions(std::fs::Permissions::from_mode(self.mode))
            .map_err(&at)?;
        if sync {
            self.file.sync_all().map_err(&at)?;
        }
        // st_dev is i32 on macOS, u64 on Linux.
        #[allow(clippy::unnecessary_cast)]
        let now = match statat(&self.folder.dir, &self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some((st.st_dev as u64, st.st_ino as u64)),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(at(e.into())),
        };
        if now != self.expect {
            return Err(Unsafe::Replaced {
                path: self.path.clone(),
            });
        }
        renameat(&self.folder.dir, &self.temp, &self.folder.dir, &self.name)
            .map_err(|e| at(e.into()))?;
        self.committed = true;
        if sync {
            // The walk's descriptor may be O_PATH, which cannot be synced: open the folder.
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let dir =
                openat(&self.folder.dir, ".", flags, Mode::empty()).map_err(|e| at(e.into()))?;
            File::from(dir).sync_all().map_err(&at)?;
        }
        Ok(())
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if !self.committed {
            let _ = unlinkat(&self.folder.dir, &self.temp, AtFlags::empty());
        }
    }
}
