//! Exit statuses the programs share, as a shell and `env(1)` give them, so scripts can tell
//! our failure from the command's: one type, [`Status`], for every program's end.

use std::process::ExitCode;

/// A program's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(u8);

impl Status {
    pub const SUCCESS: Status = Status(0);
    /// mfa-add, mfa-agent and mfa-sign failed (the error says why).
    pub const FAILURE: Status = Status(1);
    /// mfa-add, mfa-agent and mfa-sign were given bad arguments.
    pub const USAGE: Status = Status(2);
    /// mfa-login itself failed (as `env` and `timeout` use 125), not COMMAND.
    pub const OWN_FAILURE: Status = Status(125);
    /// COMMAND was found but cannot be executed.
    pub const NOT_EXECUTABLE: Status = Status(126);
    /// COMMAND was not found.
    pub const NOT_FOUND: Status = Status(127);

    /// The status a child's end gives, as a shell reports it: its exit code (the low 8 bits,
    /// all a parent sees), or 128+N when signal N killed it.
    pub fn of(exit: ChildExit) -> Status {
        match exit {
            ChildExit::Code(code) => Status(code.to_le_bytes()[0]),
            ChildExit::Signal(signal) => {
                Status(u8::try_from(128 + signal).unwrap_or(Self::OWN_FAILURE.0))
            }
        }
    }

    pub fn code(self) -> u8 {
        self.0
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(status.0)
    }
}

/// How a child process ended, as plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Code(i32),
    Signal(i32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_childs_code_passes_through_and_a_signal_gives_128_plus_its_number() {
        assert_eq!(Status::of(ChildExit::Code(3)).code(), 3);
        assert_eq!(Status::of(ChildExit::Code(256 + 7)).code(), 7);
        assert_eq!(Status::of(ChildExit::Signal(15)).code(), 143);
    }
}
