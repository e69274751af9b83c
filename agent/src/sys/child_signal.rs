//! Our own signal enum at the platform edge: what mfa-agent sends to an agent or passes on to
//! the command it runs, named apart from any platform's signal numbers.

/// A signal mfa-agent passes on to the CMD of `mfa-agent -- CMD`, or sends to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildSignal {
    Terminate,
    Hangup,
}
