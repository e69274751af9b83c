//! `ssh-add -s` of a PKCS#11 token holding an RSA and an EC key (OpenSSH's agent-pkcs11.sh
//! with its RSA key): mfa-agent loads the RSA key only (non-RSA keys are refused on purpose),
//! `ssh-add -s` succeeds, and ssh logs in with the token key.

use std::process::{Command, Output};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::openssl::{genec, genrsa};
use cloudhsm_mfa_tests::harness::softhsm::{SoftHsm, MODULE, PIN};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

use super::{assert_ok, assert_refused, authorize, plain_host, text};

#[test]
fn ssh_add_s_of_a_token_with_rsa_and_ec_keys_loads_the_rsa_key_and_logs_in() {
    let dir = WorkDir::new();
    let Some(sshd) = plain_host(&dir, "host") else {
        return;
    };
    let hsm = SoftHsm::new(dir.path());
    let rsa = genrsa(dir.path(), "conf-token.key", 2048);
    hsm.import(&rsa, "rsa1", "a1", &dir.join("conf-token.pem"));
    let ec = genec(dir.path(), "conf-token-ec.key");
    let (conf_name, conf) = hsm.env();
    let imported = Command::new("softhsm2-util")
        .args(["--import"])
        .arg(&ec)
        .args([
            "--token", &hsm.label, "--label", "ec1", "--id", "b1", "--pin", PIN,
        ])
        .env(conf_name, &conf)
        .output()
        .expect("softhsm2-util --import");
    assert_ok(&imported, "softhsm2-util --import of the EC key");
    // OpenSSH sees both keys on the token.
    let token_keys = Command::new("ssh-keygen")
        .args(["-D", MODULE])
        .env(conf_name, &conf)
        .output()
        .expect("ssh-keygen -D");
    assert_ok(&token_keys, "ssh-keygen -D");
    let token_keys = text(&token_keys.stdout);
    let rsa_line = token_keys
        .lines()
        .find(|l| l.starts_with("ssh-rsa "))
        .expect("the token's RSA key");
    assert!(
        token_keys
            .lines()
            .any(|l| l.starts_with("ecdsa-sha2-nistp256 ")),
        "{token_keys}"
    );

    let agent = Agent::start_with_env(
        &dir.mkdir("agent", 0o700),
        &[],
        &[(conf_name, conf.as_os_str())],
    );
    let askpass = dir.write_mode("askpin.sh", format!("#!/bin/sh\necho '{PIN}'\n"), 0o700);
    let ssh_add = |args: &[&str]| -> Output {
        Command::new("ssh-add")
            .args(args)
            .env("SSH_AUTH_SOCK", agent.socket())
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .env(conf_name, &conf)
            .output()
            .expect("run ssh-add")
    };
    assert_ok(&ssh_add(&["-s", MODULE]), "ssh-add -s");
    let held = ssh_add(&["-L"]);
    assert_ok(&held, "ssh-add -L");
    let held: Vec<String> = text(&held.stdout)
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let rsa_key: String = rsa_line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        held,
        std::slice::from_ref(&rsa_key),
        "only the RSA key is loaded"
    );

    // ssh logs in with the token's RSA key, signed inside the token through the agent.
    let public = dir.write("conf-token.pub", format!("{rsa_key}\n"));
    let login = || {
        sshd.ssh()
            .env("SSH_AUTH_SOCK", agent.socket())
            .args(["-o", &format!("IdentityFile={}", public.display())])
            .args(["127.0.0.1", "true"])
            .output()
            .expect("run ssh")
    };
    authorize(&sshd, &[rsa_key]);
    assert_ok(&login(), "ssh login with the token key");
    assert_ok(&ssh_add(&["-e", MODULE]), "ssh-add -e");
    assert_refused(&login(), "ssh login after ssh-add -e");
}
