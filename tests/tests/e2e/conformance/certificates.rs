//! User certificates from files beside agent-held plain keys (OpenSSH's cert-file.sh): a
//! `cert-authority,principals=` line in authorized_keys lets in a certificate of a trusted CA
//! for the agent's key, and nothing else.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::{assert_ok, assert_refused, authorize, keygen, login, plain_host, ssh_add, UserKey};

/// `ssh-keygen -s CA -I ID -n PRINCIPAL` of `public`, written to `out` (not beside the key, so
/// ssh reads it only through `CertificateFile`).
fn certify(ca: &Path, public: &Path, principal: &str, out: &Path) -> PathBuf {
    let dir = out.parent().expect("a folder");
    let copy = dir.join(format!(
        "{}.tosign.pub",
        out.file_name().expect("name").to_string_lossy()
    ));
    std::fs::copy(public, &copy).expect("copy the public key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(ca)
        .args(["-I", "conformance", "-n", principal])
        .arg(&copy)
        .output()
        .expect("ssh-keygen -s");
    assert_ok(&made, "ssh-keygen -s");
    let cert = copy.with_file_name(format!(
        "{}.tosign-cert.pub",
        out.file_name().expect("name").to_string_lossy()
    ));
    std::fs::rename(&cert, out).expect("move the certificate");
    out.to_path_buf()
}

#[test]
fn a_trusted_certificate_of_the_agents_key_logs_in_and_nothing_else_does() {
    let dir = WorkDir::new();
    let Some(sshd) = plain_host(&dir, "host") else {
        return;
    };
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let ca = dir.join("user_ca");
    let ca_pub = keygen(&ca, "ed25519");
    let rogue = dir.join("rogue_ca");
    keygen(&rogue, "ed25519");
    let key = UserKey::new(dir.path(), "conf-cert.key");
    let absent = UserKey::new(dir.path(), "conf-cert-absent.key");
    assert_ok(
        &ssh_add(agent.socket(), &[key.private.as_os_str()]),
        "ssh-add",
    );
    let ca_line = std::fs::read_to_string(&ca_pub).expect("CA key");
    authorize(
        &sshd,
        &[format!(
            "cert-authority,principals=\"officer,auditor\" {}",
            ca_line.trim_end()
        )],
    );
    let trusted = certify(&ca, &key.public, "auditor", &dir.join("trusted-cert.pub"));
    let untrusted = certify(&rogue, &key.public, "auditor", &dir.join("rogue-cert.pub"));
    let wrong_name = certify(&ca, &key.public, "intruder", &dir.join("name-cert.pub"));
    let keyless = certify(&ca, &absent.public, "officer", &dir.join("absent-cert.pub"));
    let with_cert = |user: &UserKey, cert: &Path| {
        let option = format!("CertificateFile={}", cert.display());
        login(&sshd, agent.socket(), user, &["-o", &option])
    };

    assert_ok(
        &with_cert(&key, &trusted),
        "login with the trusted certificate",
    );
    assert_refused(&login(&sshd, agent.socket(), &key, &[]), "the plain key");
    assert_refused(
        &with_cert(&key, &untrusted),
        "an untrusted CA's certificate",
    );
    assert_refused(&with_cert(&key, &wrong_name), "a principal not listed");
    assert_refused(
        &with_cert(&absent, &keyless),
        "a certificate for a key the agent lacks",
    );
    let removed = ssh_add(agent.socket(), &[OsStr::new("-D")]);
    assert_ok(&removed, "ssh-add -D");
    assert_refused(
        &with_cert(&key, &trusted),
        "the trusted certificate without the key in the agent",
    );
}
