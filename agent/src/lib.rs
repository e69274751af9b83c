//! mfa-agent and mfa-add: key custody on a local socket (work in progress).
