//! What `mfa-agent --version` and `mfa-add --version` report: the package version and the
//! crypto backend that makes the agent's signatures and reads key files.
//!
//! Kept in its own small module so that a new backend (a PKCS#11 token's keys, say) changes
//! one function here and nothing in the command lines.

use std::sync::OnceLock;

/// The library that performs the private-key operations and reads key files: the OpenSSL
/// this process runs with (its own version text, e.g. `OpenSSL 3.0.19 27 Jan 2026`), which
/// may be newer than the one it was built against.
///
/// Keys on a PKCS#11 token (`mfa-add -s`) sign inside the token instead.
pub fn backend() -> String {
    format!("{}; PKCS#11 tokens", openssl::version::version())
}

/// `0.1.0 (crypto: BACKEND)`, the text clap prints after the program's name for `--version`.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| format!("{} (crypto: {})", env!("CARGO_PKG_VERSION"), backend()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_package_version_and_the_backend() {
        let line = version();
        assert!(line.starts_with(concat!(env!("CARGO_PKG_VERSION"), " (crypto: ")));
        assert!(line.ends_with(&format!("{})", backend())));
        assert!(backend().starts_with("OpenSSL "), "{}", backend());
    }
}
