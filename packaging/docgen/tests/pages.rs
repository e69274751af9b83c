//! The man pages as a reader meets them: groff and man-db render each without a warning, each
//! has the sections a man page is expected to have, the synopsis shows option arguments, NAME
//! does not repeat the program's name, and SEE ALSO names every other page.

use std::path::{Path, PathBuf};
use std::process::Command;

use cloudhsm_mfa_docgen::{programs, render, Generated};

/// Every section every page has; OPTIONS only for the programs' section-1 pages.
const SECTIONS: [&str; 7] = [
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "ENVIRONMENT",
    "FILES",
    "EXAMPLES",
    "SEE ALSO",
];

fn pages() -> Vec<Generated> {
    render()
        .expect("render")
        .into_iter()
        .filter(|f| f.path.starts_with("man"))
        .collect()
}

fn text(page: &Generated) -> String {
    String::from_utf8(page.contents.clone()).expect("utf-8")
}

fn section_of(page: &Generated) -> String {
    let name = page.path.file_name().expect("name").to_string_lossy();
    name.rsplit('.').next().expect("section").to_owned()
}

/// The `.SH` headings, unquoted.
fn headings(page: &str) -> Vec<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .map(|h| h.trim_matches('"').to_owned())
        .collect()
}

#[test]
fn every_page_has_the_expected_sections_in_order() {
    let pages = pages();
    assert_eq!(
        pages.len(),
        programs().len() + 1,
        "a page per program and the overview"
    );
    for page in &pages {
        let found = headings(&text(page));
        let mut wanted: Vec<&str> = SECTIONS.to_vec();
        if section_of(page) == "1" {
            wanted.insert(3, "OPTIONS");
        }
        let positions: Vec<usize> = wanted
            .iter()
            .map(|w| {
                found.iter().position(|f| f == w).unwrap_or_else(|| {
                    panic!("{}: no {w} section in {found:?}", page.path.display())
                })
            })
            .collect();
        assert!(
            positions.windows(2).all(|p| p[0] < p[1]),
            "{}: sections out of order: {found:?}",
            page.path.display()
        );
        assert_eq!(
            found.last().map(String::as_str),
            Some("SEE ALSO"),
            "{}",
            page.path.display()
        );
    }
}

#[test]
fn see_also_names_every_other_page_and_openssh() {
    let pages = pages();
    let names: Vec<(String, String)> = pages
        .iter()
        .map(|p| {
            let stem = p
                .path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            (stem, section_of(p))
        })
        .collect();
    for page in &pages {
        let page_text = text(page);
        let see_also = page_text
            .split(".SH \"SEE ALSO\"")
            .nth(1)
            .expect("SEE ALSO");
        let own = page
            .path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let mut wanted: Vec<(String, String)> =
            names.iter().filter(|(n, _)| *n != own).cloned().collect();
        wanted.push(("ssh\\-agent".into(), "1".into()));
        wanted.push(("ssh\\-add".into(), "1".into()));
        for (name, section) in wanted {
            let name = name.replace("\\-", "-").replace('-', "\\-");
            let cited = format!("\\fB{name}\\fR({section})");
            assert!(
                see_also.contains(&cited),
                "{}: no {cited}",
                page.path.display()
            );
        }
    }
}

#[test]
fn the_synopsis_shows_option_arguments_and_name_does_not_repeat_the_program() {
    let pages = pages();
    let page = |name: &str| {
        pages
            .iter()
            .find(|p| p.path == Path::new("man").join(name))
            .map(text)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let sign = page("mfa-sign.1");
    for shown in [
        "[\n\\fB\\-\\-key\\fR\\ \\fIFP\\fR]",
        "[\n\\fB\\-o\\fR\\ \\fIOUT\\fR]",
        "\n\\fIFILE\\fR\n.YS",
    ] {
        let flat = sign.replace('\n', "");
        let shown = shown.replace('\n', "");
        assert!(flat.contains(&shown), "mfa-sign.1 synopsis lacks {shown}");
    }
    let login = page("mfa-login.1").replace('\n', "");
    assert!(
        login.contains("\\fB\\-\\-\\fR\\ \\fICOMMAND\\fR\\ [\\fIARG\\fR\\ ...]"),
        "mfa-login.1"
    );
    for (name, _) in programs() {
        let page = page(&format!("{name}.1"));
        let line = page
            .split(".SH NAME\n")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .expect("NAME line");
        let escaped = name.replace('-', "\\-");
        let about = line
            .strip_prefix(&format!("{escaped} \\- "))
            .expect("NAME - about");
        assert!(
            !about.to_lowercase().contains(&escaped),
            "{name}: NAME repeats it: {line}"
        );
    }
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The pages written out where man and groff can read them.
fn written() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("man-pages");
    std::fs::create_dir_all(&dir).expect("make the folder");
    pages()
        .iter()
        .map(|page| {
            let path = dir.join(page.path.file_name().expect("name"));
            std::fs::write(&path, &page.contents).expect("write the page");
            path
        })
        .collect()
}

/// Runs `program args PAGE` for every page and fails on anything it writes to stderr.
fn no_warnings(program: &str, args: &[&str]) {
    if !has(program) {
        eprintln!("skipped: {program} is not installed (.ci/run installs it)");
        return;
    }
    for path in written() {
        let output = Command::new(program)
            .args(args)
            .arg(&path)
            .env("LC_ALL", "C.UTF-8")
            .env("MANWIDTH", "80")
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stderr.trim().is_empty(),
            "{program} {args:?} {}: {}\n{stderr}",
            path.display(),
            output.status
        );
        assert!(
            !output.stdout.is_empty() || args.contains(&"-z"),
            "{program}: no output"
        );
    }
}

#[test]
fn groff_renders_every_page_without_a_warning() {
    no_warnings("groff", &["-man", "-ww", "-z"]);
}

#[test]
fn man_renders_every_page_without_a_warning() {
    no_warnings("man", &["--warnings", "-Tutf8", "-l"]);
}
