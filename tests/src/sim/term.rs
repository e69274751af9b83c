//! The simulator's terminal: prompts in the configured output style, lines read from stdin
//! (the interactive command line through [`LineEditor`] in raw mode in the `readline` style),
//! passwords read with echo really turned off (termios) when stdin is a terminal, and results
//! written unbuffered so a PTY reader sees each prompt as soon as it is printed.

use std::io::{BufRead, IsTerminal, StdinLock, Stdout, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::termios::{
    tcgetattr, tcsetattr, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios,
};
use serde_json::Value;

use super::config::{Config, Style};
use super::editor::LineEditor;

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
    editor: LineEditor,
}

impl Terminal {
    pub fn new(config: &Config) -> Terminal {
        Terminal {
            style: config.style,
            no_space: config.no_space,
            input: std::io::stdin().lock(),
            output: std::io::stdout(),
            editor: LineEditor::new(),
        }
    }

    /// Writes a prompt: its text, then a space unless `CLOUDHSM_SIM_NO_SPACE` is set.
    pub fn prompt(&mut self, text: &str) -> Result<()> {
        let space = if self.no_space { "" } else { " " };
        self.prompt_with(text, space)
    }

    fn prompt_with(&mut self, text: &str, space: &str) -> Result<()> {
        let styled = match self.style {
            Style::Color => format!("{COLOR_ON}{text}{COLOR_OFF}{space}"),
            _ => format!("{text}{space}"),
        };
        self.write_raw(&styled)
    }

    /// The interactive prompt (`aws-cloudhsm > `, or `aws-cloudhsm>` without the spaces) and
    /// the command line typed at it; None at end of input.
    pub fn read_command(&mut self) -> Result<Option<String>> {
        let text = if self.no_space {
            "aws-cloudhsm>"
        } else {
            "aws-cloudhsm >"
        };
        let space = if self.no_space { "" } else { " " };
        self.read_command_at(text, space)
    }

    /// A command line typed at the shell prompt `text` followed by `space`, in the
    /// configured style; None at end of input.
    pub fn read_command_at(&mut self, text: &str, space: &str) -> Result<Option<String>> {
        if self.style == Style::Readline && std::io::stdin().is_terminal() {
            // Raw mode before the prompt, as rustyline does: keys typed as soon as the prompt
            // shows are never echoed or edited by the terminal itself.
            let raw = TerminalMode::set(|mode| {
                mode.input_flags
                    .remove(InputFlags::ICRNL | InputFlags::IXON | InputFlags::BRKINT);
                mode.local_flags.remove(
                    LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::IEXTEN | LocalFlags::ISIG,
                );
                mode.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
                mode.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
            })?;
            let prompt = format!("{text}{space}");
            let line = self
                .editor
                .read_line(&mut self.input, &mut self.output, &prompt);
            drop(raw);
            return line;
        }
        self.prompt_with(text, space)?;
        self.read_line()
    }

    /// Writes lines of text (each `\n` becomes `\r\n` in the crlf style), ending with a newline.
    pub fn print(&mut self, text: &str) -> Result<()> {
        let mut text = format!("{}\n", text.trim_end_matches('\n'));
        if self.style == Style::Crlf {
            text = text.replace('\n', "\r\n");
        }
        self.write_raw(&text)
    }

    /// Writes text as it is (in the crlf style `\n` becomes `\r\n`), with no line end added.
    pub fn write_text(&mut self, text: &str) -> Result<()> {
        if self.style == Style::Crlf {
            return self.write_raw(&text.replace('\n', "\r\n"));
        }
        self.write_raw(text)
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

    /// Prompts with the text alone, never a space after it (as change-mfa's public-key
    /// prompt is shown), and reads an answer.
    pub fn ask_bare(&mut self, prompt: &str) -> Result<String> {
        self.prompt_with(prompt, "")?;
        match self.read_line()? {
            Some(line) => Ok(line),
            None => bail!("end of input at the prompt {prompt:?}"),
        }
    }

    /// Prompts and reads a secret with echo off (when stdin is a terminal), keeping ECHONL so
    /// Enter still moves to a new line, as rpassword does.
    pub fn ask_secret(&mut self, prompt: &str) -> Result<String> {
        let quiet = TerminalMode::set(|mode| {
            mode.local_flags.remove(LocalFlags::ECHO);
            mode.local_flags.insert(LocalFlags::ECHONL);
        })?;
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

/// A change to the stdin terminal's mode, undone when dropped. Does nothing when stdin is not
/// a terminal.
struct TerminalMode {
    saved: Option<Termios>,
}

impl TerminalMode {
    fn set(change: impl FnOnce(&mut Termios)) -> Result<TerminalMode> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(TerminalMode { saved: None });
        }
        let saved = tcgetattr(&stdin).context("cannot read the terminal's mode")?;
        let mut changed = saved.clone();
        change(&mut changed);
        tcsetattr(&stdin, SetArg::TCSANOW, &changed).context("cannot set the terminal's mode")?;
        Ok(TerminalMode { saved: Some(saved) })
    }
}

impl Drop for TerminalMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
    }
}
