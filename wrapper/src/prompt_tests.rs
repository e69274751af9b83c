//! The prompt matcher's tests: prompts, colour, line editing, results, bounds, and that the
//! bulk path reads output exactly as byte-by-byte feeding does.

use super::*;

const TOKEN_PROMPT: &str =
    "Enter signed token file path (press enter if same as the unsigned token file):";

#[test]
fn a_prompt_split_at_every_byte_is_found_once() {
    let out = format!("Enter password:\r\n{TOKEN_PROMPT} ");
    let mut m = PromptMatcher::new();
    let found: Vec<Prompt> = out.bytes().filter_map(|b| m.feed(&[b])).collect();
    assert_eq!(found, [Prompt::Password, Prompt::SignedTokenFile]);
}

#[test]
fn colour_and_carriage_returns_are_ignored() {
    let mut m = PromptMatcher::new();
    let coloured = "\x1b[1;32mEnter \x1b[0mpass\rword:\x1b[0m";
    assert_eq!(m.feed(coloured.as_bytes()), Some(Prompt::Password));
    assert_eq!(
        m.feed(b"\x1b]0;title\x07aws-cloudhsm>"),
        Some(Prompt::Interactive)
    );
    assert_eq!(m.feed(b"\x1b(Baws-cloudhsm > "), Some(Prompt::Interactive));
}

#[test]
fn text_after_a_prompt_is_not_a_prompt() {
    let mut m = PromptMatcher::new();
    assert_eq!(m.feed(b"usage: Enter password: is asked next\n"), None);
    assert_eq!(m.feed(b"Enter password:x"), None);
}

#[test]
fn the_echoed_command_follows_line_editing() {
    let mut m = PromptMatcher::new();
    assert_eq!(m.feed(b"aws-cloudhsm > "), Some(Prompt::Interactive));
    m.feed(b"login --token a.jsox\x08 \x08n\r\n");
    assert_eq!(
        m.take_echoed_command().as_deref(),
        Some("login --token a.json")
    );
    assert_eq!(m.take_echoed_command(), None);
}

#[test]
fn a_line_editor_redrawing_the_line_gives_the_final_text() {
    // What a readline-style editor writes for `lgo`, two backspaces, `ogin x`, Enter.
    let mut m = PromptMatcher::new();
    assert_eq!(m.feed(b"aws-cloudhsm > "), Some(Prompt::Interactive));
    for redraw in ["l", "lg", "lgo", "lg", "l"] {
        m.feed(format!("\r\x1b[1;36maws-cloudhsm >\x1b[0m {redraw}\x1b[K").as_bytes());
    }
    m.feed(b"\raws-cloudhsm > login --token x\x1b[K\r\n");
    assert_eq!(m.take_echoed_command().as_deref(), Some("login --token x"));
}

#[test]
fn result_codes_are_read_from_pretty_coloured_and_split_json() {
    let mut m = PromptMatcher::new();
    let pretty = "{\r\n  \"error_code\": 1,\r\n  \"data\": \"MFA failed\"\r\n}\r\naws-cloudhsm > ";
    let found: Vec<Option<Prompt>> = pretty.bytes().map(|b| m.feed(&[b])).collect();
    assert!(found.contains(&Some(Prompt::Interactive)));
    assert_eq!(m.take_result_code(), Some(1));
    assert_eq!(m.take_result_code(), None);
    m.feed(b"\x1b[32m{\"error_code\"\x1b[0m: 0, \"data\": {}}\n");
    assert_eq!(m.take_result_code(), Some(0));
    m.feed(b"{\"error_code\": 12\n}\n");
    assert_eq!(m.take_result_code(), Some(12));
    m.feed(b"said \"error_code\" and 3 things\n\"error_code\": x\n");
    assert_eq!(m.take_result_code(), None);
}

#[test]
fn mgmt_util_results_and_authdata_paths_are_noted() {
    let mut m = PromptMatcher::new();
    m.feed(b"Authentication data written to: \"/tmp/a b.json\"\r\n");
    assert_eq!(m.take_authdata_path().as_deref(), Some("/tmp/a b.json"));
    m.feed(b"loginHSM success on server 0(10.0.0.1)\r\n");
    assert_eq!(m.take_result_code(), Some(0));
    m.feed(b"loginHSM failed: HSM Error: RET_USER_LOGIN_FAILURE\n");
    assert_eq!(m.take_result_code(), Some(1));
    m.feed(b"listUsers success\n");
    assert_eq!(m.take_result_code(), None);
    assert_eq!(
        m.feed(b"Leave this field blank to use the path initially provided.\nEnter filename:"),
        Some(Prompt::AuthDataFile)
    );
}

#[test]
fn long_lines_stay_bounded() {
    let mut m = PromptMatcher::new();
    for _ in 0..10_000 {
        m.feed(b"xxxxxxxxxxxxxxxx");
    }
    assert!(m.line.len() <= WINDOW);
    assert_eq!(m.feed(b"Enter password: "), Some(Prompt::Password));
}

/// The matcher as it was before plain runs went in bulk: every byte through the escape
/// filter and `push`, then the same prompt check as [`PromptMatcher::feed`].
fn feed_byte_by_byte(m: &mut PromptMatcher, bytes: &[u8]) -> Option<Prompt> {
    for &b in bytes {
        if let Some(text_byte) = m.filter(b) {
            m.push(text_byte);
        }
    }
    let text = trim_end_spaces(&m.line);
    let prompt = PROMPTS
        .iter()
        .find(|(p, _)| text.ends_with(p.as_bytes()))
        .map(|&(_, prompt)| prompt)?;
    m.line.clear();
    m.echo = (prompt == Prompt::Interactive).then(Vec::new);
    Some(prompt)
}

#[test]
fn plain_runs_in_bulk_leave_the_matcher_as_byte_by_byte_feeding_does() {
    let mut out = String::new();
    for i in 0..40 {
        out.push_str(&format!(
            "{{\"error_code\": {i}, \"data\": {{\"key-reference\": \"0x{i:016x}\", \"ts\": \"12:{i:02}:07\"}}}}\r\n"
        ));
        out.push_str(&"0123456789abcdef:- ".repeat(i));
        out.push_str("\"error_code\"  :  -");
        out.push_str(&"9".repeat(i * 7));
        out.push_str(if i % 3 == 0 {
            "\r\n"
        } else {
            " \x1b[1mx\x1b[0m\x08y\t"
        });
        out.push_str(&format!("\x1b[32m{{\"error_code\"\x1b[0m : {i}}}\r\n"));
        if i % 5 == 0 {
            out.push_str("aws-cloudhsm > login --token t.json\r\nEnter password:");
            // A line editor's redraws: `\r`, the coloured prompt, the line so far.
            out.push_str("\raws-cloudhsm > lg\r\x1b[1;36maws-cloudhsm >\x1b[0m log\x1b[K\r\n");
        }
    }
    let bytes = out.as_bytes();
    for piece in [1, 2, 3, 7, 64, 300, 4096, bytes.len()] {
        let (mut bulk, mut reference) = (PromptMatcher::new(), PromptMatcher::new());
        let (mut codes, mut reference_codes) = (Vec::new(), Vec::new());
        for chunk in bytes.chunks(piece) {
            assert_eq!(bulk.feed(chunk), feed_byte_by_byte(&mut reference, chunk));
            codes.push(bulk.take_result_code());
            reference_codes.push(reference.take_result_code());
            assert_eq!(
                format!("{bulk:?}"),
                format!("{reference:?}"),
                "pieces of {piece}"
            );
        }
        assert_eq!(codes, reference_codes);
        assert!(
            codes.iter().flatten().any(|&c| c == 39),
            "pieces of {piece}"
        );
    }
}

#[test]
fn plain_runs_end_at_the_first_control_character_or_after_the_first_colon() {
    let naive = |bytes: &[u8]| match bytes
        .iter()
        .position(|&b| b < 0x20 || b == 0x7f || b == b':')
    {
        Some(i) if bytes[i] == b':' => i + 1,
        Some(i) => i,
        None => bytes.len(),
    };
    for special in 0..=255u8 {
        for at in 0..20 {
            // Text around it with high bytes and bytes just past each limit, which a word-wide
            // test could take for special ones.
            let mut bytes: Vec<u8> = (0..24)
                .map(|i| [0x20, 0x3b, 0x80, 0xff, 0x7e][i % 5])
                .collect();
            bytes[at] = special;
            bytes[at + 2] = 0x01;
            assert_eq!(plain_run(&bytes), naive(&bytes), "{special:#x} at {at}");
        }
    }
}
