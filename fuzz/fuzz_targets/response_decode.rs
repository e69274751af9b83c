//! Fuzz target: `Response::decode` on an arbitrary frame body, as our clients decode the agent's reply.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_entry::response(data));
