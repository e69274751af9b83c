//! End-to-end tests: the real binaries, judged by openssl, ssh-add, ssh-keygen and the simulator.

mod agent;
mod conformance;
mod doctor;
mod faults;
mod forwarding;
mod login;
mod packaging;
mod sign;
mod sim;
mod trust;
