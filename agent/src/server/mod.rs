//! mfa-agent's server: the shared state and its answer to every request (`Agent`), the
//! accept loop, the keys it holds, the lock, confirm-on-use, the audit log, key lifetimes, and
//! what a connection's SSH session bindings allow (`route`, `forwarding`).

mod agent;
mod audit;
mod backend;
mod clock;
mod confirm;
mod forwarding;
mod keys;
mod lifetime;
mod lock;
mod log_queue;
mod provider;
mod route;
mod serve;
mod slots;
mod software_key;
mod token_key;

pub(crate) use agent::Agent;
pub(crate) use audit::{Destination, Log, MAX_LOG_BYTES};
pub(crate) use confirm::Confirmer;
pub use lifetime::parse_lifetime;
pub(crate) use provider::Providers;
pub use provider::DEFAULT_PROVIDER_ALLOWLIST;
pub(crate) use serve::serve;
pub use serve::Limits;
