//! Fuzz target: the prompt matcher over CLI output split at arbitrary points.
#![no_main]

#[path = "../src/wrapper.rs"]
#[allow(dead_code)] // each target uses one of its entry points
mod wrapper_entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| wrapper_entry::prompt_feed(data));
