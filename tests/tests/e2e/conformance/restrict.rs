//! `ssh-add -h` destination constraints as OpenSSH's agent-restrict.sh checks them, with ssh
//! logins judged by real sshds: per host, per user, and along a chain of three hops where
//! each hop lists only the keys usable onward from it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::sshd::Sshd;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::{
    assert_ok, assert_refused, authorize, fingerprints, login, onward, plain_host, ssh_add,
    ssh_with, text, UserKey,
};

/// A known_hosts for `ssh-add -H` naming each sshd by its name (both its host keys).
fn known_hosts(dir: &WorkDir, hosts: &[(&str, &Sshd)]) -> PathBuf {
    let mut lines = String::new();
    for (name, sshd) in hosts {
        for kind in ["ed25519", "rsa"] {
            let key = std::fs::read_to_string(sshd.host_key_pub(kind)).expect("host key");
            lines.push_str(&format!("{name} {}\n", key.trim_end()));
        }
    }
    dir.write("restrict_known_hosts", lines)
}

/// `ssh-add -D`, then `ssh-add -H KNOWN -h D1 -h D2 ... KEY`.
fn add_constrained(agent: &Path, known: &Path, destinations: &[&str], key: &UserKey) {
    assert_ok(&ssh_add(agent, &[OsStr::new("-D")]), "ssh-add -D");
    let mut args: Vec<&OsStr> = vec!["-H".as_ref(), known.as_os_str()];
    for destination in destinations {
        args.push("-h".as_ref());
        args.push(destination.as_ref());
    }
    args.push(key.private.as_os_str());
    assert_ok(
        &ssh_add(agent, &args),
        &format!("ssh-add -h {destinations:?}"),
    );
}

#[test]
fn an_ssh_add_h_key_logs_in_only_to_its_host_and_as_its_user() {
    let dir = WorkDir::new();
    let Some(a) = plain_host(&dir, "a") else {
        return;
    };
    let Some(b) = plain_host(&dir, "b") else {
        return;
    };
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = UserKey::new(dir.path(), "conf-restrict.key");
    for host in [&a, &b] {
        authorize(host, &[key.line()]);
    }
    let known = known_hosts(&dir, &[("hosta", &a), ("hostb", &b)]);
    let socket = agent.socket();

    add_constrained(socket, &known, &["hosta"], &key);
    assert_ok(&login(&a, socket, &key, &[]), "-h hosta: login to hosta");
    assert_refused(&login(&b, socket, &key, &[]), "-h hosta: login to hostb");

    for user in ["root@hosta", "*@hosta"] {
        add_constrained(socket, &known, &[user], &key);
        assert_ok(&login(&a, socket, &key, &[]), &format!("-h {user}: root"));
        assert_refused(&login(&b, socket, &key, &[]), &format!("-h {user}: hostb"));
    }
    add_constrained(socket, &known, &["nobody@hosta"], &key);
    assert_refused(&login(&a, socket, &key, &[]), "-h nobody@hosta: root");
    // The agent, not sshd, refused: the same key unconstrained logs in.
    assert_ok(&ssh_add(socket, &[OsStr::new("-D")]), "ssh-add -D");
    assert_ok(&ssh_add(socket, &[key.private.as_os_str()]), "ssh-add");
    assert_ok(&login(&a, socket, &key, &[]), "unconstrained: hosta");
    assert_ok(&login(&b, socket, &key, &[]), "unconstrained: hostb");
}

/// What a chain of logins a -> b -> c with `key` (each forwarding the agent) printed: at each
/// hop `at-NAME` and that hop's `ssh-add -l`, and `exit=N of NAME` for each onward login.
fn chain(hosts: [&Sshd; 3], agent: &Path, key: &UserKey) -> String {
    let forward = ["-o", "ForwardAgent=yes"];
    let at_c = "echo at-C; ssh-add -l";
    let at_b = format!(
        "echo at-B; ssh-add -l; {}",
        onward(hosts[2], "C", key, &forward, at_c)
    );
    let at_a = format!(
        "echo at-A; ssh-add -l; {}",
        onward(hosts[1], "B", key, &forward, &at_b)
    );
    let out = ssh_with(hosts[0], agent, key)
        .args(forward)
        .args(["127.0.0.1", &at_a])
        .output()
        .expect("run ssh");
    assert_ok(&out, "ssh to the first hop");
    text(&out.stdout)
}

/// The fingerprints `ssh-add -l` printed at hop `name` in a [`chain`]'s output.
fn listed_at(output: &str, name: &str) -> Vec<String> {
    let marker = format!("at-{name}");
    let mut lines = output.lines().skip_while(|l| *l != marker);
    assert!(lines.next().is_some(), "never reached {name}: {output}");
    let section: Vec<&str> = lines
        .take_while(|l| !l.starts_with("at-") && !l.starts_with("exit="))
        .collect();
    fingerprints(&section.join("\n"))
}

#[test]
fn a_chain_of_hops_logs_in_as_its_constraints_say_and_lists_keys_usable_onward() {
    let dir = WorkDir::new();
    let (Some(a), Some(b), Some(c)) = (
        plain_host(&dir, "a"),
        plain_host(&dir, "b"),
        plain_host(&dir, "c"),
    ) else {
        return;
    };
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = UserKey::new(dir.path(), "conf-chain.key");
    let free = UserKey::new(dir.path(), "conf-chain-free.key");
    for host in [&a, &b, &c] {
        authorize(host, &[key.line(), free.line()]);
    }
    let known = known_hosts(&dir, &[("hosta", &a), ("hostb", &b), ("hostc", &c)]);
    let socket = agent.socket();
    let hosts = [&a, &b, &c];
    let (k, f) = (key.fingerprint(), free.fingerprint());

    let add_free = || assert_ok(&ssh_add(socket, &[free.private.as_os_str()]), "ssh-add");
    add_constrained(
        socket,
        &known,
        &["hosta", "hosta>hostb", "hostb>hostc"],
        &key,
    );
    add_free();
    let out = chain(hosts, socket, &key);
    assert!(
        out.contains("exit=0 of B") && out.contains("exit=0 of C"),
        "{out}"
    );
    // Listed at a hop only where it may be used onward (OpenSSH's identity_permitted): at A
    // (A>B) and B (B>C), not at C; the unconstrained key everywhere.
    assert_eq!(listed_at(&out, "A"), [k.clone(), f.clone()], "{out}");
    assert_eq!(listed_at(&out, "B"), [k.clone(), f.clone()], "{out}");
    assert_eq!(listed_at(&out, "C"), std::slice::from_ref(&f), "{out}");

    // A wrong user for one hop breaks the chain there.
    add_constrained(
        socket,
        &known,
        &["hosta", "hosta>nobody@hostb", "hostb>hostc"],
        &key,
    );
    add_free();
    let out = chain(hosts, socket, &key);
    assert!(
        out.contains("exit=255 of B") && !out.contains("at-B"),
        "{out}"
    );
    // A missing hop too.
    add_constrained(socket, &known, &["hosta", "hosta>hostb"], &key);
    add_free();
    let out = chain(hosts, socket, &key);
    assert!(
        out.contains("exit=0 of B") && out.contains("exit=255 of C"),
        "{out}"
    );
    assert!(!out.contains("at-C"), "{out}");

    // The unconstrained key is usable at every hop.
    let out = chain(hosts, socket, &free);
    assert!(
        out.contains("exit=0 of B") && out.contains("exit=0 of C"),
        "{out}"
    );
    assert_eq!(listed_at(&out, "C"), [f], "{out}");
}
