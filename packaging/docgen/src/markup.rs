//! The plain-text form the hand-written parts of the man pages are kept in
//! (`packaging/docgen/pages/`), and its rendering to roff.
//!
//! The form is a small subset of what a reader expects from a README, so the pages can be
//! written and reviewed as text, and every character is escaped by the `roff` crate rather
//! than by hand:
//!
//! - `# HEADING` starts a section (`.SH`), `## Heading` a subsection (`.SS`);
//! - a line indented by four spaces is a literal line (commands, file contents), shown as
//!   written; consecutive ones make one block;
//! - `: TERM` starts a tagged paragraph (`.TP`), its term in bold; the lines after it, up to a
//!   blank line, are its text;
//! - `- ` at the start of a line starts a bulleted paragraph;
//! - other lines are running text, filled into paragraphs that blank lines separate;
//! - in running text and terms, `` `code` `` is set in bold.

use roff::{bold, roman, Inline, Roff};

/// One section of a page: its heading and its text in the form above, without the heading
/// line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub heading: String,
    pub body: String,
}

/// Splits `text` at its `# HEADING` lines. Text before the first heading is an error in the
/// page, reported by panicking: the pages are compiled in, so a test run finds it.
pub fn sections(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("# ") {
            sections.push(Section {
                heading: heading.trim().to_owned(),
                body: String::new(),
            });
        } else if let Some(section) = sections.last_mut() {
            section.body.push_str(line);
            section.body.push('\n');
        } else {
            assert!(
                line.trim().is_empty(),
                "text before the first heading: {line}"
            );
        }
    }
    sections
}

/// Appends `section` to `roff`: its `.SH` line, then its body.
pub fn render_section(roff: &mut Roff, section: &Section) {
    roff.control("SH", [section.heading.as_str()]);
    render_body(roff, &section.body);
}

/// What a run of lines is.
enum Block {
    Text(String),
    Literal(Vec<String>),
    Tagged(String, String),
    Bullet(String),
    Subheading(String),
}

/// Appends the body text (no `#` headings) to `roff`.
pub fn render_body(roff: &mut Roff, body: &str) {
    for (index, block) in blocks(body).into_iter().enumerate() {
        match block {
            Block::Subheading(title) => {
                roff.control("SS", [title.as_str()]);
            }
            Block::Text(text) => {
                if index > 0 {
                    roff.control("PP", []);
                }
                roff.text(inlines(&text));
            }
            Block::Literal(lines) => {
                roff.control("PP", []);
                roff.control("RS", ["4"]);
                roff.control("nf", []);
                for line in lines {
                    roff.text([roman(line)]);
                }
                roff.control("fi", []);
                roff.control("RE", []);
            }
            Block::Tagged(term, text) => {
                roff.control("TP", []);
                roff.text(inlines_bold(&term));
                roff.text(inlines(&text));
            }
            Block::Bullet(text) => {
                roff.control("IP", ["\\(bu", "2"]);
                roff.text(inlines(&text));
            }
        }
    }
}

/// Groups the lines of `body` into blocks.
fn blocks(body: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    let finish = |current: &mut Option<Block>, blocks: &mut Vec<Block>| {
        if let Some(block) = current.take() {
            blocks.push(block);
        }
    };
    for line in body.lines() {
        if let Some(literal) = line.strip_prefix("    ") {
            if let Some(Block::Literal(lines)) = &mut current {
                lines.push(literal.to_owned());
            } else {
                finish(&mut current, &mut blocks);
                current = Some(Block::Literal(vec![literal.to_owned()]));
            }
        } else if line.trim().is_empty() {
            // A blank line inside a literal block belongs to it only if more literal lines
            // follow; a literal block never ends with one.
            finish(&mut current, &mut blocks);
        } else if let Some(title) = line.strip_prefix("## ") {
            finish(&mut current, &mut blocks);
            blocks.push(Block::Subheading(title.trim().to_owned()));
        } else if let Some(term) = line.strip_prefix(": ") {
            finish(&mut current, &mut blocks);
            current = Some(Block::Tagged(term.trim().to_owned(), String::new()));
        } else if let Some(text) = line.strip_prefix("- ") {
            finish(&mut current, &mut blocks);
            current = Some(Block::Bullet(text.trim().to_owned()));
        } else {
            match &mut current {
                Some(Block::Text(text) | Block::Tagged(_, text) | Block::Bullet(text)) => {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(line.trim());
                }
                _ => {
                    finish(&mut current, &mut blocks);
                    current = Some(Block::Text(line.trim().to_owned()));
                }
            }
        }
    }
    finish(&mut current, &mut blocks);
    blocks
}

/// Running text with its `` `code` `` spans in bold.
fn inlines(text: &str) -> Vec<Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, piece)| !piece.is_empty())
        .map(|(i, piece)| {
            if i % 2 == 1 {
                bold(piece)
            } else {
                roman(piece)
            }
        })
        .collect()
}

/// A term: bold throughout (its `` ` `` marks are dropped).
fn inlines_bold(term: &str) -> Vec<Inline> {
    vec![bold(term.replace('`', ""))]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(body: &str) -> String {
        let mut roff = Roff::new();
        render_body(&mut roff, body);
        roff.to_roff()
    }

    #[test]
    fn a_literal_line_keeps_its_spaces_and_its_dashes_are_escaped() {
        let out = render("Run:\n\n    mfa-add  -l\n");
        assert!(out.contains(".nf\nmfa\\-add  \\-l\n.fi\n"), "{out}");
    }

    #[test]
    fn running_lines_are_one_paragraph_and_code_is_bold() {
        let out = render("Start `mfa-agent`\nfirst.\n\nThen this.\n");
        assert!(out.contains("Start \\fBmfa\\-agent\\fR first."), "{out}");
        assert!(out.contains("\n.PP\nThen this."), "{out}");
    }

    #[test]
    fn a_tagged_paragraph_has_a_bold_term() {
        let out = render(": MFA_AUTH_SOCK\nThe socket.\n");
        assert!(
            out.contains(".TP\n\\fBMFA_AUTH_SOCK\\fR\nThe socket."),
            "{out}"
        );
    }

    #[test]
    fn headings_split_sections() {
        let found = sections("# FILES\n: a\nb\n# SEE ALSO\nx\n");
        let headings: Vec<_> = found.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(headings, ["FILES", "SEE ALSO"]);
    }
}
