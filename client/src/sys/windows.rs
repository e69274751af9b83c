//! Windows, so far only as far as `cargo check` goes (nothing runs there yet): the agent would
//! listen on a named pipe (`\\.\pipe\NAME`, as OpenSSH for Windows does), opened here as a file;
//! and files are opened plainly, links refused, with none of Unix's owner and mode checks
//! (Windows keeps those in ACLs, which this does not read yet).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::untrusted::Unsafe;

pub(crate) type Stream = File;

/// Opens the agent's named pipe. Reads and writes are not bounded by `timeout` yet.
pub(crate) fn connect(path: &Path, _timeout: Duration) -> io::Result<Stream> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// The pipe server's process is not asked yet on Windows.
pub(crate) fn server_pid(_stream: &Stream) -> Option<u32> {
    None
}

/// The pipe server's account is not asked yet on Windows: every server passes.
pub(crate) fn server_uid(_stream: &Stream) -> io::Result<u32> {
    Ok(my_uid())
}

pub(crate) fn my_uid() -> u32 {
    0
}

pub(crate) fn owner_name(uid: u32) -> String {
    format!("uid {uid}")
}

/// Who may read a file is in its ACL, not judged here yet.
pub(crate) fn others_may_read(_meta: &Metadata) -> Option<u32> {
    None
}

/// A folder, by path (see the Unix version for what is checked there).
#[derive(Debug)]
pub struct Folder {
    path: PathBuf,
}

impl Folder {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A file opened for reading, not through a link.
#[derive(Debug)]
pub struct OwnFile {
    pub file: File,
    pub meta: Metadata,
    path: PathBuf,
}

impl OwnFile {
    pub fn mode(&self) -> u32 {
        0o600
    }

    pub fn begin_replace(&self) -> Result<Replacement, Unsafe> {
        Replacement::create_or_replace(&self.path)
    }
}

/// A rewrite in progress through a new temporary file beside the target.
#[derive(Debug)]
pub struct Replacement {
    path: PathBuf,
    temp: PathBuf,
    file: File,
    committed: bool,
}

impl Replacement {
    pub fn create_or_replace(path: &Path) -> Result<Replacement, Unsafe> {
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".{}.tmp", std::process::id()));
        let temp = PathBuf::from(temp);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(Unsafe::io_at(path))?;
        Ok(Replacement {
            path: path.to_path_buf(),
            temp,
            file,
            committed: false,
        })
    }

    pub fn commit(mut self, bytes: &[u8], sync: bool) -> Result<(), Unsafe> {
        let at = Unsafe::io_at(&self.path);
        self.file.write_all(bytes).map_err(&at)?;
        if sync {
            self.file.sync_all().map_err(&at)?;
        }
        std::fs::rename(&self.temp, &self.path).map_err(&at)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

fn not_a_link(path: &Path) -> Result<(), Unsafe> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(Unsafe::Link {
            path: path.to_path_buf(),
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(Unsafe::io_at(path)(e)),
    }
}

pub fn open_folder(path: &Path) -> Result<Folder, Unsafe> {
    let meta = std::fs::metadata(path).map_err(Unsafe::io_at(path))?;
    if !meta.is_dir() {
        return Err(Unsafe::io_at(path)(io::Error::other("not a folder")));
    }
    Ok(Folder {
        path: path.to_path_buf(),
    })
}

pub fn open_own(path: &Path) -> Result<OwnFile, Unsafe> {
    not_a_link(path)?;
    let file = File::open(path).map_err(Unsafe::io_at(path))?;
    let meta = file.metadata().map_err(Unsafe::io_at(path))?;
    if !meta.is_file() {
        return Err(Unsafe::NotRegular {
            path: path.to_path_buf(),
        });
    }
    Ok(OwnFile {
        file,
        meta,
        path: path.to_path_buf(),
    })
}

pub fn open_own_or_pipe(path: &Path) -> Result<File, Unsafe> {
    Ok(open_own(path)?.file)
}

pub fn check_path(path: &Path) -> Result<(), Unsafe> {
    match not_a_link(path) {
        Err(Unsafe::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

pub fn open_private_append(path: &Path) -> Result<File, Unsafe> {
    not_a_link(path).or_else(|e| match e {
        Unsafe::Io { ref source, .. } if source.kind() == io::ErrorKind::NotFound => Ok(()),
        other => Err(other),
    })?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(Unsafe::io_at(path))
}

pub fn forbid_tracing() -> io::Result<()> {
    Ok(())
}

pub fn no_core_files() -> io::Result<()> {
    Ok(())
}
