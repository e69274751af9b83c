//! Unix: the walk and the checks of [`crate::files`], on descriptors (`openat`, `fstat`),
//! never on paths resolved in user space. Rewriting a file through a temporary one is
//! `replace`'s.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{openat, readlinkat, statat, AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::untrusted::Unsafe;

/// How many symbolic links one walk follows (Linux's own limit).
const MAX_LINKS: usize = 40;

/// How folders are opened for the walk: on Linux `O_PATH`, which needs no read permission
/// (a path through a 0711 home folder still walks), elsewhere for reading.
#[cfg(any(target_os = "linux", target_os = "android"))]
const DIR_ACCESS: OFlags = OFlags::PATH;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const DIR_ACCESS: OFlags = OFlags::RDONLY;

/// Group or others may write.
pub(super) const GO_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The name of a uid for messages: `mallory (uid 1001)`, or the number alone.
pub(crate) fn owner_name(uid: u32) -> String {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid));
    match user.ok().flatten() {
        Some(user) => format!("{} (uid {uid})", user.name),
        None => format!("uid {uid}"),
    }
}

/// An open folder whose path only the caller and root can change.
#[derive(Debug)]
pub struct Folder {
    pub(super) dir: File,
    pub(super) path: PathBuf,
    /// Sticky and writable by others (`/tmp`): only what the caller owns in it is trusted.
    shared: bool,
}

/// A file of the caller's, opened by [`open_own`] and judged on its descriptor.
#[derive(Debug)]
pub struct OwnFile {
    pub file: File,
    pub meta: Metadata,
    pub(super) folder: Folder,
    pub(super) name: OsString,
}

impl Folder {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn try_clone(&self) -> io::Result<Folder> {
        Ok(Folder {
            dir: self.dir.try_clone()?,
            path: self.path.clone(),
            shared: self.shared,
        })
    }

    /// Opens `name` in this folder, not following a link, and judges it: a regular file of
    /// the caller's that group and others cannot write, with one name.
    pub(super) fn open_own(self, name: &OsStr, flags: OFlags) -> Result<OwnFile, Unsafe> {
        let path = self.path.join(name);
        let flags = flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = openat(&self.dir, name, flags, Mode::empty()).map_err(|e| match e {
            Errno::LOOP | Errno::MLINK => Unsafe::Link { path: path.clone() },
            e => Unsafe::Io {
                path: path.clone(),
                source: e.into(),
            },
        })?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(Unsafe::io_at(&path))?;
        check_own(&meta, &path)?;
        Ok(OwnFile {
            file,
            meta,
            folder: self,
            name: name.to_owned(),
        })
    }
}

impl OwnFile {
    /// The permission bits.
    pub fn mode(&self) -> u32 {
        self.meta.mode() & 0o7777
    }
}

/// Opens a file of the caller's for reading: see [`crate::files`].
pub fn open_own(path: &Path) -> Result<OwnFile, Unsafe> {
    let (folder, name) = split(path)?;
    open_folder(folder)?.open_own(name, OFlags::RDONLY)
}

/// Opens a file of the caller's for reading like [`open_own`], or one of the process's own
/// descriptors named as `/dev/fd/N` (a shell's `<(command)`) when it is a pipe: nobody else
/// can have put a pipe among our descriptors.
pub fn open_own_or_pipe(path: &Path) -> Result<File, Unsafe> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.starts_with(b"/dev/fd/") || bytes.starts_with(b"/proc/self/fd/") {
        let file = File::open(path).map_err(Unsafe::io_at(path))?;
        let meta = file.metadata().map_err(Unsafe::io_at(path))?;
        if std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()) {
            return Ok(file);
        }
    }
    Ok(open_own(path)?.file)
}

/// Opens a log or transcript for appending: a new file is created 0600 (`O_EXCL`); an
/// existing one must be the caller's, a regular file that nobody else may read or write.
pub fn open_private_append(path: &Path) -> Result<File, Unsafe> {
    let (folder, name) = split(path)?;
    let folder = open_folder(folder)?;
    let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match openat(
        &folder.dir,
        name,
        flags | OFlags::CREATE | OFlags::EXCL,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(fd) => Ok(File::from(fd)),
        Err(Errno::EXIST) => {
            let own = folder.open_own(name, OFlags::WRONLY | OFlags::APPEND)?;
            let mode = own.mode();
            if mode & 0o077 != 0 {
                return Err(Unsafe::OthersMayRead {
                    path: path.to_path_buf(),
                    mode,
                });
            }
            Ok(own.file)
        }
        Err(Errno::LOOP | Errno::MLINK) => Err(Unsafe::Link {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(Unsafe::Io {
            path: path.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// Whether a file the caller makes at `path` (or finds there already) would be trusted by
/// [`open_own`], asked before a command is started to make it: the folders are walked as for
/// [`open_own`], and a name already taken must be the caller's own file, not a link. A
/// folder that does not exist is left for whoever makes the file to report.
pub fn check_path(path: &Path) -> Result<(), Unsafe> {
    let (folder, name) = split(path)?;
    let folder = match open_folder(folder) {
        Err(Unsafe::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    let st = match statat(&folder.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(Unsafe::io_at(path)(e.into())),
    };
    let path = path.to_path_buf();
    if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink {
        return Err(Unsafe::Link { path });
    }
    if st.st_uid != me() {
        return Err(Unsafe::NotYours {
            path,
            owner: owner_name(st.st_uid),
        });
    }
    Ok(())
}

/// A path's folder and file name; a path that ends in `..` or `/` names no file.
pub(super) fn split(path: &Path) -> Result<(&Path, &OsStr), Unsafe> {
    let name = match path.components().next_back() {
        Some(Component::Normal(name)) if !path.as_os_str().as_bytes().ends_with(b"/") => name,
        _ => {
            return Err(Unsafe::NotRegular {
                path: path.to_path_buf(),
            })
        }
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((folder, name))
}

/// Walks `path` from `/`, one folder at a time, and returns its last folder, opened.
pub fn open_folder(path: &Path) -> Result<Folder, Unsafe> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(Unsafe::io_at(path))?
            .join(path)
    };
    let root = Path::new("/");
    let dir_flags = DIR_ACCESS | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = openat(CWD, root, dir_flags, Mode::empty()).map_err(|e| Unsafe::Io {
        path: root.to_path_buf(),
        source: e.into(),
    })?;
    let mut stack = vec![judge_folder(File::from(fd), root.to_path_buf())?];
    let mut todo: VecDeque<OsString> = names(&absolute);
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let parent = stack.last().expect("the root stays");
        let path = parent.path.join(&name);
        match openat(&parent.dir, &name, dir_flags, Mode::empty()) {
            Ok(fd) => {
                let folder = judge_folder(File::from(fd), path)?;
                if parent.shared {
                    let uid = folder
                        .dir
                        .metadata()
                        .map_err(Unsafe::io_at(&folder.path))?
                        .uid();
                    if uid != me() && uid != 0 {
                        return Err(Unsafe::Planted {
                            path: folder.path,
                            owner: owner_name(uid),
                        });
                    }
                }
                stack.push(folder);
            }
            Err(Errno::LOOP | Errno::NOTDIR | Errno::MLINK) => {
                let st = statat(&parent.dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| Unsafe::io_at(&path)(e.into()))?;
                if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Symlink
                {
                    return Err(Unsafe::io_at(&path)(Errno::NOTDIR.into()));
                }
                if parent.shared && st.st_uid != me() && st.st_uid != 0 {
                    return Err(Unsafe::Planted {
                        path,
                        owner: owner_name(st.st_uid),
                    });
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(Unsafe::io_at(&path)(Errno::LOOP.into()));
                }
                let target = readlinkat(&parent.dir, &name, Vec::new())
                    .map_err(|e| Unsafe::io_at(&path)(e.into()))?;
                let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
                if target.is_absolute() {
                    stack.truncate(1);
                }
                for name in names(&target).into_iter().rev() {
                    todo.push_front(name);
                }
            }
            Err(e) => return Err(Unsafe::io_at(&path)(e.into())),
        }
    }
    Ok(stack.pop().expect("the root stays"))
}

/// The names a path walks through, `..` kept (a link may go up), `.` and `/` dropped.
fn names(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// A folder is trusted when the caller or root owns it and nobody else can write it, or when
/// it is sticky (what others put there is then told apart by its owner).
fn judge_folder(dir: File, path: PathBuf) -> Result<Folder, Unsafe> {
    let meta = dir.metadata().map_err(Unsafe::io_at(&path))?;
    let (uid, mode) = (meta.uid(), meta.mode() & 0o7777);
    if uid != me() && uid != 0 {
        return Err(Unsafe::ForeignFolder {
            folder: path,
            owner: owner_name(uid),
        });
    }
    let shared = mode & GO_WRITE != 0;
    if shared && mode & STICKY == 0 {
        return Err(Unsafe::SharedFolder { folder: path, mode });
    }
    Ok(Folder { dir, path, shared })
}

/// A regular file of the caller's that group and others cannot write, with one name.
fn check_own(meta: &Metadata, path: &Path) -> Result<(), Unsafe> {
    let path = || path.to_path_buf();
    if !meta.is_file() {
        return Err(Unsafe::NotRegular { path: path() });
    }
    if meta.uid() != me() {
        return Err(Unsafe::NotYours {
            path: path(),
            owner: owner_name(meta.uid()),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & GO_WRITE != 0 {
        return Err(Unsafe::OthersMayWrite { path: path(), mode });
    }
    if meta.nlink() != 1 {
        return Err(Unsafe::HardLinked {
            path: path(),
            links: meta.nlink(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "safe_open_tests.rs"]
mod tests;
