//! Host keys and host certificates (OpenSSH's hostkey-agent.sh): sshd's `HostKeyAgent`
//! naming mfa-agent, which holds the RSA host key, for the SHA-2 host key algorithms and for
//! host certificates trusted through `@cert-authority`; SHA-1 `ssh-rsa` is refused on
//! purpose, and signed by OpenSSH's ssh-agent under the same sshd. And a direct login to a
//! sshd that presents a host certificate, bound in the agent as a direct login.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cloudhsm_mfa_tests::harness::agent::{Agent, PlainAgent};
use cloudhsm_mfa_tests::harness::sshd::Sshd;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::{
    assert_ok, assert_refused, authorize, host, keygen, login, onward, ssh_add, ssh_with, text,
    UserKey,
};

/// `ssh-keygen -s CA -h -n 127.0.0.1` of the sshd's RSA host key, in `sshd_dir`: the host
/// certificate `host_rsa-cert.pub`.
fn certify_host(ca: &Path, sshd_dir: &Path) -> Result<PathBuf, String> {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-h",
            "-I",
            "conformance-host",
            "-n",
            "127.0.0.1",
            "-s",
        ])
        .arg(ca)
        .arg(sshd_dir.join("host_rsa.pub"))
        .output()
        .map_err(|e| format!("ssh-keygen -s: {e}"))?;
    if !out.status.success() {
        return Err(format!("ssh-keygen -s: {}", text(&out.stderr)));
    }
    Ok(sshd_dir.join("host_rsa-cert.pub"))
}

/// A sshd whose RSA host key is only in the agent at `agent` (loaded with ssh-add, the file
/// removed), with a host certificate for it signed by `ca`, and `ssh-rsa` allowed so that its
/// refusal is the agent's.
fn host_key_in_agent(dir: &WorkDir, name: &str, agent: &Path, ca: &Path) -> Option<Sshd> {
    host(dir, name, |sshd_dir| {
        let private = sshd_dir.join("host_rsa");
        let added = ssh_add(agent, &[private.as_os_str()]);
        if !added.status.success() {
            return Err(format!("ssh-add host key: {}", text(&added.stderr)));
        }
        std::fs::remove_file(&private).map_err(|e| e.to_string())?;
        let cert = certify_host(ca, sshd_dir)?;
        Ok(format!(
            "HostKeyAgent {}\nHostCertificate {}\n\
             HostKeyAlgorithms +ssh-rsa,ssh-rsa-cert-v01@openssh.com\n",
            agent.display(),
            cert.display()
        ))
    })
}

/// `ssh -o HostKeyAlgorithms=ALGORITHM 127.0.0.1 true`, logging in with the harness's key.
fn connect(sshd: &Sshd, algorithm: &str) -> Output {
    sshd.ssh()
        .args(["-o", &format!("HostKeyAlgorithms={algorithm}")])
        .args(["127.0.0.1", "true"])
        .output()
        .expect("run ssh")
}

/// Trusts the sshd's host keys only through `@cert-authority * CA`.
fn trust_only_the_ca(sshd: &Sshd, ca_pub: &Path) {
    let ca = std::fs::read_to_string(ca_pub).expect("CA key");
    let known = sshd.host_key_pub("rsa").with_file_name("known_hosts");
    std::fs::write(known, format!("@cert-authority * {ca}")).expect("known_hosts");
}

#[test]
fn host_key_agent_signs_sha2_host_keys_and_host_certificates_and_refuses_sha1() {
    let dir = WorkDir::new();
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let ca = dir.join("host_ca");
    let ca_pub = keygen(&ca, "ed25519");
    let Some(sshd) = host_key_in_agent(&dir, "host", agent.socket(), &ca) else {
        return;
    };
    assert!(!sshd.host_key_pub("rsa").with_extension("").exists());

    for algorithm in ["rsa-sha2-256", "rsa-sha2-512"] {
        assert_ok(&connect(&sshd, algorithm), algorithm);
    }
    assert_refused(&connect(&sshd, "ssh-rsa"), "ssh-rsa (SHA-1) host key");
    let log = agent.log_text();
    assert!(
        log.contains("ssh-rsa (SHA-1) signatures are not offered"),
        "{log}"
    );

    trust_only_the_ca(&sshd, &ca_pub);
    // The plain keys are no longer known: only the certificate gets in.
    assert_refused(&connect(&sshd, "rsa-sha2-256"), "the plain host key");
    for algorithm in [
        "rsa-sha2-256-cert-v01@openssh.com",
        "rsa-sha2-512-cert-v01@openssh.com",
    ] {
        assert_ok(&connect(&sshd, algorithm), algorithm);
    }
    assert_refused(
        &connect(&sshd, "ssh-rsa-cert-v01@openssh.com"),
        "a SHA-1 host certificate signature",
    );

    // Under OpenSSH's ssh-agent the same sshd signs ssh-rsa: the refusal is mfa-agent's.
    let plain_socket = dir.join("plain.sock");
    let _plain = PlainAgent::start(&plain_socket);
    let Some(reference) = host_key_in_agent(&dir, "reference", &plain_socket, &ca) else {
        return;
    };
    assert_ok(&connect(&reference, "ssh-rsa"), "ssh-rsa with ssh-agent");
    trust_only_the_ca(&reference, &ca_pub);
    assert_ok(
        &connect(&reference, "ssh-rsa-cert-v01@openssh.com"),
        "ssh-rsa-cert-v01 with ssh-agent",
    );
}

#[test]
fn a_direct_login_to_a_host_with_a_certificate_is_bound_as_direct() {
    let dir = WorkDir::new();
    let ca = dir.join("host_ca");
    let ca_pub = keygen(&ca, "ed25519");
    let Some(sshd) = host(&dir, "host", |sshd_dir| {
        let cert = certify_host(&ca, sshd_dir)?;
        Ok(format!("HostCertificate {}\n", cert.display()))
    }) else {
        return;
    };
    trust_only_the_ca(&sshd, &ca_pub);
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = UserKey::new(dir.path(), "conf-direct.key");
    authorize(&sshd, &[key.line()]);
    let path = key.private.to_str().expect("UTF-8");
    let added = agent.mfa_add(&["--purpose", "ssh", "--forwarded", "deny", path]);
    assert_ok(&added, "mfa-add --purpose ssh --forwarded deny");

    let certificate = ["-o", "HostKeyAlgorithms=rsa-sha2-256-cert-v01@openssh.com"];
    let out = login(&sshd, agent.socket(), &key, &certificate);
    let log = agent.log_text();
    assert_ok(
        &out,
        &format!("login to the certificate host; agent log:\n{log}"),
    );
    let host_key = sshd.host_key_fingerprint("rsa");
    assert!(
        log.contains(&format!("bound to host key {host_key} for authentication")),
        "{log}"
    );
    let signed: Vec<&str> = log.lines().filter(|l| l.contains(" sign rsa-")).collect();
    assert_eq!(signed.len(), 1, "{log}");
    assert!(
        signed[0].contains(&format!("via={host_key} auth"))
            && !signed[0].contains("forwarded")
            && !signed[0].contains("unverified"),
        "{}",
        signed[0]
    );
    // The same key through a forwarded agent is refused (deny): the binding told them apart.
    let out = ssh_with(&sshd, agent.socket(), &key)
        .args(certificate)
        .args(["-o", "ForwardAgent=yes", "127.0.0.1"])
        .arg(onward(&sshd, "again", &key, &certificate, "true"))
        .output()
        .expect("ssh");
    assert!(
        text(&out.stdout).contains("exit=255 of again"),
        "{}",
        text(&out.stdout)
    );
    let log = agent.log_text();
    let deny = format!(
        "--forwarded deny and the request came through an agent forwarded to host key {host_key}"
    );
    assert!(log.contains(&deny), "{log}");
}
