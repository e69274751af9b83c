//! Exit statuses the programs share, as a shell and `env(1)` give them, so scripts can tell
//! our failure from the command's.

/// The program itself failed (mfa-login's 125, as `env` and `timeout` use it).
pub const OWN_FAILURE: u8 = 125;
/// COMMAND was found but cannot be executed.
pub const NOT_EXECUTABLE: u8 = 126;
/// COMMAND was not found.
pub const NOT_FOUND: u8 = 127;

/// How a child process ended, as plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Code(i32),
    Signal(i32),
}

impl ChildExit {
    /// The status to exit with: the child's own, or 128+N when signal N killed it.
    pub fn status(self) -> i32 {
        match self {
            ChildExit::Code(code) => code,
            ChildExit::Signal(signal) => 128 + signal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_gives_128_plus_its_number() {
        assert_eq!(ChildExit::Code(3).status(), 3);
        assert_eq!(ChildExit::Signal(15).status(), 143);
    }
}
