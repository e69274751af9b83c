//! Why a file is not trusted ([`Unsafe`]): the refusals of [`crate::files`], with what to do
//! about each, apart from the platform code that finds them (`sys`).

use std::path::{Path, PathBuf};

/// Why a file (or a folder on its path) is not trusted. One line each; [`Unsafe::hint`] says
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum Unsafe {
    #[error("{} is a symbolic link: links are not followed here", path.display())]
    Link { path: PathBuf },
    #[error("{} is not a regular file", path.display())]
    NotRegular { path: PathBuf },
    #[error("{} belongs to {owner}, not to you", path.display())]
    NotYours { path: PathBuf, owner: String },
    #[error("{} can be changed by other users (mode {mode:04o})", path.display())]
    OthersMayWrite { path: PathBuf, mode: u32 },
    #[error("{} can be read by other users (mode {mode:04o})", path.display())]
    OthersMayRead { path: PathBuf, mode: u32 },
    #[error("{} has {links} names (hard links): another may not be yours", path.display())]
    HardLinked { path: PathBuf, links: u64 },
    #[error("the folder {} can be changed by other users (mode {mode:04o})", folder.display())]
    SharedFolder { folder: PathBuf, mode: u32 },
    #[error("the folder {} belongs to {owner}, not to you or root", folder.display())]
    ForeignFolder { folder: PathBuf, owner: String },
    #[error("{} is in a folder others can write, and belongs to {owner}, not to you", path.display())]
    Planted { path: PathBuf, owner: String },
    #[error("{} was replaced by another file while it was in use", path.display())]
    Replaced { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Unsafe {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            Unsafe::Link { .. } => "name the file itself, not a link to it".to_owned(),
            Unsafe::NotRegular { .. } => "name a plain file".to_owned(),
            Unsafe::OthersMayWrite { path, .. } => {
                format!(
                    "if the file is yours as it is, chmod go-w {}",
                    path.display()
                )
            }
            Unsafe::OthersMayRead { path, .. } => format!("chmod 600 {}", path.display()),
            Unsafe::HardLinked { .. } => "use a copy of the file with one name".to_owned(),
            Unsafe::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                "the file system is full: free some space".to_owned()
            }
            Unsafe::Io { .. } => "check the path and its permissions".to_owned(),
            Unsafe::NotYours { .. }
            | Unsafe::SharedFolder { .. }
            | Unsafe::ForeignFolder { .. }
            | Unsafe::Planted { .. }
            | Unsafe::Replaced { .. } => PRIVATE_FOLDER_HINT.to_owned(),
        }
    }

    /// The underlying I/O error, when that is all it is (a missing file, a full disk).
    pub fn io(&self) -> Option<&std::io::Error> {
        match self {
            Unsafe::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    pub(crate) fn io_at(path: &Path) -> impl Fn(std::io::Error) -> Unsafe + '_ {
        move |source| Unsafe::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The hint for a file someone else could have put there or could change.
pub const PRIVATE_FOLDER_HINT: &str =
    "keep it in a folder only you can write (mkdir -m 700 ~/.cloudhsm) and use a file you made there";
