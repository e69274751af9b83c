//! mfa-agent's server: the shared state and its answer to every request (`Agent`), the
//! accept loop and its connection cap, the keys it holds, the lock, confirm-on-use, and what a
//! connection's SSH session bindings allow (`route`, `forwarding`).

mod agent;
mod confirm;
mod forwarding;
mod keys;
mod lock;
mod refusal;
mod route;
mod serve;
mod slots;

pub(crate) use agent::Agent;
pub(crate) use confirm::Confirmer;
pub(crate) use serve::serve;
pub use serve::Limits;
