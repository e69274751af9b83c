//! Pieces every end-to-end test uses: a temporary folder, keys and tokens made with openssl,
//! commands spawned in a PTY, a running mfa-agent, and the workspace's binaries.

pub mod agent;
pub mod bins;
pub mod openssl;
pub mod pty;
pub mod workdir;
