//! Files we trust, the way OpenSSH's `safe_path()` judges them: token files, key files,
//! secret files, transcripts and logs are opened through here and nowhere else.
//!
//! A path is walked one folder at a time from `/`, each folder opened and judged on its own
//! descriptor: owned by the caller or root, and not writable by group or others unless it is
//! sticky (`/tmp`), where whatever comes next must then be the caller's (or root's). Symbolic
//! links among the folders are followed only when they could not have been planted (their
//! folder is not shared, or the link is the caller's or root's). The file itself is opened
//! once with `O_NOFOLLOW` in the folder's descriptor and judged on its own descriptor: a
//! regular file, owned by the caller, not writable by group or others, with one name.
//!
//! A rewrite ([`Replacement`]) creates its temporary file `O_EXCL` 0600 in the same folder
//! descriptor before anything is signed, checks just before the rename that the name still
//! names the file that was read, and renames within that folder: a link swapped in meanwhile
//! never redirects it.

pub use crate::sys::{
    check_path, open_folder, open_own, open_own_or_pipe, open_private_append, Folder, OwnFile,
    Replacement,
};
pub use crate::untrusted::Unsafe;
