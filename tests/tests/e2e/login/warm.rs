//! The agent connection mfa-login opens at a login's password prompt, so that the token
//! prompt waits for one round trip to the agent instead of two: it is used when it is still
//! good, replaced when the agent went away meanwhile, and a refusal through it is final.

use std::fs;
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::sim::commands::PASSWORD_PROMPT;

use super::{assert_signed_by, login_args, Setup, PASSWORD, SUCCESS};

/// Waits until the agent's log shows mfa-login (pid) listing the keys.
fn wait_for_key_list(agent: &Agent, pid: i32) {
    let line = format!("request-identities from pid={pid} ");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent.log_text().contains(&line) {
        assert!(
            Instant::now() < deadline,
            "mfa-login did not list the keys at the password prompt; agent log:\n{}",
            agent.log_text()
        );
    }
}

#[test]
fn an_agent_restarted_while_the_password_is_typed_still_signs_the_login() {
    let mut s = Setup::new();
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, &[], &["interactive"]));
    pty.expect("aws-cloudhsm >");
    pty.send_line(&login_args("t.json").join(" "));
    pty.expect(PASSWORD_PROMPT);
    wait_for_key_list(&s.agent, pty.pid());
    // The connection opened for the token prompt now leads nowhere: a new agent holding the
    // same key takes the socket.
    assert!(s.agent.stop(), "the first agent stops");
    let again = Agent::start(&s.dir.join("agent"));
    again.add_key(&s.key);
    pty.send_line(PASSWORD);
    pty.expect(SUCCESS);
    pty.expect("aws-cloudhsm >");
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    pty.assert_absent("mfa-login: error");
    assert_signed_by(&s.public, &s.dir.join("t.json"), s.cluster.hsms);
    assert!(again.logged("sign token"), "{}", again.log_text());
}

#[test]
fn a_declined_confirmation_through_the_early_connection_is_not_asked_again() {
    let s = Setup::new();
    let asked = s.dir.join("asked.txt");
    // Says no, and counts how often it was asked.
    let askpass = s.dir.write_mode(
        "askpass.sh",
        format!("#!/bin/sh\necho asked >> '{}'\nexit 1\n", asked.display()),
        0o700,
    );
    let agent = Agent::start_with_env(
        &s.dir.mkdir("confirming", 0o700),
        &[],
        &[("MFA_ASKPASS", askpass.as_os_str())],
    );
    let out = agent.mfa_add(&["-c", s.key.to_str().expect("UTF-8")]);
    assert!(out.status.success(), "mfa-add -c: {out:?}");
    let mut login = s.mfa_login(&s.cluster, &[], &["interactive"]);
    login.env("MFA_AUTH_SOCK", agent.socket());
    let mut pty = Pty::spawn(login);
    pty.expect("aws-cloudhsm >");
    pty.send_line(&login_args("t.json").join(" "));
    pty.expect(PASSWORD_PROMPT);
    wait_for_key_list(&agent, pty.pid());
    pty.send_line(PASSWORD);
    pty.expect("mfa-login: error");
    pty.signal(expectrl::Signal::SIGTERM);
    pty.wait();
    assert_eq!(
        fs::read_to_string(&asked).unwrap_or_default(),
        "asked\n",
        "the person was asked once"
    );
}
