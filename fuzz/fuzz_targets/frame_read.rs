//! Fuzz target: an arbitrary byte stream read as frames, by the agent's rule and by `proto::client::call`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_entry::frames(data));
