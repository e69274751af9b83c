//! The `readline` style's command-line editor, a small stand-in for the rustyline-style editor
//! of the real cloudhsm-cli: the line is read in raw mode (the terminal neither echoes nor
//! edits), keys edit a line with a cursor, Up/Down recall earlier lines, and after each key the
//! whole line is redrawn the way such editors do it: `\r`, the prompt, the line, `ESC[K`, and
//! `ESC[nD` when the cursor is not at the end.
//!
//! Keys: printable text, Backspace/DEL, Delete (`ESC[3~`), Left/Right, Home/End (also ^A/^E),
//! Up/Down (also ^P/^N), ^U (kill to the start), ^C (abandon the line), ^D on an empty line
//! (end of input), Enter. Other keys are ignored.

use std::io::{Read, Write};

use anyhow::Result;

/// A key the editor acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Char(char),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    KillToStart,
    Interrupt,
    EndOfInput,
    Ignored,
}

/// The editor and its history, kept for the whole interactive session.
#[derive(Debug, Default)]
pub struct LineEditor {
    history: Vec<String>,
}

/// The line being edited.
struct Edit {
    line: Vec<char>,
    cursor: usize,
    /// Which history entry is shown; `history.len()` is the new line.
    shown: usize,
    /// The new line, kept while history entries are shown.
    draft: Vec<char>,
}

impl LineEditor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `prompt` and reads one line with the keys of the module doc; None at end of
    /// input. The terminal must already be in raw mode (with output processing still on, so
    /// `\n` starts a new line).
    pub fn read_line(
        &mut self,
        input: &mut impl Read,
        output: &mut impl Write,
        prompt: &str,
    ) -> Result<Option<String>> {
        write_flush(output, prompt)?;
        let mut edit = Edit {
            line: Vec::new(),
            cursor: 0,
            shown: self.history.len(),
            draft: Vec::new(),
        };
        loop {
            let Some(key) = read_key(input)? else {
                return Ok(None);
            };
            match key {
                Key::Enter => {
                    edit.cursor = edit.line.len();
                    redraw(output, prompt, &edit)?;
                    write_flush(output, "\n")?;
                    let text: String = edit.line.iter().collect();
                    if !text.trim().is_empty() && self.history.last() != Some(&text) {
                        self.history.push(text.clone());
                    }
                    return Ok(Some(text));
                }
                Key::Interrupt => {
                    write_flush(output, &format!("^C\n{prompt}"))?;
                    edit.line.clear();
                    edit.cursor = 0;
                    edit.shown = self.history.len();
                    continue;
                }
                Key::EndOfInput if edit.line.is_empty() => {
                    write_flush(output, "\n")?;
                    return Ok(None);
                }
                key => self.apply(&mut edit, key),
            }
            redraw(output, prompt, &edit)?;
        }
    }

    fn apply(&self, edit: &mut Edit, key: Key) {
        let end = edit.line.len();
        match key {
            Key::Char(c) => {
                edit.line.insert(edit.cursor, c);
                edit.cursor += 1;
            }
            Key::Backspace if edit.cursor > 0 => {
                edit.cursor -= 1;
                edit.line.remove(edit.cursor);
            }
            Key::Delete if edit.cursor < end => {
                edit.line.remove(edit.cursor);
            }
            Key::Left => edit.cursor = edit.cursor.saturating_sub(1),
            Key::Right => edit.cursor = (edit.cursor + 1).min(end),
            Key::Home => edit.cursor = 0,
            Key::End => edit.cursor = end,
            Key::KillToStart => {
                edit.line.drain(..edit.cursor);
                edit.cursor = 0;
            }
            Key::Up if edit.shown > 0 => {
                if edit.shown == self.history.len() {
                    edit.draft = edit.line.clone();
                }
                edit.shown -= 1;
                edit.line = self.history[edit.shown].chars().collect();
                edit.cursor = edit.line.len();
            }
            Key::Down if edit.shown < self.history.len() => {
                edit.shown += 1;
                edit.line = match self.history.get(edit.shown) {
                    Some(entry) => entry.chars().collect(),
                    None => edit.draft.clone(),
                };
                edit.cursor = edit.line.len();
            }
            _ => {}
        }
    }
}

/// `\r`, the prompt, the line, clear to the end of the screen line, cursor back into place.
fn redraw(output: &mut impl Write, prompt: &str, edit: &Edit) -> Result<()> {
    let line: String = edit.line.iter().collect();
    let mut text = format!("\r{prompt}{line}\x1b[K");
    let back = edit.line.len() - edit.cursor;
    if back > 0 {
        text.push_str(&format!("\x1b[{back}D"));
    }
    write_flush(output, &text)
}

fn write_flush(output: &mut impl Write, text: &str) -> Result<()> {
    output.write_all(text.as_bytes())?;
    output.flush()?;
    Ok(())
}

fn read_byte(input: &mut impl Read) -> Result<Option<u8>> {
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(byte[0])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads one key: a byte, an escape sequence or a UTF-8 character. None at end of input.
fn read_key(input: &mut impl Read) -> Result<Option<Key>> {
    let Some(b) = read_byte(input)? else {
        return Ok(None);
    };
    let key = match b {
        b'\r' | b'\n' => Key::Enter,
        0x7f | 0x08 => Key::Backspace,
        0x01 => Key::Home,
        0x02 => Key::Left,
        0x03 => Key::Interrupt,
        0x04 => Key::EndOfInput,
        0x05 => Key::End,
        0x06 => Key::Right,
        0x0e => Key::Down,
        0x10 => Key::Up,
        0x15 => Key::KillToStart,
        0x1b => read_escape(input)?,
        0x20..=0x7e => Key::Char(char::from(b)),
        0x80..=0xff => read_utf8(input, b)?,
        _ => Key::Ignored,
    };
    Ok(Some(key))
}

/// After ESC: `[` or `O`, parameters, and a final byte.
fn read_escape(input: &mut impl Read) -> Result<Key> {
    match read_byte(input)? {
        Some(b'[' | b'O') => {}
        _ => return Ok(Key::Ignored),
    }
    let mut params = Vec::new();
    loop {
        let Some(b) = read_byte(input)? else {
            return Ok(Key::Ignored);
        };
        if (0x40..=0x7e).contains(&b) {
            return Ok(match (b, params.as_slice()) {
                (b'A', _) => Key::Up,
                (b'B', _) => Key::Down,
                (b'C', _) => Key::Right,
                (b'D', _) => Key::Left,
                (b'H', _) | (b'~', b"1") | (b'~', b"7") => Key::Home,
                (b'F', _) | (b'~', b"4") | (b'~', b"8") => Key::End,
                (b'~', b"3") => Key::Delete,
                _ => Key::Ignored,
            });
        }
        params.push(b);
    }
}

/// The rest of a UTF-8 character whose first byte is `lead`.
fn read_utf8(input: &mut impl Read, lead: u8) -> Result<Key> {
    let len = match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return Ok(Key::Ignored),
    };
    let mut bytes = vec![lead];
    for _ in 1..len {
        match read_byte(input)? {
            Some(b) => bytes.push(b),
            None => return Ok(Key::Ignored),
        }
    }
    Ok(std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.chars().next())
        .map_or(Key::Ignored, Key::Char))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the editor over `keys`; returns the lines read and everything it wrote.
    fn edit(editor: &mut LineEditor, keys: &[u8]) -> (Option<String>, String) {
        let mut input = keys;
        let mut output = Vec::new();
        let line = editor
            .read_line(&mut input, &mut output, "p> ")
            .expect("read");
        (line, String::from_utf8(output).expect("UTF-8"))
    }

    #[test]
    fn keys_edit_the_line_and_each_key_redraws_it() {
        let mut editor = LineEditor::new();
        let (line, out) = edit(
            &mut editor,
            b"lgo\x7f\x7fogin x.json\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x7fy\r",
        );
        assert_eq!(line.as_deref(), Some("login y.json"));
        assert!(out.starts_with("p> \rp> l\x1b[K\rp> lg\x1b[K"), "{out:?}");
        assert!(out.contains("\rp> login y.json\x1b[K\x1b[5D"), "{out:?}");
        assert!(out.ends_with("\rp> login y.json\x1b[K\n"), "{out:?}");
        let (line, _) = edit(&mut editor, "é\x02\x04a\x1b[3~\r".as_bytes());
        assert_eq!(line.as_deref(), Some("a"), "^D inside a line is ignored");
    }

    #[test]
    fn up_and_down_recall_history_and_keep_the_draft() {
        let mut editor = LineEditor::new();
        edit(&mut editor, b"first\r");
        edit(&mut editor, b"second\r");
        let (line, out) = edit(&mut editor, b"\x1b[A\x1b[A\r");
        assert_eq!(line.as_deref(), Some("first"));
        assert!(out.contains("\rp> second\x1b[K\rp> first\x1b[K"), "{out:?}");
        let (line, _) = edit(&mut editor, b"dra\x1b[A\x1b[Bft\r");
        assert_eq!(line.as_deref(), Some("draft"));
        let (line, _) = edit(&mut editor, b"abc\x03\x1bOA\r");
        assert_eq!(line.as_deref(), Some("draft"), "^C abandons the line");
        assert_eq!(edit(&mut editor, b"\x04").0, None);
        assert_eq!(edit(&mut editor, b"").0, None);
    }
}
