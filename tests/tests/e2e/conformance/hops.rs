//! The forwarded mfa-agent as OpenSSH's agent.sh uses it: a login onward from the far side
//! through it, `ssh-add -D` through it, `ForwardAgent=PATH` naming a second agent, and
//! `ssh-add -d -` reading the public key from stdin.

use std::fs::File;
use std::process::{Command, Stdio};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::{
    assert_ok, authorize, fingerprints, listed, onward, plain_host, ssh_add, ssh_with, text,
    UserKey,
};

#[test]
fn a_login_onward_from_the_far_side_goes_through_the_forwarded_agent() {
    let dir = WorkDir::new();
    let Some(first) = plain_host(&dir, "first") else {
        return;
    };
    let Some(second) = plain_host(&dir, "second") else {
        return;
    };
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = UserKey::new(dir.path(), "conf-onward.key");
    // Only the agent's key logs in to the second host; the first takes the harness's key.
    authorize(&second, &[key.line()]);
    let onward_line = onward(&second, "second", &key, &[], "true");
    let run = || {
        first
            .ssh()
            .env("SSH_AUTH_SOCK", agent.socket())
            .args(["-o", "ForwardAgent=yes", "127.0.0.1"])
            .arg(&onward_line)
            .output()
            .expect("run ssh")
    };

    // Not in the agent yet: the far side cannot log in onward.
    let out = run();
    assert_ok(&out, "ssh to the first host");
    assert!(
        text(&out.stdout).contains("exit=255 of second"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    assert_ok(
        &ssh_add(agent.socket(), &[key.private.as_os_str()]),
        "ssh-add",
    );
    let out = run();
    assert_ok(&out, "ssh to the first host");
    assert!(
        text(&out.stdout).contains("exit=0 of second"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // The agent signed the second login for a request that came through the first host.
    let first_host = first.host_key_fingerprint("ed25519");
    let log = agent.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains(" sign rsa-") && l.contains(&format!("via={first_host}"))),
        "{log}"
    );
}

#[test]
fn ssh_add_d_through_the_hop_and_forward_agent_naming_a_second_agent() {
    let dir = WorkDir::new();
    let Some(sshd) = plain_host(&dir, "host") else {
        return;
    };
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let second = Agent::start(&dir.mkdir("second", 0o700));
    let key = UserKey::new(dir.path(), "conf-first.key");
    let other = UserKey::new(dir.path(), "conf-second.key");
    assert_ok(
        &ssh_add(agent.socket(), &[key.private.as_os_str()]),
        "ssh-add",
    );
    assert_ok(
        &ssh_add(second.socket(), &[other.private.as_os_str()]),
        "ssh-add to the second agent",
    );

    // ForwardAgent=PATH: the far side sees the second agent, not SSH_AUTH_SOCK's.
    let mut forward = String::from("ForwardAgent=");
    forward.push_str(second.socket().to_str().expect("UTF-8"));
    let out = ssh_with(&sshd, agent.socket(), &key)
        .args(["-o", &forward, "127.0.0.1", "ssh-add -l"])
        .output()
        .expect("ssh");
    assert_ok(&out, "ssh-add -l through ForwardAgent=PATH");
    assert_eq!(fingerprints(&text(&out.stdout)), [other.fingerprint()]);

    // ssh-add -D on the far side empties the forwarded agent: ssh-add -l there exits 1.
    let out = sshd
        .ssh()
        .env("SSH_AUTH_SOCK", agent.socket())
        .args(["-o", "ForwardAgent=yes", "127.0.0.1"])
        .arg("ssh-add -l >/dev/null || exit 9; ssh-add -D || exit 8; ssh-add -l")
        .output()
        .expect("ssh");
    assert_eq!(
        out.status.code(),
        Some(1),
        "ssh-add -l after ssh-add -D through the hop: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(listed(agent.socket()).is_empty());
    // The other agent was not forwarded this time and keeps its key.
    assert_eq!(listed(second.socket()), [other.fingerprint()]);
}

#[test]
fn ssh_add_d_dash_removes_the_key_read_from_stdin() {
    let dir = WorkDir::new();
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = UserKey::new(dir.path(), "conf-stdin.key");
    let other = UserKey::new(dir.path(), "conf-stdin-other.key");
    for k in [&key, &other] {
        assert_ok(
            &ssh_add(agent.socket(), &[k.private.as_os_str()]),
            "ssh-add",
        );
    }
    let out = Command::new("ssh-add")
        .args(["-d", "-"])
        .env("SSH_AUTH_SOCK", agent.socket())
        .stdin(Stdio::from(File::open(&key.public).expect("open the .pub")))
        .output()
        .expect("ssh-add -d -");
    assert_ok(&out, "ssh-add -d - < KEY.pub");
    assert_eq!(listed(agent.socket()), [other.fingerprint()]);
    // A second time: the key is no longer there.
    let out = Command::new("ssh-add")
        .args(["-d", "-"])
        .env("SSH_AUTH_SOCK", agent.socket())
        .stdin(Stdio::from(File::open(&key.public).expect("open the .pub")))
        .output()
        .expect("ssh-add -d -");
    assert!(!out.status.success(), "removed a key that was not there");
}
