//! A PKCS#11 provider that crashes when it signs (tests/pkcs11/crash.c: SoftHSM2 with C_Sign
//! replaced by `abort()`), compiled with the system's `cc` into a test's folder. In C, since
//! the workspace forbids unsafe Rust.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::softhsm::MODULE;

/// Builds `dir/crash.so` from tests/pkcs11/crash.c and returns its path.
pub fn crash_provider(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("pkcs11/crash.c");
    let out = dir.join("crash.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wall", "-Werror", "-O1"])
        .arg(format!("-DREAL_MODULE=\"{MODULE}\""))
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .output()
        .expect("run cc (Debian package gcc)");
    assert!(
        built.status.success(),
        "cc {}: {}",
        source.display(),
        String::from_utf8_lossy(&built.stderr)
    );
    out
}
