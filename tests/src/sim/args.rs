//! The command lines the simulator accepts, the same as the real cloudhsm-cli's MFA commands,
//! and the splitting of a line typed at the interactive prompt into words.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// cloudhsm-cli-sim: a stand-in for AWS cloudhsm-cli's MFA commands.
///
/// Configured by CLOUDHSM_SIM_STATE (state file), CLOUDHSM_SIM_HSMS (HSM count, default 3),
/// CLOUDHSM_SIM_STYLE (plain, slow, color, crlf, readline), CLOUDHSM_SIM_NO_SPACE=1,
/// CLOUDHSM_SIM_ORDER (password-first, tokens-first) and CLOUDHSM_SIM_PASSWORD_LOG; a single
/// command's session comes from CLOUDHSM_PIN=user:password and CLOUDHSM_ROLE.
/// Exit status: 0 success, 1 the command failed (error JSON printed), 2 bad configuration.
#[derive(Debug, Parser)]
#[command(name = "cloudhsm-cli-sim", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read commands at the `aws-cloudhsm > ` prompt until quit, exit or end of input.
    Interactive,
    /// Log in to the simulated cluster.
    Login(LoginArgs),
    /// Log out.
    Logout,
    /// User management: `user create`, `user change-password`, `user change-mfa token-sign`.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Key management: `key list` prints the labels of CLOUDHSM_SIM_KEY_LABELS (one per line)
    /// as they are, each line's end a moment after its text, as a slow terminal shows it.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Add a user to the state file (simulator only, to set up a scenario).
    AddUser(AddUserArgs),
    /// cloudhsm_mgmt_util (Client SDK 3): `loginHSM`, `createUser`, `changePswd` with `-2fa`
    /// at the `aws-cloudhsm>` prompt.
    MgmtUtil,
    /// Leave interactive mode.
    Quit,
    /// Leave interactive mode.
    Exit,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub role: String,
    /// The password; asked without echo when absent.
    #[arg(long)]
    pub password: Option<String>,
    #[command(subcommand)]
    pub mfa: Option<LoginMfa>,
}

#[derive(Debug, Subcommand)]
pub enum LoginMfa {
    /// Token-sign MFA: the unsigned tokens are written to the token file.
    MfaTokenSign {
        #[arg(long)]
        token: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List the keys (their labels: any text a key's owner chose).
    List,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (an admin's session only); its password is asked twice when absent.
    Create(NewPasswordArgs),
    /// Set a user's password (an admin for anyone, a user for itself); asked twice when absent.
    ChangePassword(NewPasswordArgs),
    /// Register, rotate or remove a user's MFA key.
    ChangeMfa {
        #[command(subcommand)]
        strategy: ChangeMfaStrategy,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChangeMfaStrategy {
    /// Token-sign MFA: prove the new key by signing the tokens with it.
    TokenSign(ChangeMfaArgs),
}

#[derive(Debug, Args)]
pub struct ChangeMfaArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub token: PathBuf,
    /// The user's NEW password; asked twice without echo when absent.
    #[arg(long)]
    pub change_password: Option<String>,
    /// Remove the user's MFA key instead of registering one (only the password is asked).
    #[arg(long)]
    pub deregister: bool,
}

/// `--username U --role R [--password P]` of `user create` and `user change-password`.
#[derive(Debug, Args)]
pub struct NewPasswordArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub role: String,
    /// The NEW password; asked twice without echo when absent.
    #[arg(long)]
    pub password: Option<String>,
}

#[derive(Debug, Args)]
pub struct AddUserArgs {
    #[arg(long)]
    pub username: String,
    /// `admin` or `crypto-user`.
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub password: String,
    /// SPKI PEM file of the user's MFA public key; without it the user has no MFA.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
}

/// Splits a typed line into words: whitespace separates, `'...'` and `"..."` quote, and a
/// backslash escapes the next character outside single quotes. None when a quote is open.
pub fn split_line(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        q => word.push(q),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => word.push(chars.next()?),
                        q => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        let words = split_line(r#"login --username 'a b' --role "c\"d" e\ f"#).expect("split");
        assert_eq!(
            words,
            ["login", "--username", "a b", "--role", "c\"d", "e f"]
        );
        assert_eq!(split_line("  ").expect("split"), Vec::<String>::new());
        assert!(split_line("'open").is_none());
    }

    #[test]
    fn parses_the_real_cli_command_lines() {
        let cli = Cli::try_parse_from([
            "x",
            "login",
            "--username",
            "u",
            "--role",
            "admin",
            "mfa-token-sign",
            "--token",
            "t.json",
        ])
        .expect("parse");
        assert!(matches!(
            cli.command,
            Command::Login(LoginArgs {
                mfa: Some(LoginMfa::MfaTokenSign { .. }),
                ..
            })
        ));
        let cli = Cli::try_parse_from([
            "x",
            "user",
            "change-mfa",
            "token-sign",
            "--username",
            "u",
            "--role",
            "admin",
            "--token",
            "t.json",
            "--change-password",
            "p",
        ])
        .expect("parse");
        assert!(matches!(cli.command, Command::User { .. }));
    }
}
