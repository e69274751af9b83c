//! Finds the workspace's binaries (mfa-agent, mfa-login, cloudhsm-cli-sim, ...) in the target dir.
//!
//! A test binary runs from `target/<profile>/deps/`; the programs sit one folder up. They are
//! built by `cargo build --workspace --bins`, which the README's test command runs first. A
//! program older than a source file it is built from is refused, so `cargo test` without the
//! build cannot pass (or fail) against a stale program; cargo's `PROGRAM.d` says which
//! files those are.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The path of a workspace binary, or a panic that says how to build it.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build --workspace --bins` before the tests",
                path.display()
            )
        });
    if let Some(source) = newer_source(&path, built) {
        panic!(
            "{} is older than {}: run `cargo build --workspace --bins` before the tests",
            path.display(),
            source.display()
        );
    }
    path
}

/// A source file the program was built from (as cargo's `PROGRAM.d` lists them) that was
/// modified after `built`, if any. Files the build does not read (another platform's) never
/// count.
fn newer_source(program: &Path, built: SystemTime) -> Option<PathBuf> {
    let mut deps = program.as_os_str().to_owned();
    deps.push(".d");
    let listed = std::fs::read_to_string(&deps).ok()?;
    let (_, sources) = listed.lines().next()?.split_once(": ")?;
    sources
        .split_whitespace()
        .map(PathBuf::from)
        .find(|source| {
            std::fs::metadata(source)
                .and_then(|m| m.modified())
                .is_ok_and(|m| m > built)
        })
}
