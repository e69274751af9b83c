//! Which PKCS#11 providers the agent may load (`-P`, as OpenSSH's ssh-agent): checked in the
//! agent before a helper process is started.

// `*` matches any run of bytes, slashes included, as OpenSSH's `match_pattern` does.
use crate::glob::glob;

/// OpenSSH's default allowlist (`ssh-agent -P`): system library folders only.
pub const DEFAULT_PROVIDER_ALLOWLIST: &str = "/usr/lib*/*,/usr/local/lib*/*";

/// True when `path` matches the comma-separated `patterns` as OpenSSH's
/// `match_pattern_list` does: `*` and `?` wildcards, and a matching `!pattern` refuses
/// whatever else matches.
pub(crate) fn provider_allowed(patterns: &str, path: &str) -> bool {
    let mut allowed = false;
    for pattern in patterns.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        if glob(pattern.as_bytes(), path.as_bytes()) {
            if negated {
                return false;
            }
            allowed = true;
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_follows_openssh_patterns() {
        let default = DEFAULT_PROVIDER_ALLOWLIST;
        assert!(provider_allowed(default, "/usr/lib/softhsm/libsofthsm2.so"));
        assert!(provider_allowed(default, "/usr/lib64/opensc-pkcs11.so"));
        assert!(provider_allowed(default, "/usr/local/lib/libykcs11.so"));
        assert!(!provider_allowed(default, "/tmp/evil.so"));
        assert!(!provider_allowed(default, "/home/me/usr/lib/x.so"));
        let negated = "/usr/lib*/*,!/usr/lib/evil*";
        assert!(provider_allowed(negated, "/usr/lib/good.so"));
        assert!(!provider_allowed(negated, "/usr/lib/evil.so"));
        assert!(provider_allowed("/opt/p?.so", "/opt/p1.so"));
        assert!(!provider_allowed("/opt/p?.so", "/opt/p12.so"));
        assert!(!provider_allowed("", "/usr/lib/x.so"));
    }
}
