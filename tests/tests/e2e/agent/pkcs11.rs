//! Keys that never leave a PKCS#11 token (SoftHSM2): a non-extractable imported key loaded
//! with `mfa-add -s` and with OpenSSH's `ssh-add -s`, signing like `openssl pkeyutl` and
//! verified against the public key read from the token, a hands-free login with it, `-e`,
//! the `-P` allowlist, a wrong PIN, and the token folder moved away under the agent.

use std::fs;
use std::process::{Command, Output, Stdio};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, random_token, sign_token_openssl, verify_openssl,
};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::harness::softhsm::{SoftHsm, MODULE, PIN};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use cloudhsm_mfa_tests::sim::fixture::Cluster;
use proto::message::Response;

use super::{first_two_fields, identities, only_key, path_str, stderr, stdout, token_sign};
use crate::login::{assert_signed_by, login_args, PASSWORD, ROLE, SUCCESS, USER};

/// A test folder with a SoftHSM2 token holding an imported, non-extractable RSA key, and an
/// agent that can open the token.
struct TokenSetup {
    dir: WorkDir,
    hsm: SoftHsm,
    /// The key file the token's key was imported from: openssl's reference signer.
    key: std::path::PathBuf,
    /// The public key as read back from the token.
    public: std::path::PathBuf,
    pin_file: std::path::PathBuf,
    agent: Agent,
}

impl TokenSetup {
    fn new(agent_args: &[&str]) -> TokenSetup {
        let dir = WorkDir::new();
        let hsm = SoftHsm::new(dir.path());
        let key = genrsa(dir.path(), "token.key", 2048);
        let public = hsm.import(&key, "officer1", "a1", &dir.join("token.pub"));
        let pin_file = dir.write("pin", format!("{PIN}\n"));
        let (name, value) = hsm.env();
        let agent = Agent::start_with_env(dir.path(), agent_args, &[(name, value.as_os_str())]);
        TokenSetup {
            dir,
            hsm,
            key,
            public,
            pin_file,
            agent,
        }
    }

    /// A client program with the agent's and the token's variables.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(self.agent.env())
            .env(self.hsm.env().0, self.hsm.env().1)
            .stdin(Stdio::null());
        command
    }

    fn mfa_add(&self, args: &[&str]) -> Output {
        let program = bin("mfa-add");
        self.command(program.to_str().expect("UTF-8"), args)
            .output()
            .expect("run mfa-add")
    }

    /// `ssh-add ARGS`, answering its PIN question through SSH_ASKPASS with `pin`.
    fn ssh_add(&self, args: &[&str], pin: &str) -> Output {
        let askpass = self
            .dir
            .write_mode("askpin.sh", format!("#!/bin/sh\necho '{pin}'\n"), 0o700);
        self.command("ssh-add", args)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .output()
            .expect("run ssh-add")
    }

    /// The fingerprint `ssh-keygen -D MODULE` prints for the token's key.
    fn ssh_keygen_fingerprint(&self) -> String {
        let out = self
            .command("ssh-keygen", &["-D", MODULE])
            .output()
            .expect("ssh-keygen -D");
        assert!(out.status.success(), "ssh-keygen -D: {}", stderr(&out));
        let public = self.dir.write("token.ssh.pub", &out.stdout);
        let out = Command::new("ssh-keygen")
            .args(["-lf", path_str(&public)])
            .output()
            .expect("ssh-keygen -lf");
        first_two_fields(&stdout(&out))
    }

    /// Signs three tokens through the agent: byte-identical to `openssl pkeyutl` with the
    /// key file, and verified by openssl against the public key read from the token.
    fn assert_token_signs(&self) {
        let blob = only_key(&self.agent);
        let tokens = [random_token(), random_token(), random_token()];
        match token_sign(self.agent.socket(), &blob, &tokens) {
            Response::TokenSign(signatures) => {
                for (token, signature) in tokens.iter().zip(&signatures) {
                    assert!(verify_openssl(&self.public, token, signature));
                    assert_eq!(signature, &sign_token_openssl(&self.key, token));
                }
            }
            other => panic!("token-sign answered {other:?}\n{}", self.agent.log_text()),
        }
    }
}

#[test]
fn mfa_add_s_loads_a_non_extractable_token_key_that_signs_like_openssl_and_logs_in() {
    let s = TokenSetup::new(&[]);
    let pin = path_str(&s.pin_file);
    let out = s.mfa_add(&["-s", MODULE, "--pin-file", pin, "--label", "officer1"]);
    assert!(out.status.success(), "mfa-add -s: {}", stderr(&out));
    let list = s.mfa_add(&["-l"]);
    assert_eq!(
        first_two_fields(&stdout(&list)),
        s.ssh_keygen_fingerprint(),
        "mfa-add -l shows the fingerprint ssh-keygen -D prints"
    );
    s.assert_token_signs();
    let log = s.agent.log_text();
    assert!(
        log.contains(&format!("token=\"{}\"", s.hsm.label)) && log.contains("key-id=a1"),
        "the audit line names the token and the key id:\n{log}"
    );

    // A hands-free login with the token's key against the simulator.
    let cluster = Cluster::new(s.dir.path());
    cluster.add_user(USER, ROLE, PASSWORD, Some(&s.public));
    let password = s.dir.write("password", format!("{PASSWORD}\n"));
    let mut command = Command::new(bin("mfa-login"));
    command
        .args(["--password-file", path_str(&password), "--"])
        .arg(Cluster::bin())
        .args(login_args("token-login.json"))
        .current_dir(s.dir.path())
        .env("MFA_AUTH_SOCK", s.agent.socket());
    cluster.apply_env(&mut command);
    let mut pty = Pty::spawn(command);
    pty.expect(SUCCESS);
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_signed_by(&s.public, &s.dir.join("token-login.json"), cluster.hsms);

    // -e removes the token's keys.
    let out = s.mfa_add(&["-e", MODULE]);
    assert!(out.status.success(), "mfa-add -e: {}", stderr(&out));
    assert!(identities(&s.agent).is_empty());
    // A filter that names no key is said before the agent is asked.
    let out = s.mfa_add(&["-s", MODULE, "--pin-file", pin, "--id", "ff"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no RSA key"), "{}", stderr(&out));
}

#[test]
fn ssh_add_s_and_e_work_against_mfa_agent() {
    let s = TokenSetup::new(&[]);
    let out = s.ssh_add(&["-s", MODULE], PIN);
    assert!(out.status.success(), "ssh-add -s: {}", stderr(&out));
    let list = s.ssh_add(&["-l"], PIN);
    assert_eq!(first_two_fields(&stdout(&list)), s.ssh_keygen_fingerprint());
    // ssh-add loads SSH keys: the token key signs no CloudHSM token (mfa-add -s loads it for
    // tokens), and signs SSH requests.
    let tokens = [random_token()];
    assert_eq!(
        token_sign(s.agent.socket(), &only_key(&s.agent), &tokens),
        Response::ExtensionFailure
    );
    // ssh-keygen -Y signs through the token key (rsa-sha2-512), verified with ssh-keygen.
    let public = s.dir.write("agent.pub", s.ssh_add(&["-L"], PIN).stdout);
    let message = s.dir.write("message", "sign me\n");
    let signed = s
        .command(
            "ssh-keygen",
            &[
                "-Y",
                "sign",
                "-n",
                "file",
                "-f",
                path_str(&public),
                path_str(&message),
            ],
        )
        .output()
        .expect("ssh-keygen -Y sign");
    assert!(signed.status.success(), "{}", stderr(&signed));
    let check = Command::new("ssh-keygen")
        .args([
            "-Y",
            "check-novalidate",
            "-n",
            "file",
            "-f",
            path_str(&public),
            "-s",
        ])
        .arg(s.dir.join("message.sig"))
        .stdin(fs::File::open(&message).expect("message"))
        .output()
        .expect("ssh-keygen -Y check-novalidate");
    assert!(check.status.success(), "{}", stderr(&check));

    let out = s.ssh_add(&["-e", MODULE], PIN);
    assert!(out.status.success(), "ssh-add -e: {}", stderr(&out));
    assert!(identities(&s.agent).is_empty());
}

#[test]
fn a_provider_outside_the_allowlist_is_refused() {
    let s = TokenSetup::new(&["-P", "/opt/only-here/*"]);
    let pin = path_str(&s.pin_file);
    let out = s.mfa_add(&["-s", MODULE, "--pin-file", pin]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused to load"), "{}", stderr(&out));
    assert!(
        s.agent.logged("not in the allowlist"),
        "{}",
        s.agent.log_text()
    );
    let out = s.ssh_add(&["-s", MODULE], PIN);
    assert!(!out.status.success());
    assert!(identities(&s.agent).is_empty());
}

#[test]
fn a_wrong_pin_is_one_clear_error_and_does_not_lock_the_token() {
    let s = TokenSetup::new(&[]);
    let wrong = s.dir.write("wrong-pin", "000000\n");
    let out = s.mfa_add(&["-s", MODULE, "--pin-file", path_str(&wrong)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("mfa-add: error: wrong PIN for token"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "one error and its hint: {err}");
    // The agent was not asked with the wrong PIN.
    assert!(
        !s.agent.log_text().contains("add-smartcard-key"),
        "{}",
        s.agent.log_text()
    );
    // ssh-add's wrong PIN reaches the agent, which tries it once and says so in its log.
    let out = s.ssh_add(&["-s", MODULE], "000000");
    assert!(!out.status.success());
    assert!(s.agent.logged("wrong PIN"), "{}", s.agent.log_text());
    // Not locked: the right PIN still works.
    let out = s.mfa_add(&["-s", MODULE, "--pin-file", path_str(&s.pin_file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    s.assert_token_signs();
}

#[test]
fn a_token_gone_under_the_agent_gives_one_line_and_the_agent_stays_up() {
    let s = TokenSetup::new(&[]);
    let out = s.mfa_add(&["-s", MODULE, "--pin-file", path_str(&s.pin_file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let blob = only_key(&s.agent);
    let software = genrsa(s.dir.path(), "software.key", 2048);
    s.agent.add_key(&software);
    let away = s.dir.join("tokens-unplugged");
    fs::rename(&s.hsm.tokens, &away).expect("unplug: move the token folder away");
    fs::create_dir(&s.hsm.tokens).expect("an empty token folder");
    assert_eq!(
        token_sign(s.agent.socket(), &blob, &[random_token()]),
        Response::ExtensionFailure
    );
    let log = s.agent.log_text();
    assert!(log.contains("plug it back in"), "{log}");
    // The agent is up and its other key still signs.
    let ids = identities(&s.agent);
    assert_eq!(ids.len(), 2);
    let other = ids
        .iter()
        .find(|id| id.key_blob != blob)
        .expect("the software key");
    let token = random_token();
    assert_eq!(
        token_sign(s.agent.socket(), &other.key_blob, &[token]),
        Response::TokenSign(vec![sign_token_openssl(&software, &token)])
    );
}

#[test]
fn lifetime_and_confirm_constraints_apply_to_token_keys() {
    let s = TokenSetup::new(&["--approve-wait", "1"]);
    let pin = path_str(&s.pin_file);
    // -c with no MFA_ASKPASS where the agent runs: said at once; each use then waits for
    // mfa-add --approve, and nobody answers here.
    let out = s.mfa_add(&["-c", "-s", MODULE, "--pin-file", pin]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("confirm each use with mfa-add --approve"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        token_sign(s.agent.socket(), &only_key(&s.agent), &[random_token()]),
        Response::ExtensionFailure
    );
    let out = s.ssh_add(&["-e", MODULE], PIN);
    assert!(out.status.success(), "{}", stderr(&out));
    // ssh-add -c -s (SSH keys) likewise.
    let out = s.ssh_add(&["-c", "-s", MODULE], PIN);
    assert!(out.status.success(), "{}", stderr(&out));
    let refused = super::call(
        s.agent.socket(),
        &proto::message::Request::Sign {
            key_blob: only_key(&s.agent),
            data: b"data".to_vec(),
            flags: proto::message::SIGN_RSA_SHA2_256,
        },
    );
    assert_eq!(refused, Response::Failure);
    assert!(s.agent.logged("confirmation"), "{}", s.agent.log_text());
    // ssh-add -s -t 1: the key is gone a second later.
    let out = s.ssh_add(&["-e", MODULE], PIN);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = s.ssh_add(&["-t", "1", "-s", MODULE], PIN);
    assert!(out.status.success(), "ssh-add -t 1 -s: {}", stderr(&out));
    assert_eq!(identities(&s.agent).len(), 1);
    let added = std::time::Instant::now();
    while !identities(&s.agent).is_empty() {
        assert!(
            added.elapsed() < std::time::Duration::from_secs(10),
            "the token key outlived its 1 s lifetime by far"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
