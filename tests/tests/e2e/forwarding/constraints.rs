//! Destination constraints through the hop: `ssh-add -h` by host name and by a host
//! certificate's `@cert-authority` line, judged by a real sshd on 127.0.0.1.

use std::path::Path;
use std::process::{Command, Stdio};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, write_token_file};
use cloudhsm_mfa_tests::harness::output::{assert_ok, text};
use cloudhsm_mfa_tests::harness::skip;
use cloudhsm_mfa_tests::harness::sshd::Sshd;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::{forwarded, remote_mfa_sign, sign_lines, sshd};

#[test]
fn ssh_add_h_destination_constraints_hold_through_the_hop() {
    let dir = WorkDir::new();
    let Some(sshd) = sshd(&dir) else { return };
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = genrsa(dir.path(), "destination.key", 2048);
    // A known_hosts naming our sshd "client-vm" and another host with a key of its own.
    let other = dir.join("other_host");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .output()
        .expect("ssh-keygen");
    assert_ok(&keygen, "ssh-keygen");
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .expect("pub")
            .trim_end()
            .to_owned()
    };
    let known = dir.write(
        "known_hosts",
        format!(
            "client-vm {}\nelsewhere {}\n",
            read(&sshd.host_key_pub("ed25519")),
            read(&other.with_extension("pub"))
        ),
    );
    let ssh_add = |destinations: &str| {
        let mut ssh_add = Command::new("ssh-add");
        ssh_add.arg("-H").arg(&known);
        for destination in destinations.split(' ') {
            ssh_add.args(["-h", destination]);
        }
        ssh_add
            .arg(&key)
            .env("SSH_AUTH_SOCK", agent.socket())
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add")
    };
    let file = dir.join("t.json");

    // mfa-add makes it a token key; ssh-add -h then constrains it and it keeps its purpose.
    agent.add_key(&key);
    assert_ok(&ssh_add("elsewhere"), "ssh-add -h elsewhere");
    write_token_file(&file, 1);
    let out = forwarded(&sshd, &agent, &[], &remote_mfa_sign(&file));
    // Not listed there, as OpenSSH hides it, so mfa-sign finds no key to sign with.
    assert!(
        !out.status.success(),
        "signed for a host the key is not for"
    );
    assert!(
        text(&out.stderr).contains("no RSA key"),
        "{}",
        text(&out.stderr)
    );
    let out = forwarded(&sshd, &agent, &[], "ssh-add -l");
    assert!(!text(&out.stdout).contains("RSA"), "{}", text(&out.stdout));
    // Locally it is listed and signs.
    let out = Command::new(bin("mfa-sign"))
        .arg(&file)
        .env("MFA_AUTH_SOCK", agent.socket())
        .output()
        .expect("mfa-sign");
    assert_ok(&out, "local mfa-sign of a destination-constrained key");
    write_token_file(&file, 1);

    assert_ok(&ssh_add("client-vm"), "ssh-add -h client-vm");
    let out = forwarded(&sshd, &agent, &[], &remote_mfa_sign(&file));
    assert_ok(&out, "mfa-sign at the listed host");
    // But ssh-add -l there does not list it, as OpenSSH's agent lists a key on a forwarded
    // hop only where it may be used for a further hop (ssh-agent.c identity_permitted).
    let out = forwarded(&sshd, &agent, &[], "ssh-add -l");
    assert!(!text(&out.stdout).contains("RSA"), "{}", text(&out.stdout));
    // Allowed onward from client-vm: listed there.
    assert_ok(
        &ssh_add("client-vm client-vm>elsewhere"),
        "ssh-add -h client-vm -h client-vm>elsewhere",
    );
    let out = forwarded(&sshd, &agent, &[], "ssh-add -l");
    assert!(text(&out.stdout).contains("RSA"), "{}", text(&out.stdout));
}

#[test]
fn ssh_add_h_matches_a_host_certificate_against_its_cert_authority() {
    // sshd presents a host certificate for "client-vm" signed by a host CA; ssh-add -h reads
    // the CA from an `@cert-authority` line, as ssh-agent.c's match_key_hop matches it.
    let dir = WorkDir::new();
    let host_ca = dir.join("host_ca");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&host_ca)
        .output()
        .expect("ssh-keygen");
    assert_ok(&keygen, "ssh-keygen host CA");
    let sshd = match Sshd::start_with(dir.path(), |sshd_dir| {
        let out = Command::new("ssh-keygen")
            .args(["-q", "-h", "-I", "client-vm", "-n", "client-vm", "-s"])
            .arg(&host_ca)
            .arg(sshd_dir.join("host_ed25519.pub"))
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(text(&out.stderr));
        }
        let cert = sshd_dir.join("host_ed25519-cert.pub");
        Ok(format!("HostCertificate {}\n", cert.display()))
    }) {
        Ok(sshd) => sshd,
        Err(why) => {
            skip(&format!("sshd cannot run here: {why}"));
            return;
        }
    };
    let agent = Agent::start(&dir.mkdir("agent", 0o700));
    let key = genrsa(dir.path(), "ca-destination.key", 2048);
    agent.add_key(&key);
    let ca_line = std::fs::read_to_string(host_ca.with_extension("pub")).expect("CA key");
    let known = dir.write(
        "known_hosts",
        format!(
            "@cert-authority client-vm {}@cert-authority elsewhere {}",
            ca_line, ca_line
        ),
    );
    let ssh_add = |destination: &str| {
        let out = Command::new("ssh-add")
            .arg("-H")
            .arg(&known)
            .args(["-h", destination])
            .arg(&key)
            .env("SSH_AUTH_SOCK", agent.socket())
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add");
        assert_ok(&out, &format!("ssh-add -h {destination}"));
    };
    let cert_hostkey = ["-o", "HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com"];
    let file = dir.join("t.json");

    // The CA signs for "elsewhere" too, but this certificate names client-vm only.
    ssh_add("elsewhere");
    write_token_file(&file, 1);
    let out = forwarded(&sshd, &agent, &cert_hostkey, &remote_mfa_sign(&file));
    assert!(!out.status.success(), "signed at a host the key is not for");

    ssh_add("client-vm");
    let out = forwarded(&sshd, &agent, &cert_hostkey, &remote_mfa_sign(&file));
    assert_ok(&out, "mfa-sign at the host whose certificate the CA signed");
    let host = sshd.host_key_fingerprint("ed25519");
    let lines = sign_lines(&agent);
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains(&format!("via={host} forwarded"))),
        "{lines:?}"
    );
}
