//! Small text helpers the prompt matcher, the line tracker and the messages share.

/// The longest command line kept; a longer one keeps its beginning and is marked uncertain.
pub const MAX_LINE: usize = 4096;

/// Removes the last UTF-8 character of a byte string.
pub fn pop_char(text: &mut Vec<u8>) {
    while let Some(b) = text.pop() {
        // Continuation bytes are 10xxxxxx; stop after the lead byte.
        if b & 0xc0 != 0x80 {
            break;
        }
    }
}

pub use client::report::count;
