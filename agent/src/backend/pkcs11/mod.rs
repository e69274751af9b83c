//! PKCS#11 providers (`ssh-add -s`, `mfa-add -s`), as OpenSSH's agent runs them: the `-P`
//! allowlist checked in the agent, each provider's library loaded in a helper process of its
//! own (`mfa-agent --pkcs11-helper`) so that a provider that crashes or hangs costs only its
//! own keys, the rules of which tokens a load uses, and the keys that sign through a helper.

// `-P`: which providers may be loaded.
mod allowlist;
// The rules of a load: usable slots, token choice, failed logins, `--id` matching.
mod choice;
// The agent's side of the helper processes.
mod helper;
// The helper process itself.
mod helper_process;
// One library through cryptoki: tokens, logins, keys, signatures.
mod library;
// Choosing and opening tokens over a library.
mod load;
// A token key as the agent holds it.
mod token_key;

pub(crate) use allowlist::provider_allowed;
pub use allowlist::DEFAULT_PROVIDER_ALLOWLIST;
pub use choice::{describe_filter, pin_prompt, several_logins_note, TokenFacts, TokenFailure};
pub(crate) use helper::{Helpers, LOAD_TIMEOUT};
pub use helper_process::run_helper;
pub use library::Library;
pub use load::{chosen, open_chosen};
pub(crate) use token_key::TokenKey;
