//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz targets' own
//! entry points, so stable `cargo test` catches a decoder that panics on an input the fuzzer
//! once found or was seeded with; and checks that the made userauth seeds start the fuzzer on
//! the accepting path of `parse_userauth_request`.

use std::fs;
use std::panic;
use std::path::Path;

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_entry;
#[path = "../../fuzz/replay.rs"]
mod replay;

use replay::replay;

#[test]
fn token_file_corpus_replays() {
    replay("token_file", fuzz_entry::token_file);
}

#[test]
fn request_decode_corpus_replays() {
    replay("request_decode", fuzz_entry::request);
}

#[test]
fn response_decode_corpus_replays() {
    replay("response_decode", fuzz_entry::response);
}

#[test]
fn helper_decode_corpus_replays() {
    replay("helper_decode", fuzz_entry::helper);
}

#[test]
fn frame_read_corpus_replays() {
    replay("frame_read", fuzz_entry::frames);
}

/// The made userauth seeds reach the end of `parse_userauth_request` (a key-matching,
/// well-formed request), so the fuzzer starts from the accepting path, not only refusals.
#[test]
fn userauth_seeds_are_accepted_userauth_requests() {
    use proto::forwarding::parse_userauth_request;
    use proto::message::Request;
    for (name, hostbound) in [
        ("made-sign-request-userauth-publickey", false),
        ("made-sign-request-userauth-hostbound", true),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus/request_decode")
            .join(name);
        let body = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Ok(Request::Sign { key_blob, data, .. }) = Request::decode(&body) else {
            panic!("{name} is not a sign request");
        };
        let request = parse_userauth_request(&data, &key_blob).expect(name);
        assert_eq!(request.user, "officer1");
        assert_eq!(request.host_key.is_some(), hostbound, "{name}");
    }
}
