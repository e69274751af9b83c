//! The simulator's configuration, read from the environment so that its command lines stay
//! exactly those of the real cloudhsm-cli.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `CLOUDHSM_SIM_STATE` | path of the JSON state file (see [`super::state`]) | `cloudhsm-sim-state.json` |
//! | `CLOUDHSM_SIM_HSMS` | HSMs in the simulated cluster: one token each, 1 to 64 | `3` |
//! | `CLOUDHSM_SIM_STYLE` | `plain`, `slow`, `color`, `crlf` or `readline` (see [`Style`]) | `plain` |
//! | `CLOUDHSM_SIM_NO_SPACE` | `1`: no space after prompts (`aws-cloudhsm>`) | unset |

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

/// Everything the environment configures.
#[derive(Debug, Clone)]
pub struct Config {
    pub state_path: PathBuf,
    pub hsms: usize,
    pub style: Style,
    pub no_space: bool,
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
        Ok(Config {
            state_path,
            hsms,
            style,
            no_space,
        })
    }
}
