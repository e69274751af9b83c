//! Fuzz target: the command-line parser behind `--token` detection (`Command::from_line`,
//! `split_words`, `option_value`).
#![no_main]

#[path = "../src/wrapper.rs"]
#[allow(dead_code)] // each target uses one of its entry points
mod wrapper_entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| wrapper_entry::command_line(data));
