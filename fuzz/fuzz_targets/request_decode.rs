//! Fuzz target: `Request::decode` on an arbitrary frame body, as the agent decodes a client's request.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_entry::request(data));
