//! Fuzz target: Token-file parsing (all four kinds), filling and writing back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_entry::token_file(data));
