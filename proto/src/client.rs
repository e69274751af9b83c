//! One request and its reply over any blocking byte stream (a Unix socket in practice).
//!
//! The stream is the caller's; this module only frames, so it stays free of platform code.

use std::io::{Read, Write};

use crate::message::{Request, Response};
use crate::wire::{frame, frame_len};
use crate::Result;

/// Sends one request and reads its reply.
pub fn call<S: Read + Write>(stream: &mut S, request: &Request) -> Result<Response> {
    stream.write_all(&frame(&request.encode()))?;
    stream.flush()?;
    let mut header = [0u8; 4];
    stream.read_exact(&mut header)?;
    let mut body = vec![0u8; frame_len(header)?];
    stream.read_exact(&mut body)?;
    Response::decode(&body)
}
