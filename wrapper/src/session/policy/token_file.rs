//! Which token file a prompt's answer signs: `--token-file`, else the command's own `--token`,
//! and never either when they name different files.

use std::path::{Component, Path, PathBuf};

use super::{refuse, Decision, Policy};

impl Policy {
    /// The token file to sign: `--token-file`, else the command's `--token` (`cli`). When
    /// both name a file and not the same one, neither is signed: the CLI reads its own, and a
    /// signed other file would be a wrong answer. `how` completes the hint's `mfa-sign`.
    pub(super) fn token_file(
        &self,
        cli: Option<&Path>,
        how: &str,
    ) -> Result<PathBuf, Box<Decision>> {
        match (&self.options.token_file, cli) {
            (Some(ours), Some(theirs)) if !same_path(ours, theirs) => Err(Box::new(refuse(
                &format!(
                    "--token-file {} and the command's --token {} name different files; not \
                     signing either",
                    ours.display(),
                    theirs.display()
                ),
                &format!(
                    "the CLI reads its own --token: sign that one{how} (mfa-sign {}) and press \
                     Enter; next time leave out --token-file when the command names --token",
                    theirs.display()
                ),
            ))),
            (Some(file), _) => Ok(file.clone()),
            (None, Some(file)) => Ok(file.to_path_buf()),
            (None, None) => Err(Box::new(refuse(
                "cannot tell which token file to sign",
                &format!(
                    "sign it yourself{how}: mfa-sign FILE (FILE is the command's --token), and \
                     press Enter; next time run mfa-login --token-file FILE"
                ),
            ))),
        }
    }
}

/// The same path as written, `./` aside (`t.json` and `./t.json`).
fn same_path(a: &Path, b: &Path) -> bool {
    let parts = |p| Path::components(p).filter(|c| *c != Component::CurDir);
    parts(a).eq(parts(b))
}
