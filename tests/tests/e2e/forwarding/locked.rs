//! OpenSSH 10.5's rule: a locked agent still takes session-bind@openssh.com. ssh binds a
//! forwarded connection once, when the far side opens it; a bind refused while the agent is
//! locked would leave that connection unbound for the rest of its life, so after an unlock
//! its requests would no longer be known to come through this host.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::openssl::genrsa;
use cloudhsm_mfa_tests::harness::output::{assert_ok, text};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::sshd;

/// Run on the far side with the key's blob (base64) and a folder: opens one connection to
/// the forwarded agent, lists the keys (the agent is locked), says so by making `ready`,
/// waits for `go` (the agent unlocked meanwhile) and asks, on the same connection, for a
/// signature by the key. Prints the reply's message numbers.
const PROBE: &str = r#"import base64, os, socket, struct, sys, time
blob, folder = base64.b64decode(sys.argv[1]), sys.argv[2]
agent = socket.socket(socket.AF_UNIX)
agent.connect(os.environ["SSH_AUTH_SOCK"])
def read(n):
    data = b""
    while len(data) < n:
        more = agent.recv(n - len(data))
        if not more:
            sys.exit("the agent closed the connection")
        data += more
    return data
def call(body):
    agent.sendall(struct.pack(">I", len(body)) + body)
    return read(struct.unpack(">I", read(4))[0])
def string(b):
    return struct.pack(">I", len(b)) + b
listed = call(bytes([11]))
print("locked list", listed[0], struct.unpack(">I", listed[1:5])[0] if listed[0] == 12 else "-")
open(os.path.join(folder, "ready"), "w").close()
deadline = time.time() + 30
while not os.path.exists(os.path.join(folder, "go")):
    if time.time() > deadline:
        sys.exit("no go")
    time.sleep(0.02)
signed = call(bytes([13]) + string(blob) + string(b"data to sign") + struct.pack(">I", 4))
print("unlocked sign", signed[0])
"#;

#[test]
fn a_connection_forwarded_while_the_agent_is_locked_stays_bound_to_its_host_after_unlock() {
    let dir = WorkDir::new();
    let Some(sshd) = sshd(&dir) else { return };
    let host = sshd.host_key_fingerprint("ed25519").to_owned();
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = genrsa(dir.path(), "locked.key", 2048);
    let key_arg = key.to_str().expect("UTF-8");
    assert_ok(
        &agent.mfa_add(&["--purpose", "ssh", "--forwarded", "deny", key_arg]),
        "mfa-add --forwarded deny",
    );
    let public = Command::new("ssh-keygen")
        .args(["-y", "-f", key_arg])
        .output()
        .expect("ssh-keygen -y");
    assert_ok(&public, "ssh-keygen -y");
    let blob = text(&public.stdout)
        .split_whitespace()
        .nth(1)
        .expect("the key's base64")
        .to_owned();
    let passphrase = dir.write_mode("passphrase", "lock it\n", 0o600);
    let passphrase = passphrase.to_str().expect("UTF-8");
    assert_ok(
        &agent.mfa_add(&["-x", "--passphrase-file", passphrase]),
        "mfa-add -x",
    );

    let probe = dir.write_mode("probe.py", PROBE, 0o600);
    let remote = format!(
        "python3 {} {blob} {}",
        probe.display(),
        dir.path().display()
    );
    let ssh = sshd
        .ssh()
        .env("MFA_AUTH_SOCK", agent.socket())
        .env("SSH_AUTH_SOCK", agent.socket())
        .args(["-o", "ForwardAgent=${MFA_AUTH_SOCK}", "127.0.0.1", &remote])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ssh");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("ready").exists() {
        assert!(Instant::now() < deadline, "the probe never listed the keys");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_ok(
        &agent.mfa_add(&["-X", "--passphrase-file", passphrase]),
        "mfa-add -X",
    );
    std::fs::write(dir.join("go"), b"").expect("write go");
    let out = ssh.wait_with_output().expect("wait for ssh");
    assert_ok(&out, "the probe through ssh");
    // Locked: an empty list (12, no keys), as ssh-agent answers. Unlocked, the connection is
    // still the one bound to this host, so the --forwarded deny key refuses (5, FAILURE).
    assert_eq!(
        text(&out.stdout),
        "locked list 12 0\nunlocked sign 5\n",
        "{}",
        text(&out.stderr)
    );
    assert!(
        agent.logged(&format!(
            "--forwarded deny and the request came through an agent forwarded to host key {host}"
        )),
        "{}",
        agent.log_text()
    );
}
