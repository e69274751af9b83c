//! What each fuzz target feeds its input to, and the properties it checks beyond "no panic".
//!
//! The fuzz targets (`fuzz_targets/*.rs`) are one line each over these functions, and
//! `proto/tests/corpus.rs` includes this file to replay the committed corpus through the same
//! functions under stable `cargo test`. So this file depends only on std, `proto` and
//! `serde_json` (a dependency of `proto` too).

use std::io::{Read, Write};

use proto::forwarding::parse_userauth_request;
use proto::key::{fingerprint, parse_public_key_blob};
use proto::message::{Request, Response};
use proto::pkcs11::{HelperRequest, HelperResponse};
use proto::tokenfile::{TokenFile, TokenFileKind, MAX_FILE_BYTES, MAX_TOKENS};
use proto::wire::{frame, frame_len, MAX_FRAME_LEN};
use serde_json::Value;

/// A token file as mfa-sign and mfa-login read it. Whatever parses must take one signature
/// per token and write back a file that parses again to the same kind and tokens, signed.
pub fn token_file(data: &[u8]) {
    let Ok(mut file) = TokenFile::parse(data) else {
        return;
    };
    let kind = file.kind();
    let tokens = file.tokens().to_vec();
    assert!(
        (1..=MAX_TOKENS).contains(&tokens.len()),
        "{} tokens",
        tokens.len()
    );
    let _ = file.is_unsigned();
    let _ = file.approval_data();

    let unsigned = file.to_bytes();
    if unsigned.len() <= MAX_FILE_BYTES {
        let back = TokenFile::parse(&unsigned).expect("a parsed file, written back, parses");
        assert_eq!(back.kind(), kind);
        assert_eq!(back.tokens(), tokens.as_slice());
    }

    let signatures = vec![vec![0xa5; 256]; tokens.len()];
    file.fill(&signatures, Some("fuzz"))
        .expect("a parsed file takes one signature per token");
    let signed = file.to_bytes();
    if signed.len() <= MAX_FILE_BYTES {
        let back = TokenFile::parse(&signed).expect("a signed file parses");
        assert_eq!(back.kind(), kind);
        assert_eq!(back.tokens(), tokens.as_slice());
        if kind != TokenFileKind::QuorumApproval {
            assert!(!back.is_unsigned(), "signed file reads as unsigned");
        }
        assert_eq!(
            without_signatures(data, kind),
            without_signatures(&signed, kind),
            "signing changed something besides the signatures"
        );
    }
}

/// The file as JSON text with its signature fields blanked (and the fuzz approver's entry
/// dropped): what signing must keep, field order included.
fn without_signatures(bytes: &[u8], kind: TokenFileKind) -> String {
    let mut doc: Value = serde_json::from_slice(bytes).expect("a parsed file is JSON");
    let blank = |list: Option<&mut Value>, field: &str| {
        for entry in list.and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(obj) = entry.as_object_mut() {
                obj.insert(field.to_owned(), Value::String(String::new()));
            }
        }
    };
    match kind {
        TokenFileKind::MfaLogin | TokenFileKind::QuorumRegistration => {
            blank(doc.get_mut("tokens"), "signed");
        }
        TokenFileKind::LegacyAuthData => blank(doc.get_mut("Data"), "Signature"),
        TokenFileKind::QuorumApproval => {
            if let Some(list) = doc.get_mut("signatures").and_then(Value::as_array_mut) {
                list.retain(|e| e.get("username").and_then(Value::as_str) != Some("fuzz"));
            }
        }
    }
    doc.to_string()
}

/// A frame body as the agent decodes a client's request, then the key parsing the agent does
/// next. Whatever decodes must encode to bytes that decode to the same encoding.
pub fn request(body: &[u8]) {
    let Ok(request) = Request::decode(body) else {
        return;
    };
    let bytes = request.encode();
    let again = Request::decode(&bytes).expect("an encoded request decodes");
    assert_eq!(again.encode(), bytes, "re-encoding a request changed it");
    match &request {
        Request::AddIdentity { key, .. } => {
            // The agent checks the public half in proto, then hands the fields to OpenSSL.
            let _ = key.public_key();
        }
        Request::Sign { key_blob, data, .. } => {
            let _ = parse_public_key_blob(key_blob);
            // A destination-constrained key's signature is checked as a userauth request.
            let _ = parse_userauth_request(data, key_blob);
        }
        Request::RemoveIdentity { key_blob } => {
            let _ = parse_public_key_blob(key_blob);
        }
        Request::TokenSign(sign) => {
            let _ = parse_public_key_blob(&sign.key_blob);
        }
        _ => {}
    }
}

/// A frame body as mfa-add, mfa-login and mfa-sign decode the agent's reply, then the key
/// parsing they do on listed identities. Whatever decodes must round-trip exactly.
/// A frame body between the agent and its PKCS#11 helper, read as either direction: whatever
/// decodes encodes to bytes that decode to the same message.
pub fn helper(body: &[u8]) {
    if let Ok(request) = HelperRequest::decode(body) {
        let bytes = request.encode();
        let again = HelperRequest::decode(&bytes).expect("an encoded helper request decodes");
        assert_eq!(
            *again.encode(),
            *bytes,
            "a helper request did not round-trip"
        );
    }
    if let Ok(response) = HelperResponse::decode(body) {
        let again =
            HelperResponse::decode(&response.encode()).expect("an encoded helper reply decodes");
        assert_eq!(again, response, "a helper reply did not round-trip");
    }
}

pub fn response(body: &[u8]) {
    let Ok(response) = Response::decode(body) else {
        return;
    };
    let again = Response::decode(&response.encode()).expect("an encoded response decodes");
    assert_eq!(again, response, "a response did not round-trip");
    if let Response::Identities(identities) = &response {
        for identity in identities {
            let _ = parse_public_key_blob(&identity.key_blob);
            let _ = fingerprint(&identity.key_blob);
        }
    }
}

/// A byte stream read as frames two ways.
///
/// As the agent reads a connection (`agent/src/server.rs`: a 4-byte header checked by
/// `frame_len`, then exactly that many bytes): an empty frame is skipped (answered FAILURE), an
/// over-long one ends the stream (the agent closes the connection), each body goes to
/// [`request`]. Then as a client reads its reply: `proto::client::call` over a stream that
/// returns these bytes, which must write exactly one framed request whatever comes back.
pub fn frames(data: &[u8]) {
    let mut rest = data;
    while let Some((header, tail)) = rest.split_first_chunk::<4>() {
        let len = match frame_len(*header) {
            Ok(len) => len,
            Err(proto::Error::EmptyFrame) => {
                rest = tail;
                continue;
            }
            Err(_) => break,
        };
        assert!((1..=MAX_FRAME_LEN).contains(&len));
        let Some((body, tail)) = tail.split_at_checked(len) else {
            break;
        };
        request(body);
        rest = tail;
    }

    let mut stream = ScriptedStream {
        reply: data,
        written: Vec::new(),
    };
    let request = Request::RequestIdentities;
    let result = proto::client::call(&mut stream, &request);
    assert_eq!(stream.written, frame(&request.encode()));
    if let Ok(reply) = result {
        response(&reply.encode());
    }
}

/// A stream that takes whatever is written and reads back a fixed reply, in small pieces as
/// a socket may deliver them.
struct ScriptedStream<'a> {
    reply: &'a [u8],
    written: Vec<u8>,
}

impl Read for ScriptedStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.reply.len()).min(7);
        buf[..n].copy_from_slice(&self.reply[..n]);
        self.reply = &self.reply[n..];
        Ok(n)
    }
}

impl Write for ScriptedStream<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
