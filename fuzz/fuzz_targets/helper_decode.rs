//! Fuzz target: the PKCS#11 helper protocol (`HelperRequest`/`HelperResponse::decode`), as the
//! helper reads the agent's requests and the agent reads a helper's (possibly crashed) replies.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_entry::helper(data));
