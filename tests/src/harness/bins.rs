//! Finds the workspace's binaries (mfa-agent, mfa-login, cloudhsm-cli-sim, ...) in the target dir.
//!
//! A test binary runs from `target/<profile>/deps/`; the programs sit one folder up. They are
//! built by `cargo build --workspace --bins`, which the README's test command runs first. A
//! program older than a source file it is built from is refused, so `cargo test` without the
//! build cannot pass (or fail) against a stale program.

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
    if let Some(source) = newer_source(name, built) {
        panic!(
            "{} is older than {}: run `cargo build --workspace --bins` before the tests",
            path.display(),
            source.display()
        );
    }
    path
}

/// The crates a program is built from, as folders of the workspace.
fn crates_of(name: &str) -> &'static [&'static str] {
    match name {
        "mfa-agent" | "mfa-add" => &["proto/src", "client/src", "agent/src"],
        "mfa-login" | "mfa-sign" => &["proto/src", "client/src", "wrapper/src"],
        _ => &["proto/src", "tests/src"],
    }
}

/// A source file of `name`'s crates modified after `built`, if any.
fn newer_source(name: &str, built: SystemTime) -> Option<PathBuf> {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = tests.parent().unwrap_or(tests);
    crates_of(name)
        .iter()
        .find_map(|folder| newer_in(&root.join(folder), built))
}

fn newer_in(dir: &Path, built: SystemTime) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if let Some(found) = newer_in(&path, built) {
                return Some(found);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && meta.modified().is_ok_and(|m| m > built)
        {
            return Some(path);
        }
    }
    None
}
