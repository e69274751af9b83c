//! Command lines as words: split like a shell does for simple quoting, and options found by
//! name (`--token F` or `--token=F`).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// Splits a command line into words as a shell would for simple quoting: spaces separate,
/// `'...'` and `"..."` quote, backslash escapes the next character.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The value of the last `--token F` or `--token=F` among the words.
pub fn token_argument<S: AsRef<OsStr>>(words: &[S]) -> Option<PathBuf> {
    option_value(words, "--token").map(PathBuf::from)
}

/// True when the flag `NAME` is among the words.
pub fn has_flag<S: AsRef<OsStr>>(words: &[S], name: &str) -> bool {
    words.iter().any(|w| w.as_ref() == name)
}

/// The value of the last `NAME V` or `NAME=V` among the words (`NAME` with its dashes).
pub fn option_value<S: AsRef<OsStr>>(words: &[S], name: &str) -> Option<OsString> {
    let mut found = None;
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_ref();
        if word == name {
            if let Some(value) = words.get(i + 1) {
                found = Some(value.as_ref().to_os_string());
            }
            i += 2;
            continue;
        }
        // `NAME=V` is matched as text: option names are ASCII, and a value that is not
        // UTF-8 can still be given as a separate word.
        if let Some(value) = word
            .to_str()
            .and_then(|w| w.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix('='))
        {
            found = Some(OsString::from(value));
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_arguments_are_found_in_quoted_words() {
        let words = split_words(r#"login --username u mfa-token-sign --token "my dir/t.json""#);
        assert_eq!(token_argument(&words), Some(PathBuf::from("my dir/t.json")));
        assert_eq!(
            token_argument(&split_words("x --token=a\\ b")),
            Some(PathBuf::from("a b"))
        );
        assert_eq!(token_argument(&split_words("login --token")), None);
        assert_eq!(token_argument(&split_words("quit")), None);
        let words = split_words("login --username=officer1 --role admin");
        assert_eq!(option_value(&words, "--username"), Some("officer1".into()));
        assert_eq!(option_value(&words, "--role"), Some("admin".into()));
        assert_eq!(option_value(&words, "--user"), None);
    }
}
