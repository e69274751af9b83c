//! One request and its reply over any blocking byte stream (a Unix socket in practice).
//!
//! The stream is the caller's; this module only frames, so it stays free of platform code.

use std::io::{Read, Write};

use zeroize::Zeroizing;

use crate::message::{Request, Response};
use crate::wire::{frame, frame_len};
use crate::Result;

/// Sends one request and reads its reply.
pub fn call<S: Read + Write>(stream: &mut S, request: &Request) -> Result<Response> {
    send(stream, request)?;
    receive(stream)
}

/// Sends one request. The agent answers requests in the order they came, so a client may
/// send several before it reads the replies ([`receive`]).
///
/// The encoded request is wiped once sent: an add-identity request carries a private key and
/// a lock request a passphrase.
pub fn send<S: Write>(stream: &mut S, request: &Request) -> Result<()> {
    let body = Zeroizing::new(request.encode());
    stream.write_all(&Zeroizing::new(frame(&body)))?;
    stream.flush()?;
    Ok(())
}

/// Reads the reply to the oldest request not yet answered.
pub fn receive<S: Read>(stream: &mut S) -> Result<Response> {
    Response::decode(&read_frame(stream)?)
}

/// Reads one frame's body (its length checked by [`frame_len`]); wiped when dropped, since a
/// body may carry a key or a PIN. Also the framing of the agent's PKCS#11 helper pipes.
pub fn read_frame<S: Read>(stream: &mut S) -> Result<Zeroizing<Vec<u8>>> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header)?;
    let mut body = Zeroizing::new(vec![0u8; frame_len(header)?]);
    stream.read_exact(&mut body)?;
    Ok(body)
}
