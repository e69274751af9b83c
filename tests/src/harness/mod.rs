//! Pieces every end-to-end test uses: a temporary folder, keys and tokens made with openssl,
//! commands spawned in a PTY, a running mfa-agent, the workspace's binaries, and
//! cloudhsm_mgmt_util authdata files signed by hand with openssl, and SoftHSM2 tokens.

pub mod agent;
pub mod authdata;
pub mod bins;
pub mod openssl;
pub mod pty;
pub mod softhsm;
pub mod workdir;
