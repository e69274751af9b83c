//! The simulator's terminal: prompts in the configured output style, lines read from stdin,
//! passwords read with echo really turned off (termios) when stdin is a terminal, and results
//! written unbuffered so a PTY reader sees each prompt as soon as it is printed.

use std::io::{BufRead, IsTerminal, StdinLock, Stdout, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};
use serde_json::Value;

use super::config::{Config, Style};

/// The `slow` style writes this many bytes at a time...
const SLOW_CHUNK: usize = 3;
/// ...with this pause between writes.
const SLOW_PAUSE: Duration = Duration::from_millis(15);

const COLOR_ON: &str = "\x1b[1;36m";
const COLOR_OFF: &str = "\x1b[0m";

/// Standard input and output, styled.
pub struct Terminal {
    style: Style,
    no_space: bool,
    input: StdinLock<'static>,
    output: Stdout,
}

impl Terminal {
    pub fn new(config: &Config) -> Terminal {
        Terminal {
            style: config.style,
            no_space: config.no_space,
            input: std::io::stdin().lock(),
            output: std::io::stdout(),
        }
    }

    /// Writes a prompt: its text, then a space unless `CLOUDHSM_SIM_NO_SPACE` is set.
    pub fn prompt(&mut self, text: &str) -> Result<()> {
        let space = if self.no_space { "" } else { " " };
        let styled = match self.style {
            Style::Color => format!("{COLOR_ON}{text}{COLOR_OFF}{space}"),
            _ => format!("{text}{space}"),
        };
        self.write_raw(&styled)
    }

    /// The interactive prompt: `aws-cloudhsm > `, or `aws-cloudhsm>` without the spaces.
    pub fn shell_prompt(&mut self) -> Result<()> {
        if self.no_space {
            self.prompt("aws-cloudhsm>")
        } else {
            self.prompt("aws-cloudhsm >")
        }
    }

    /// Writes lines of text (each `\n` becomes `\r\n` in the crlf style), ending with a newline.
    pub fn print(&mut self, text: &str) -> Result<()> {
        let mut text = format!("{}\n", text.trim_end_matches('\n'));
        if self.style == Style::Crlf {
            text = text.replace('\n', "\r\n");
        }
        self.write_raw(&text)
    }

    /// Prints a JSON value the way cloudhsm-cli does: pretty, two-space indent.
    pub fn print_json(&mut self, value: &Value) -> Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.print(&text)
    }

    /// Reads one line without its line ending; None at end of input.
    pub fn read_line(&mut self) -> Result<Option<String>> {
        let mut line = String::new();
        let n = self
            .input
            .read_line(&mut line)
            .context("cannot read standard input")?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned()))
    }

    /// Prompts and reads an answer; end of input is an error.
    pub fn ask(&mut self, prompt: &str) -> Result<String> {
        self.prompt(prompt)?;
        match self.read_line()? {
            Some(line) => Ok(line),
            None => bail!("end of input at the prompt {prompt:?}"),
        }
    }

    /// Prompts and reads a secret with echo off (when stdin is a terminal).
    pub fn ask_secret(&mut self, prompt: &str) -> Result<String> {
        let quiet = EchoOff::new()?;
        let answer = self.ask(prompt);
        drop(quiet);
        answer
    }

    fn write_raw(&mut self, text: &str) -> Result<()> {
        let bytes = text.as_bytes();
        if self.style == Style::Slow {
            for chunk in bytes.chunks(SLOW_CHUNK) {
                self.output.write_all(chunk)?;
                self.output.flush()?;
                std::thread::sleep(SLOW_PAUSE);
            }
        } else {
            self.output.write_all(bytes)?;
            self.output.flush()?;
        }
        Ok(())
    }
}

/// Turns off ECHO on the stdin terminal (keeping ECHONL, so Enter still moves to a new line,
/// as rpassword does) until dropped. Does nothing when stdin is not a terminal.
struct EchoOff {
    saved: Option<Termios>,
}

impl EchoOff {
    fn new() -> Result<EchoOff> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(EchoOff { saved: None });
        }
        let saved = tcgetattr(&stdin).context("cannot read the terminal's mode")?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("cannot turn off echo")?;
        Ok(EchoOff { saved: Some(saved) })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
    }
}
