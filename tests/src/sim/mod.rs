//! The CloudHSM CLI simulator: the MFA parts of cloudhsm-cli, faithful enough to test against.
