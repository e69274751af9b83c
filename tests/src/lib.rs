//! The end-to-end harness shared by the integration tests, and the CloudHSM CLI simulator's
//! library code (`cloudhsm-cli-sim` is a thin binary over [`sim`]).

pub mod harness;
pub mod sim;
