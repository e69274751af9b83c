//! OpenSSH's `match_pattern`, the one glob of the agent: host and user names in destination
//! constraints (`ssh-add -h`) and the `-P` provider allowlist.

/// `*` any run of bytes (slashes included), `?` one byte.
pub(crate) fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_as_openssh_match_pattern() {
        assert!(glob(b"ec2-*", b"ec2-user"));
        assert!(glob(b"*", b""));
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"ac"));
        assert!(!glob(b"root", b"rooted"));
    }
}
