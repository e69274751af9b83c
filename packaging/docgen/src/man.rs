//! The man pages: each program's section-1 page, put together from its clap definition (name,
//! synopsis, description, options) and the hand-written sections in `pages/NAME.txt`
//! (environment, files, examples), and the section-7 overview `pages/cloudhsm-mfa.7.txt`.
//! Every page ends with SEE ALSO naming all the others.

use clap::builder::ValueHint;
use clap::{Arg, ArgAction};
use roff::{bold, italic, roman, Inline, Roff};

use crate::markup::{self, Section};

/// The overview page's name and section.
pub const OVERVIEW: (&str, &str) = ("cloudhsm-mfa", "7");

/// The hand-written sections of each section-1 page, and the overview page.
fn hand_written(name: &str) -> &'static str {
    match name {
        "mfa-agent" => include_str!("../pages/mfa-agent.txt"),
        "mfa-add" => include_str!("../pages/mfa-add.txt"),
        "mfa-login" => include_str!("../pages/mfa-login.txt"),
        "mfa-sign" => include_str!("../pages/mfa-sign.txt"),
        "mfa-doctor" => include_str!("../pages/mfa-doctor.txt"),
        "cloudhsm-mfa" => include_str!("../pages/cloudhsm-mfa.7.txt"),
        other => panic!("no hand-written sections for {other}"),
    }
}

/// The section-1 page of `command`, named `name`; `programs` are all the programs, for SEE
/// ALSO.
pub fn program_page(name: &str, command: &clap::Command, programs: &[&str]) -> Vec<u8> {
    let mut roff = Roff::new();
    title(&mut roff, name, "1");
    roff.control("SH", ["NAME"]);
    let about = command
        .get_about()
        .map(ToString::to_string)
        .unwrap_or_default();
    roff.text([roman(format!("{name} - {}", about.trim_end_matches('.')))]);
    roff.control("SH", ["SYNOPSIS"]);
    synopsis(&mut roff, name, command);
    let sections = markup::sections(hand_written(name));
    roff.control("SH", ["DESCRIPTION"]);
    let intro = sections.iter().find(|s| s.heading == "DESCRIPTION");
    match intro {
        Some(intro) => markup::render_body(&mut roff, &intro.body),
        None => {
            roff.text([roman(format!("{}.", about.trim_end_matches('.')))]);
        }
    }
    if let Some(help) = command
        .get_after_long_help()
        .or_else(|| command.get_after_help())
    {
        roff.control("PP", []);
        description(&mut roff, &help.to_string());
    }
    let mut rest = Roff::new();
    for section in sections.iter().filter(|s| s.heading != "DESCRIPTION") {
        markup::render_section(&mut rest, section);
    }
    see_also(&mut rest, name, programs);
    let page = [
        render(&roff),
        options(command),
        without_preamble(&render(&rest)),
    ]
    .concat();
    page.into_bytes()
}

/// The roff text of `roff`, apostrophes kept as apostrophes (through the preamble's `Aq`
/// string), and the synopsis' non-breaking spaces as roff's `\ `.
fn render(roff: &Roff) -> String {
    roff.render().replace(NON_BREAKING, "\\ ")
}

/// `page` without the preamble that every rendering starts with: a page has it once, at the
/// top.
fn without_preamble(page: &str) -> String {
    let preamble = Roff::new().render();
    page.strip_prefix(preamble.as_str())
        .unwrap_or(page)
        .to_owned()
}

/// The overview page, cloudhsm-mfa(7): its own text, with the synopsis of every program.
pub fn overview_page(programs: &[(&str, clap::Command)]) -> Vec<u8> {
    let (name, section) = OVERVIEW;
    let mut roff = Roff::new();
    title(&mut roff, name, section);
    let names: Vec<&str> = programs.iter().map(|(n, _)| *n).collect();
    for Section { heading, body } in markup::sections(hand_written(name)) {
        roff.control("SH", [heading.as_str()]);
        if heading == "SYNOPSIS" {
            for (program, command) in programs {
                synopsis(&mut roff, program, command);
            }
        }
        markup::render_body(&mut roff, &body);
    }
    see_also(&mut roff, name, &names);
    render(&roff).into_bytes()
}

fn title(roff: &mut Roff, name: &str, section: &str) {
    let source = format!("cloudhsm-mfa {}", env!("CARGO_PKG_VERSION"));
    roff.control("TH", [name, section, "", source.as_str(), "cloudhsm-mfa"]);
    // No hyphenation: names like mfa-login and options would be split at made-up points.
    // groff's man macros turn it back on at each paragraph unless HY is 0.
    roff.control("nh", []);
    roff.control("nr", ["HY", "0"]);
    // Ragged right: justified lines of long paths and options open wide gaps on a terminal.
    roff.control("ad", ["l"]);
}

/// Stands for roff's unbreakable space (`\ `) in the synopsis until the page is rendered: the
/// roff crate escapes every backslash of the text it is given.
const NON_BREAKING: char = '\u{a0}';

/// The usage line as a reader of other man pages expects it: each option with its argument
/// (`[-o OUT]`, the short form when there is one), then the operands (`FILE`, `[KEYFILE ...]`,
/// `-- COMMAND [ARG ...]`). --help and --version are in OPTIONS only.
fn synopsis(roff: &mut Roff, name: &str, command: &clap::Command) {
    // Control lines are not escaped: a bare '-' would print as a hyphen, not a minus.
    roff.control("SY", [name.replace('-', "\\-").as_str()]);
    for arg in command.get_arguments() {
        if arg.is_hide_set() || arg.is_positional() || is_help_or_version(arg) {
            continue;
        }
        let mut line = vec![roman("[")];
        match (arg.get_short(), arg.get_long()) {
            (Some(short), _) => line.push(bold(format!("-{short}"))),
            (None, Some(long)) => line.push(bold(format!("--{long}"))),
            (None, None) => continue,
        }
        if takes_value(arg) {
            let value = value_name(arg);
            let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
            if optional {
                line.extend([roman("["), roman("="), italic(value), roman("]")]);
            } else {
                line.extend([roman(NON_BREAKING.to_string()), italic(value)]);
            }
        }
        line.push(roman("]"));
        roff.text(line);
    }
    for arg in command.get_positionals() {
        if arg.is_hide_set() {
            continue;
        }
        let value = value_name(arg);
        let many = matches!(arg.get_action(), ArgAction::Append)
            || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        let mut line: Vec<Inline> = Vec::new();
        if arg.get_value_hint() == ValueHint::CommandWithArguments {
            let space = NON_BREAKING;
            line.extend([
                bold("--"),
                roman(space.to_string()),
                italic(value),
                roman(format!("{space}[")),
                italic("ARG"),
                roman(format!("{space}...]")),
            ]);
        } else {
            line.push(italic(value));
            if many {
                line.push(roman(format!("{NON_BREAKING}...")));
            }
        }
        if !arg.is_required_set() {
            line.insert(0, roman("["));
            line.push(roman("]"));
        }
        roff.text(line);
    }
    roff.control("YS", []);
}

fn is_help_or_version(arg: &Arg) -> bool {
    matches!(
        arg.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    )
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.takes_values())
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .map(|names| {
            names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

/// The program's `after_help` as DESCRIPTION paragraphs: blank lines separate paragraphs; a
/// paragraph with an indented line (a table of modes, a list of exit statuses, an example) is
/// kept as laid out, the rest is filled.
fn description(roff: &mut Roff, help: &str) {
    let paragraphs: Vec<&str> = help
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .collect();
    for (index, paragraph) in paragraphs.iter().enumerate() {
        if index > 0 {
            roff.control("PP", []);
        }
        let laid_out = paragraph.lines().any(|l| l.starts_with(' '));
        if laid_out {
            roff.control("nf", []);
            for line in paragraph.lines() {
                roff.text([roman(line)]);
            }
            roff.control("fi", []);
        } else {
            let text: Vec<&str> = paragraph.lines().map(str::trim).collect();
            roff.text([roman(text.join(" "))]);
        }
    }
}

/// OPTIONS as clap_mangen writes it (every shown option, its value, default and possible
/// values), without the preamble each of its renderings starts with.
fn options(command: &clap::Command) -> String {
    let mut section = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render_options_section(&mut section)
        .unwrap_or_else(|e| panic!("render into memory: {e}"));
    without_preamble(&String::from_utf8_lossy(&section))
}

/// SEE ALSO: the overview and every other program's page, then OpenSSH's.
fn see_also(roff: &mut Roff, name: &str, programs: &[&str]) {
    roff.control("SH", ["SEE ALSO"]);
    let (overview, section) = OVERVIEW;
    let mut pages: Vec<(String, &str)> = Vec::new();
    if name != overview {
        pages.push((overview.to_owned(), section));
    }
    pages.extend(
        programs
            .iter()
            .filter(|p| **p != name)
            .map(|p| ((*p).to_owned(), "1")),
    );
    pages.extend([
        ("ssh-agent".to_owned(), "1"),
        ("ssh-add".to_owned(), "1"),
        ("ssh".to_owned(), "1"),
    ]);
    let mut line = Vec::new();
    for (index, (page, section)) in pages.iter().enumerate() {
        if index > 0 {
            line.push(roman(", "));
        }
        line.push(bold(page.as_str()));
        line.push(roman(format!("({section})")));
    }
    roff.text(line);
}
