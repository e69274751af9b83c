//! ssh-agent framing and the SSH wire encoding (RFC 4251 section 5) over byte slices.
//!
//! Framing is strict: the declared length is capped at [`MAX_FRAME_LEN`], a decoder consumes
//! exactly the bytes it was given and rejects anything left over.

use crate::{Error, Result};

/// Largest message body the agent and its clients accept (RFC 9987 suggests 256 KiB).
pub const MAX_FRAME_LEN: usize = 256 * 1024;

/// Checks a frame's 4-byte length header and returns the body length it declares.
pub fn frame_len(header: [u8; 4]) -> Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len == 0 {
        return Err(Error::EmptyFrame);
    }
    if len > MAX_FRAME_LEN {
        return Err(Error::FrameTooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

/// Prefixes a message body with its length.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads SSH wire types from a byte slice, never past its end.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut bytes = [0; 8];
        bytes.copy_from_slice(b);
        Ok(u64::from_be_bytes(bytes))
    }

    /// The bytes read since `start`, a copy of this reader made before.
    pub fn since(&self, start: &Reader<'a>) -> &'a [u8] {
        &start.buf[..start.buf.len() - self.buf.len()]
    }

    /// A `string`: a u32 length and that many bytes.
    pub fn string(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// A `string` that must be UTF-8.
    pub fn utf8(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.string()?).map_err(|_| Error::NotUtf8)
    }

    /// An `mpint` as unsigned big-endian magnitude without leading zeros.
    pub fn mpint(&mut self) -> Result<&'a [u8]> {
        let raw = self.string()?;
        let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
        Ok(&raw[start..])
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Ends decoding: anything left over is an error.
    pub fn finish(self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                extra: self.buf.len(),
            })
        }
    }
}

/// Writes SSH wire types into a growing buffer.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn string(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
        self
    }

    /// An unsigned big-endian magnitude as an `mpint` (leading zero added when the top bit is set).
    pub fn mpint(&mut self, magnitude: &[u8]) -> &mut Self {
        let start = magnitude
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(magnitude.len());
        let m = &magnitude[start..];
        let pad = m.first().is_some_and(|&b| b & 0x80 != 0);
        self.u32((m.len() + usize::from(pad)) as u32);
        if pad {
            self.buf.push(0);
        }
        self.buf.extend_from_slice(m);
        self
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_cap_is_enforced() {
        assert!(frame_len((MAX_FRAME_LEN as u32).to_be_bytes()).is_ok());
        assert!(matches!(
            frame_len((MAX_FRAME_LEN as u32 + 1).to_be_bytes()),
            Err(Error::FrameTooLarge { .. })
        ));
        assert!(matches!(frame_len([0; 4]), Err(Error::EmptyFrame)));
    }

    #[test]
    fn mpint_round_trips_with_sign_padding() {
        let mut w = Writer::new();
        w.mpint(&[0, 0, 0x80, 1]).mpint(&[0x7f]).mpint(&[]);
        let bytes = w.into_vec();
        assert_eq!(
            bytes,
            [0, 0, 0, 3, 0, 0x80, 1, 0, 0, 0, 1, 0x7f, 0, 0, 0, 0]
        );
        let mut r = Reader::new(&bytes);
        assert_eq!(r.mpint().expect("a"), &[0x80, 1]);
        assert_eq!(r.mpint().expect("b"), &[0x7f]);
        assert_eq!(r.mpint().expect("c"), &[] as &[u8]);
        r.finish().expect("nothing left");
    }

    #[test]
    fn string_longer_than_buffer_is_truncated_not_a_panic() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert!(matches!(r.string(), Err(Error::Truncated)));
    }
}
