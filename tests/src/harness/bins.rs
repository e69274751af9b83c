//! Finds the workspace's binaries (mfa-agent, mfa-login, cloudhsm-cli-sim, ...) in the target dir.
//!
//! A test binary runs from `target/<profile>/deps/`; the programs sit one folder up. They are
//! built by `cargo build --workspace --bins`, which the README's test command runs first.

use std::path::PathBuf;

/// The path of a workspace binary, or a panic that says how to build it.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` before the tests",
        path.display()
    );
    path
}
