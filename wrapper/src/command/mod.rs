//! The CloudHSM command a prompt belongs to, as a typed value: parsed from COMMAND's
//! arguments in single-command mode, and from each line typed or piped at the CLI's prompt in
//! interactive mode. mfa-login answers by command, never by a prompt's text alone: the same
//! `Enter password:` asks for the login's password in `login` and sets a NEW password in
//! `user create`.
//!
//! Commands (AWS CloudHSM user guide, CloudHSM CLI reference; cloudhsm_mgmt_util reference):
//! - `login [--password P] --username U --role R [mfa-token-sign --token F]`
//! - `user change-mfa token-sign --username U --role R --token F [--change-password P]
//!   [--deregister]`
//! - `user create ...`, `user change-password ...`: prompts that set a password
//! - `logout`, `quit`/`exit`, `interactive`
//! - cloudhsm_mgmt_util: `loginHSM TYPE USER PASSWORD -2fa FILE`, `createUser TYPE USER
//!   PASSWORD -2fa FILE`, `changePswd TYPE USER PASSWORD -2fa FILE`

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

pub mod words;

use words::has_flag;
pub use words::{option_value, split_words};

/// One command of the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `interactive`: the CLI's own prompt follows.
    Interactive,
    Login(Login),
    ChangeMfa(ChangeMfa),
    /// `user create` or `user change-password`: the password prompts set a NEW password.
    SetPassword {
        verb: &'static str,
        username: Option<String>,
    },
    Logout,
    Quit,
    /// A cloudhsm_mgmt_util command with a `-2fa` authdata file.
    Mgmt(Mgmt),
    /// Anything else: mfa-login answers none of its prompts.
    Other,
}

/// A user as the CLI names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub role: Option<String>,
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.role {
            Some(role) => write!(f, "{} ({role})", self.username),
            None => f.write_str(&self.username),
        }
    }
}

impl User {
    /// The same user: same name, and the same role when both say.
    pub fn is(&self, other: &User) -> bool {
        self.username == other.username
            && match (&self.role, &other.role) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => true,
            }
    }
}

/// A password given on the command line, held wiped-on-drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Zeroizing<String>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// `login ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: Option<User>,
    /// `--password P`: the CLI asks for no password.
    pub password: Option<Secret>,
    /// `mfa-token-sign` follows: the CLI hands out tokens to sign.
    pub mfa: bool,
    pub token: Option<PathBuf>,
}

/// `user change-mfa token-sign ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeMfa {
    pub user: Option<User>,
    pub token: Option<PathBuf>,
    /// `--change-password P`: the CLI asks for no new password.
    pub change_password: bool,
    /// `--deregister`: nothing to sign.
    pub deregister: bool,
}

/// Which cloudhsm_mgmt_util command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MgmtVerb {
    LoginHsm,
    CreateUser,
    ChangePswd,
}

/// `loginHSM|createUser|changePswd TYPE USER PASSWORD -2fa FILE`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mgmt {
    pub verb: MgmtVerb,
    pub user: Option<User>,
    pub file: Option<PathBuf>,
}

/// Options that take a value, so their value is not mistaken for the command's first word.
const VALUE_OPTIONS: &[&str] = &["--cluster-id", "--region", "--profile"];

impl Command {
    /// Whether a later prompt of the command asks for a signed file: an MFA login,
    /// change-mfa (not `--deregister`), and cloudhsm_mgmt_util's `-2fa` commands.
    pub fn signs(&self) -> bool {
        match self {
            Command::Login(login) => login.mfa,
            Command::ChangeMfa(change) => !change.deregister,
            Command::Mgmt(_) => true,
            _ => false,
        }
    }

    /// Whether the command asks anything (the table in wrapper/README.md): a login, change-mfa,
    /// a command that sets a password, a cloudhsm_mgmt_util `-2fa` command. Text in the output
    /// of any other command that reads like a prompt (a key's label, say) is output.
    pub fn prompts(&self) -> bool {
        matches!(
            self,
            Command::Login(_)
                | Command::ChangeMfa(_)
                | Command::SetPassword { .. }
                | Command::Mgmt(_)
        )
    }

    /// The file whose tokens the command hands out to sign, when its arguments name one.
    pub fn token_file(&self) -> Option<&std::path::Path> {
        match self {
            Command::Login(login) => login.token.as_deref(),
            Command::ChangeMfa(change) => change.token.as_deref(),
            Command::Mgmt(mgmt) => mgmt.file.as_deref(),
            _ => None,
        }
    }

    /// The command in a typed line (`login --username u ...`).
    pub fn from_line(line: &str) -> Command {
        Command::from_words(&split_words(line))
    }

    /// The command COMMAND's arguments run: `cloudhsm-cli ARGS`, or (through a wrapper such
    /// as `sh -c '...'` or `sudo -E ...`) the first word anywhere that starts a command.
    pub fn from_args(args: &[OsString]) -> Command {
        let words: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let direct = Command::from_words(&words);
        if direct != Command::Other {
            return direct;
        }
        let all: Vec<String> = words.iter().flat_map(|w| split_words(w)).collect();
        // `quit` in a shell line (`...; exit`) is the shell's, not the CLI's.
        (0..all.len())
            .map(|i| Command::from_words(&all[i..]))
            .find(|c| !matches!(c, Command::Other | Command::Quit))
            .unwrap_or(Command::Other)
    }

    /// The command whose first word (after leading options) is its verb.
    pub fn from_words(words: &[String]) -> Command {
        let mut i = 0;
        while i < words.len() && words[i].starts_with('-') {
            i += if VALUE_OPTIONS.contains(&words[i].as_str()) {
                2
            } else {
                1
            };
        }
        let Some(verb) = words.get(i) else {
            return Command::Other;
        };
        let rest = &words[i + 1..];
        let user = || user_of(rest);
        let token = || option_value(rest, "--token").map(PathBuf::from);
        match verb.as_str() {
            "interactive" => Command::Interactive,
            "login" => Command::Login(Login {
                user: user(),
                password: option_value(rest, "--password")
                    .map(|p| Secret(Zeroizing::new(p.to_string_lossy().into_owned()))),
                mfa: has_flag(rest, "mfa-token-sign"),
                token: token(),
            }),
            "logout" => Command::Logout,
            "quit" | "exit" => Command::Quit,
            "user" => match rest.first().map(String::as_str) {
                Some("change-mfa") => Command::ChangeMfa(ChangeMfa {
                    user: user(),
                    token: token(),
                    change_password: option_value(rest, "--change-password").is_some(),
                    deregister: has_flag(rest, "--deregister"),
                }),
                Some("create") => Command::SetPassword {
                    verb: "user create",
                    username: user().map(|u| u.username),
                },
                Some("change-password") => Command::SetPassword {
                    verb: "user change-password",
                    username: user().map(|u| u.username),
                },
                _ => Command::Other,
            },
            "loginHSM" | "createUser" | "changePswd" => mgmt(verb, rest),
            _ => Command::Other,
        }
    }
}

fn user_of(words: &[String]) -> Option<User> {
    let username = option_value(words, "--username")?
        .to_string_lossy()
        .into_owned();
    let role = option_value(words, "--role").map(|r| r.to_string_lossy().into_owned());
    Some(User { username, role })
}

/// cloudhsm_mgmt_util's positional form: `VERB TYPE USER PASSWORD [-2fa FILE]`.
fn mgmt(verb: &str, rest: &[String]) -> Command {
    let verb = match verb {
        "loginHSM" => MgmtVerb::LoginHsm,
        "createUser" => MgmtVerb::CreateUser,
        _ => MgmtVerb::ChangePswd,
    };
    let mut positional = Vec::new();
    let mut file = None;
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        if word == "-2fa" {
            file = words.next().map(PathBuf::from);
        } else {
            positional.push(word);
        }
    }
    let user = match positional.as_slice() {
        [role, username, ..] => Some(User {
            username: (*username).clone(),
            role: Some((*role).clone()),
        }),
        _ => None,
    };
    Command::Mgmt(Mgmt { verb, user, file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: &str) -> Option<User> {
        Some(User {
            username: name.into(),
            role: Some(role.into()),
        })
    }

    #[test]
    fn only_commands_with_a_file_to_sign_sign() {
        for line in [
            "login --username u --role admin mfa-token-sign --token t.json",
            "user change-mfa token-sign --username u --role admin --token t.json",
            "loginHSM CO admin pw -2fa /tmp/authdata.json",
        ] {
            assert!(Command::from_line(line).signs(), "{line}");
        }
        for line in [
            "login --username u --role admin",
            "user change-mfa token-sign --username u --role admin --token t.json --deregister",
            "user create --username u --role crypto-user",
            "user change-password --username u --role crypto-user",
            "logout",
            "key list",
        ] {
            assert!(!Command::from_line(line).signs(), "{line}");
        }
    }

    #[test]
    fn a_login_is_read_with_its_user_token_and_password() {
        let c = Command::from_line(
            "login --username officer1 --role admin mfa-token-sign --token 'my dir/t.json'",
        );
        assert_eq!(
            c,
            Command::Login(Login {
                user: user("officer1", "admin"),
                password: None,
                mfa: true,
                token: Some("my dir/t.json".into()),
            })
        );
        match Command::from_line(
            "--cluster-id c1 login --password pw --username u --role crypto-user",
        ) {
            Command::Login(login) => {
                assert!(login.password.is_some());
                assert!(!login.mfa);
                assert_eq!(login.user, user("u", "crypto-user"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn user_commands_that_set_a_password_are_not_logins() {
        assert_eq!(
            Command::from_line("user create --username newbie --role crypto-user"),
            Command::SetPassword {
                verb: "user create",
                username: Some("newbie".into())
            }
        );
        assert!(matches!(
            Command::from_line("user change-password --username u --role admin"),
            Command::SetPassword {
                verb: "user change-password",
                ..
            }
        ));
        assert_eq!(Command::from_line("user list"), Command::Other);
        assert_eq!(Command::from_line("key list"), Command::Other);
        assert_eq!(Command::from_line(""), Command::Other);
    }

    #[test]
    fn change_mfa_is_read_with_its_flags() {
        let c = Command::from_line(
            "user change-mfa token-sign --username officer2 --role admin --token f.json \
             --change-password pw",
        );
        assert_eq!(
            c,
            Command::ChangeMfa(ChangeMfa {
                user: user("officer2", "admin"),
                token: Some("f.json".into()),
                change_password: true,
                deregister: false,
            })
        );
        assert!(matches!(
            Command::from_line("user change-mfa token-sign --username u --role admin --deregister"),
            Command::ChangeMfa(ChangeMfa {
                deregister: true,
                change_password: false,
                ..
            })
        ));
    }

    #[test]
    fn mgmt_util_commands_are_read_positionally() {
        assert_eq!(
            Command::from_line("loginHSM CO officer1 pw -2fa /tmp/authdata.json"),
            Command::Mgmt(Mgmt {
                verb: MgmtVerb::LoginHsm,
                user: user("officer1", "CO"),
                file: Some("/tmp/authdata.json".into()),
            })
        );
        assert!(matches!(
            Command::from_line("createUser CU alice pw -2fa a.json"),
            Command::Mgmt(Mgmt {
                verb: MgmtVerb::CreateUser,
                ..
            })
        ));
    }

    #[test]
    fn commands_are_found_through_a_wrapper_in_single_command_mode() {
        let args = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            Command::from_args(&args(&["interactive"])),
            Command::Interactive
        );
        assert!(matches!(
            Command::from_args(&args(&[
                "-c",
                "exec cloudhsm-cli login --username u --role admin"
            ])),
            Command::Login(_)
        ));
        assert_eq!(
            Command::from_args(&args(&["-c", "echo hi"])),
            Command::Other
        );
        assert_eq!(
            Command::from_args(&args(&["/opt/cloudhsm/etc/cloudhsm_mgmt_util.cfg"])),
            Command::Other
        );
    }

    #[test]
    fn roles_compare_without_case_and_a_missing_role_matches_any() {
        let a = User {
            username: "u".into(),
            role: Some("Admin".into()),
        };
        let b = User {
            username: "u".into(),
            role: Some("admin".into()),
        };
        let c = User {
            username: "u".into(),
            role: None,
        };
        assert!(a.is(&b) && a.is(&c));
        assert!(!a.is(&User {
            username: "v".into(),
            role: None
        }));
    }
}
