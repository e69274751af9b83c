//! The agent's log: the lines it writes (signatures, refused peers, debug) and where they go
//! (stderr, a rotated file, the system log), through a bounded queue and one writer thread so
//! that a stalled or flooded log never blocks the agent. The system log's socket itself is a
//! platform call (`sys::syslog`); the daemon's log file is opened by `daemon::log_file`.

// The log lines and their destinations (`Log`).
mod audit;
// The hash chain every line carries, and its check (`mfa-add --verify-log`).
pub mod chain;
// UTC time stamps of log lines.
mod clock;
// The bounded queue and its writer thread.
mod queue;

pub(crate) use audit::{Destination, Log, MAX_LOG_BYTES};
pub(crate) use clock::unix_now;
