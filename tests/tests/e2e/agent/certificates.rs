//! RSA user certificates (`ssh-rsa-cert-v01@openssh.com`) in mfa-agent, judged by OpenSSH's
//! own tools: `ssh-add KEY` with `KEY-cert.pub` beside it adds both, `-l`/`-L` list them, a
//! real sshd that trusts only the CA lets ssh log in with the certificate, `ssh-keygen -Y
//! sign -f KEY-cert.pub` signs through the agent and verifies against the CA, and `ssh-add -d`
//! (by file and from stdin) and `-D` remove it, with the key's place kept when the
//! certificate is added for a key already held.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::output::assert_ok;
use cloudhsm_mfa_tests::harness::skip;
use cloudhsm_mfa_tests::harness::sshd::Sshd;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::{first_two_fields, path_str, run_with_agent, ssh_keygen_fingerprint, stderr, stdout};

/// `ssh-keygen -t rsa -b 2048` without a passphrase; returns the private key's path.
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {}", stderr(&out));
    path
}

/// Signs `KEY.pub` with `ca` for `principal`: writes and returns `KEY-cert.pub`.
fn certify(ca: &Path, key: &Path, principal: &str) -> PathBuf {
    let public = format!("{}.pub", key.display());
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-s",
            path_str(ca),
            "-I",
            "officer-cert",
            "-n",
            principal,
        ])
        .arg(&public)
        .output()
        .expect("run ssh-keygen -s");
    assert!(out.status.success(), "ssh-keygen -s: {}", stderr(&out));
    PathBuf::from(format!("{}-cert.pub", key.display()))
}

fn user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .expect("look up this user")
        .expect("this user has a name")
        .name
}

/// `ssh-add -l`'s lines (none when it says the agent has no identities).
fn listed(agent: &Agent) -> Vec<String> {
    let out = run_with_agent(agent, "ssh-add", &["-l"]);
    stdout(&out)
        .lines()
        .filter(|l| !l.contains("has no identities"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn ssh_add_holds_an_rsa_certificate_that_logs_in_signs_and_is_removed() {
    let dir = WorkDir::new();
    let ca = keygen(dir.path(), "user_ca");
    let key = keygen(dir.path(), "officer");
    let user = user_name();
    let cert = certify(&ca, &key, &user);
    let agent = Agent::start(dir.path());
    let fingerprint = ssh_keygen_fingerprint(&key);

    // ssh-add KEY: the key, then the certificate beside it as a second add.
    let out = run_with_agent(&agent, "ssh-add", &[path_str(&key)]);
    assert_ok(&out, "ssh-add KEY");
    assert!(
        stderr(&out).contains("Certificate added"),
        "{}",
        stderr(&out)
    );
    let lines = listed(&agent);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(first_two_fields(&lines[0]), fingerprint);
    assert_eq!(first_two_fields(&lines[1]), fingerprint);
    assert!(lines[1].ends_with("(RSA-CERT)"), "{lines:?}");
    let public = stdout(&run_with_agent(&agent, "ssh-add", &["-L"]));
    let cert_text = fs::read_to_string(&cert).expect("read the certificate");
    let cert_blob = cert_text.split_whitespace().nth(1).expect("a blob");
    assert!(
        public
            .lines()
            .any(|l| l.starts_with("ssh-rsa-cert-v01@openssh.com ") && l.contains(cert_blob)),
        "{public}"
    );
    assert!(agent.logged("added certificate of"));

    // ssh-keygen -Y sign with the certificate, verified against the CA as a cert-authority.
    let file = dir.path().join("message.txt");
    fs::write(&file, "approve the change\n").expect("write the message");
    let out = run_with_agent(
        &agent,
        "ssh-keygen",
        &[
            "-Y",
            "sign",
            "-n",
            "file",
            "-f",
            path_str(&cert),
            path_str(&file),
        ],
    );
    assert_ok(&out, "ssh-keygen -Y sign -f KEY-cert.pub");
    let ca_public = fs::read_to_string(format!("{}.pub", ca.display())).expect("CA key");
    let signers = dir.path().join("allowed_signers");
    fs::write(&signers, format!("{user} cert-authority {ca_public}")).expect("allowed_signers");
    let out = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-n",
            "file",
            "-I",
            &user,
            "-f",
            path_str(&signers),
        ])
        .arg("-s")
        .arg(format!("{}.sig", file.display()))
        .stdin(fs::File::open(&file).expect("open the message"))
        .output()
        .expect("run ssh-keygen -Y verify");
    assert_ok(&out, "ssh-keygen -Y verify");

    // ssh logs in to a sshd that trusts only the CA: no authorized key would do.
    let ca_pub = PathBuf::from(format!("{}.pub", ca.display()));
    let sshd = match Sshd::start_with(dir.path(), |sshd_dir| {
        fs::write(sshd_dir.join("authorized_keys"), "").map_err(|e| e.to_string())?;
        Ok(format!("TrustedUserCAKeys {}\n", ca_pub.display()))
    }) {
        Ok(sshd) => Some(sshd),
        Err(why) => {
            skip(&format!("the ssh login part: sshd cannot run here: {why}"));
            None
        }
    };
    if let Some(sshd) = &sshd {
        let out = sshd
            .ssh()
            .env("SSH_AUTH_SOCK", agent.socket())
            .args(["-o", &format!("IdentityFile={}", cert.display())])
            .args(["127.0.0.1", "echo logged-in"])
            .stdin(Stdio::null())
            .output()
            .expect("run ssh");
        assert_ok(&out, "ssh with the certificate");
        assert_eq!(stdout(&out).trim(), "logged-in");
        let log = sshd.log_text();
        assert!(
            log.lines()
                .any(|l| l.contains("Accepted publickey") && l.contains("RSA-CERT")),
            "{log}"
        );
    }

    // ssh-add -d KEY-cert.pub: the certificate only; the key stays.
    let out = run_with_agent(&agent, "ssh-add", &["-d", path_str(&cert)]);
    assert_ok(&out, "ssh-add -d KEY-cert.pub");
    let lines = listed(&agent);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(!lines[0].ends_with("(RSA-CERT)"), "{lines:?}");

    // The certificate added for a key already held: the key keeps its place, first.
    let out = run_with_agent(&agent, "ssh-add", &[path_str(&key)]);
    assert_ok(&out, "ssh-add KEY again");
    let lines = listed(&agent);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].ends_with("(RSA-CERT)"), "{lines:?}");

    // ssh-add -d - < KEY-cert.pub removes it too; -D removes everything.
    let out = Command::new("ssh-add")
        .args(["-d", "-"])
        .envs(agent.env())
        .stdin(fs::File::open(&cert).expect("open the certificate"))
        .output()
        .expect("run ssh-add -d -");
    assert_ok(&out, "ssh-add -d - < KEY-cert.pub");
    assert_eq!(listed(&agent).len(), 1);
    assert_ok(
        &run_with_agent(&agent, "ssh-add", &[path_str(&key)]),
        "ssh-add KEY a third time",
    );
    assert_eq!(listed(&agent).len(), 2);
    assert_ok(&run_with_agent(&agent, "ssh-add", &["-D"]), "ssh-add -D");
    assert!(listed(&agent).is_empty());

    // A key mfa-add holds for CloudHSM tokens keeps no certificate and gets none: it would
    // log in over ssh.
    assert_ok(
        &run_with_agent(&agent, "ssh-add", &[path_str(&key)]),
        "ssh-add KEY after -D",
    );
    assert_eq!(listed(&agent).len(), 2);
    agent.add_key(&key);
    let lines = listed(&agent);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(!lines[0].ends_with("(RSA-CERT)"), "{lines:?}");
    let out = run_with_agent(&agent, "ssh-add", &[path_str(&key)]);
    assert!(stderr(&out).contains("add failed"), "{}", stderr(&out));
    assert_eq!(listed(&agent).len(), 1);
    assert!(agent
        .log_text()
        .contains("its key is held for CloudHSM tokens only"));
}
