//! The CloudHSM CLI simulator and the end-to-end test harness (work in progress).
