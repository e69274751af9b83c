//! The simulator's configuration, read from the environment so that its command lines stay
//! exactly those of the real cloudhsm-cli.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `CLOUDHSM_SIM_STATE` | path of the JSON state file (see [`super::state`]) | `cloudhsm-sim-state.json` |
//! | `CLOUDHSM_SIM_HSMS` | HSMs in the simulated cluster: one token each, 1 to 64 | `3` |
//! | `CLOUDHSM_SIM_STYLE` | `plain`, `slow`, `color`, `crlf` or `readline` (see [`Style`]) | `plain` |
//! | `CLOUDHSM_SIM_NO_SPACE` | `1`: no space after prompts (`aws-cloudhsm>`) | unset |
//! | `CLOUDHSM_SIM_ORDER` | `password-first` or `tokens-first` (see [`Order`]) | `password-first` |
//! | `CLOUDHSM_SIM_TOKEN_FAULT` | tests only: `content:TEXT` writes TEXT as the token file, `stale` dates it an hour back | unset |
//! | `CLOUDHSM_SIM_PASSWORD_LOG` | where every password given is recorded (see [`super::record`]) | `cloudhsm-sim-passwords.jsonl` beside the state file |
//! | `CLOUDHSM_PIN`, `CLOUDHSM_ROLE` | `user:password` and role: the session of a single command, as the real CLI reads them | unset |

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Default number of HSMs, a typical small cluster.
pub const DEFAULT_HSMS: usize = 3;

/// Most HSMs the simulator accepts: proto's cap on tokens per file.
pub const MAX_HSMS: usize = proto::tokenfile::MAX_TOKENS;

/// How prompts and results are written, to exercise the prompt matchers of mfa-login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Prompts in one write.
    Plain,
    /// Prompts written a few bytes at a time with short pauses, so they arrive split.
    Slow,
    /// ANSI colour codes around the prompt text (the space comes after the reset code).
    Color,
    /// Every line of output ends with `\r\n`, as a Windows-built CLI would print.
    Crlf,
    /// The interactive command line is read in raw mode by a line editor with history that
    /// redraws the whole line after each key, as the real CLI's rustyline-style editor does
    /// (see [`super::editor`]). Other prompts are plain.
    Readline,
}

impl Style {
    pub const ALL: [Style; 5] = [
        Style::Plain,
        Style::Slow,
        Style::Color,
        Style::Crlf,
        Style::Readline,
    ];

    pub fn parse(text: &str) -> Result<Style> {
        Ok(match text {
            "" | "plain" => Style::Plain,
            "slow" => Style::Slow,
            "color" | "colour" => Style::Color,
            "crlf" => Style::Crlf,
            "readline" => Style::Readline,
            other => bail!("unknown CLOUDHSM_SIM_STYLE {other:?}"),
        })
    }

    /// The value of `CLOUDHSM_SIM_STYLE` that selects this style.
    pub fn name(self) -> &'static str {
        match self {
            Style::Plain => "plain",
            Style::Slow => "slow",
            Style::Color => "color",
            Style::Crlf => "crlf",
            Style::Readline => "readline",
        }
    }
}

/// When a token-sign login judges the password: the AWS guide does not say, so both exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The password is checked first; a wrong one fails before any token is handed out.
    PasswordFirst,
    /// The tokens are handed out first; password and signatures are judged together after
    /// the signed-token prompt is answered, with one message for either failure.
    TokensFirst,
}

impl Order {
    pub fn parse(text: &str) -> Result<Order> {
        Ok(match text {
            "" | "password-first" => Order::PasswordFirst,
            "tokens-first" => Order::TokensFirst,
            other => {
                bail!("unknown CLOUDHSM_SIM_ORDER {other:?}: use password-first or tokens-first")
            }
        })
    }

    /// The value of `CLOUDHSM_SIM_ORDER` that selects this order.
    pub fn name(self) -> &'static str {
        match self {
            Order::PasswordFirst => "password-first",
            Order::TokensFirst => "tokens-first",
        }
    }
}

/// The name of the password log beside the state file when `CLOUDHSM_SIM_PASSWORD_LOG` is unset.
pub const PASSWORD_LOG_NAME: &str = "cloudhsm-sim-passwords.jsonl";

/// The session a single command runs in: `CLOUDHSM_PIN=user:password` and `CLOUDHSM_ROLE`.
#[derive(Debug, Clone)]
pub struct Pin {
    pub username: String,
    pub password: String,
    pub role: String,
}

/// Everything the environment configures.
#[derive(Debug, Clone)]
pub struct Config {
    pub state_path: PathBuf,
    pub hsms: usize,
    pub style: Style,
    pub no_space: bool,
    pub order: Order,
    pub password_log: PathBuf,
    pub pin: Option<Pin>,
}

impl Config {
    /// Reads and checks the `CLOUDHSM_SIM_*` variables.
    pub fn from_env() -> Result<Config> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let state_path = var("CLOUDHSM_SIM_STATE")
            .map_or_else(|| PathBuf::from("cloudhsm-sim-state.json"), PathBuf::from);
        let hsms = match var("CLOUDHSM_SIM_HSMS") {
            None => DEFAULT_HSMS,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_HSMS).contains(n))
                .with_context(|| {
                    format!("CLOUDHSM_SIM_HSMS={text:?} is not a number from 1 to {MAX_HSMS}")
                })?,
        };
        let style = Style::parse(&var("CLOUDHSM_SIM_STYLE").unwrap_or_default())?;
        let no_space = var("CLOUDHSM_SIM_NO_SPACE").is_some_and(|v| v != "0");
        let order = Order::parse(&var("CLOUDHSM_SIM_ORDER").unwrap_or_default())?;
        let password_log = var("CLOUDHSM_SIM_PASSWORD_LOG").map_or_else(
            || state_path.with_file_name(PASSWORD_LOG_NAME),
            PathBuf::from,
        );
        let pin = match (var("CLOUDHSM_PIN"), var("CLOUDHSM_ROLE")) {
            (None, _) => None,
            (Some(_), None) => bail!("CLOUDHSM_PIN is set but CLOUDHSM_ROLE is not"),
            (Some(pin), Some(role)) => {
                let (username, password) = pin
                    .split_once(':')
                    .context("CLOUDHSM_PIN must be user:password")?;
                Some(Pin {
                    username: username.to_owned(),
                    password: password.to_owned(),
                    role,
                })
            }
        };
        Ok(Config {
            state_path,
            hsms,
            style,
            no_space,
            order,
            password_log,
            pin,
        })
    }
}
