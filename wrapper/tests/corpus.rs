//! Replays the committed fuzz corpus of the wrapper's targets (`fuzz/corpus/prompt_feed/`,
//! `fuzz/corpus/command_line/`) through the targets' own entry points, so stable `cargo test`
//! catches a matcher or parser that breaks a property on an input the fuzzer once found or was
//! seeded with.

#[path = "../../fuzz/replay.rs"]
mod replay;
#[path = "../../fuzz/src/wrapper.rs"]
mod wrapper_entry;

use replay::replay;

#[test]
fn prompt_feed_corpus_replays() {
    replay("prompt_feed", wrapper_entry::prompt_feed);
}

#[test]
fn command_line_corpus_replays() {
    replay("command_line", wrapper_entry::command_line);
}
