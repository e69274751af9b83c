//! Keys on a TPM through tpm2-pkcs11 (issue 23), a software TPM (swtpm) per test: load and sign
//! (judged by openssl with the public key read through the library), unplug and replug then
//! `-e`/`-s` without restarting the agent, a key made after the first load, two tokens with
//! different PINs (`--token`, and the TPM's lockout counter does not move), keys listed as
//! `TOKEN/KEY` and chosen with `--key` (the agent behind tpm2-abrmd there), and the hint when
//! the agent lacks the user's store.
//! Also a provider that aborts in C_Sign (SoftHSM2 underneath): the agent and its software keys
//! carry on.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cloudhsm_mfa_tests::harness::agent::{fingerprint, Agent};
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::crash::crash_provider;
use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, public_key_pem, random_token, verify_openssl, write_token_file,
};
use cloudhsm_mfa_tests::harness::output::assert_ok;
use cloudhsm_mfa_tests::harness::softhsm::{SoftHsm, PIN as SOFTHSM_PIN};
use cloudhsm_mfa_tests::harness::tpm::{self, Tpm};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use proto::message::Response;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;

use super::{identities, path_str, stderr, stdout, token_sign};
use crate::login::assert_signed_by;

/// The officer token's user PIN.
const PIN: &str = "135246";
/// The backup token's user PIN: not the officer's.
const PIN2: &str = "975310";

/// How the agent reaches the TPM.
#[derive(Clone, Copy, PartialEq)]
enum Reach {
    /// Directly (`TPM2_PKCS11_TCTI=swtpm:...`), with the user's store.
    Direct,
    /// Through the test's tpm2-abrmd (`tabrmd:...` and its D-Bus).
    Broker,
    /// Directly, but the agent was started without `TPM2_PKCS11_STORE` (as a systemd-started
    /// agent is); the clients have it.
    DirectWithoutStore,
}

/// A test folder, a software TPM with an empty tpm2-pkcs11 store, and an agent that reaches
/// both (or, for the hint test, the TPM only).
struct TpmSetup {
    // Dropped in this order: the agent, the TPM, then the folder they use.
    agent: Agent,
    tpm: Tpm,
    module: String,
    /// The variables of the clients (mfa-add, mfa-sign, ssh-add).
    env: Vec<(&'static str, std::ffi::OsString)>,
    dir: WorkDir,
}

impl TpmSetup {
    /// None (the test is skipped, saying why) when swtpm is not installed outside CI.
    fn new(test: &str) -> Option<TpmSetup> {
        TpmSetup::reaching(test, Reach::Direct)
    }

    fn reaching(test: &str, reach: Reach) -> Option<TpmSetup> {
        if !tpm::available(test) {
            return None;
        }
        let dir = WorkDir::new();
        let tpm = Tpm::new(dir.path());
        let module = tpm::module().expect("libtpm2_pkcs11.so");
        let module = module.to_str().expect("UTF-8 path").to_owned();
        let env = match reach {
            Reach::Broker => tpm.env_via_broker(),
            Reach::Direct | Reach::DirectWithoutStore => tpm.env(),
        };
        let home = dir.mkdir("home", 0o700);
        let mut agent_env = vec![("HOME", home.as_os_str())];
        agent_env.extend(
            env.iter()
                .filter(|(name, _)| {
                    reach != Reach::DirectWithoutStore || *name != "TPM2_PKCS11_STORE"
                })
                .map(|(name, value)| (*name, value.as_os_str())),
        );
        let agent = Agent::start_with_env(dir.path(), &[], &agent_env);
        Some(TpmSetup {
            dir,
            tpm,
            module,
            env,
            agent,
        })
    }

    /// A client program with the agent's and the TPM's variables, no terminal, no askpass.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(self.agent.env())
            .envs(self.env.iter().cloned())
            .env_remove("MFA_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .stdin(Stdio::null());
        command
    }

    fn mfa(&self, program: &str, args: &[&str]) -> Output {
        let program = bin(program);
        self.command(path_str(&program), args)
            .output()
            .expect("run a client")
    }

    fn mfa_add(&self, args: &[&str]) -> Output {
        self.mfa("mfa-add", args)
    }

    /// `mfa-add -s TPM-MODULE --pin-file (PIN) ARGS`.
    fn load(&self, pin: &str, args: &[&str]) -> Output {
        let pin_file = self.dir.write(format!("pin-{pin}"), format!("{pin}\n"));
        let mut all = vec!["-s", &self.module, "--pin-file", path_str(&pin_file)];
        all.extend(args);
        self.mfa_add(&all)
    }

    /// Signs two tokens with the agent's key whose public half is `public` (SPKI PEM read
    /// from the TPM); openssl verifies each signature with that file.
    fn assert_signs(&self, public: &Path) {
        let blob = blob_of(public);
        assert!(
            identities(&self.agent).iter().any(|i| i.key_blob == blob),
            "the agent holds no key {}",
            public.display()
        );
        let tokens = [random_token(), random_token()];
        match token_sign(self.agent.socket(), &blob, &tokens) {
            Response::TokenSign(signatures) => {
                for (token, signature) in tokens.iter().zip(&signatures) {
                    assert!(verify_openssl(public, token, signature), "openssl verifies");
                }
            }
            other => panic!("token-sign answered {other:?}\n{}", self.agent.log_text()),
        }
    }
}

/// The agent's key blob of an SPKI PEM public key.
fn blob_of(public: &Path) -> Vec<u8> {
    let pem = fs::read_to_string(public).expect("read the public key");
    let key = RsaPublicKey::from_public_key_pem(&pem).expect("SPKI PEM");
    proto::key::public_key_blob(&key)
}

/// The provider's real path, as the agent names it.
fn real_path(module: &str) -> String {
    let real = fs::canonicalize(module).expect("the module's real path");
    real.to_str().expect("UTF-8 path").to_owned()
}

#[test]
fn a_tpm_key_loads_with_mfa_add_s_and_signs_what_openssl_verifies() {
    let Some(mut s) = TpmSetup::new("tpm basic") else {
        return;
    };
    s.tpm.add_token("officer", PIN);
    let public = s.tpm.add_key("officer", PIN, "officer1");
    assert_ok(&s.load(PIN, &[]), "mfa-add -s");
    assert_eq!(identities(&s.agent).len(), 1);
    s.assert_signs(&public);
}

#[test]
fn after_the_tpm_is_unplugged_and_replugged_e_and_s_sign_again_without_restarting_the_agent() {
    let Some(mut s) = TpmSetup::new("tpm replug") else {
        return;
    };
    s.tpm.add_token("officer", PIN);
    let public = s.tpm.add_key("officer", PIN, "officer1");
    assert_ok(&s.load(PIN, &[]), "mfa-add -s");
    s.assert_signs(&public);
    s.tpm.stop();
    s.tpm.start();
    // The library's sessions died with the TPM: a signature now fails, and says what to do.
    let file = s.dir.join("login.json");
    write_token_file(&file, 3);
    let out = s.mfa(
        "mfa-sign",
        &["--key", &fingerprint(&public), path_str(&file)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    let reload = format!("mfa-add -e {0}; mfa-add -s {0}", real_path(&s.module));
    assert!(
        said.contains("the token is gone") && said.contains(&reload),
        "{said}"
    );
    assert_ok(&s.mfa_add(&["-e", &s.module]), "mfa-add -e");
    assert!(identities(&s.agent).is_empty());
    assert_ok(&s.load(PIN, &[]), "mfa-add -s after the replug");
    s.assert_signs(&public);
}

#[test]
fn a_key_made_on_the_tpm_token_after_the_first_load_appears_after_e_and_s() {
    let Some(mut s) = TpmSetup::new("tpm rotation") else {
        return;
    };
    s.tpm.add_token("officer", PIN);
    let first = s.tpm.add_key("officer", PIN, "officer1");
    assert_ok(&s.load(PIN, &[]), "mfa-add -s");
    assert_eq!(identities(&s.agent).len(), 1);
    let second = s.tpm.add_key("officer", PIN, "officer2");
    assert_ok(&s.mfa_add(&["-e", &s.module]), "mfa-add -e");
    let out = s.load(PIN, &[]);
    assert_ok(&out, "mfa-add -s after the new key");
    assert!(stderr(&out).contains("2 keys"), "{}", stderr(&out));
    assert_eq!(identities(&s.agent).len(), 2, "what mfa-add said it added");
    s.assert_signs(&second);
    s.assert_signs(&first);
}

#[test]
fn token_picks_one_of_two_tpm_tokens_and_the_tpm_lockout_counter_does_not_move() {
    let Some(mut s) = TpmSetup::new("tpm two tokens") else {
        return;
    };
    s.tpm.add_token("officer", PIN);
    s.tpm.add_key("officer", PIN, "officer1");
    s.tpm.add_token("backup", PIN2);
    let backup = s.tpm.add_key("backup", PIN2, "backup1");
    let before = s.tpm.lockout_counter();
    let out = s.load(PIN2, &["--token", "backup"]);
    assert_ok(&out, "mfa-add -s --token backup");
    let ids = identities(&s.agent);
    assert_eq!(ids.len(), 1, "the backup token's key only: {ids:?}");
    s.assert_signs(&backup);
    assert_eq!(
        s.tpm.lockout_counter(),
        before,
        "the officer token was sent no PIN: the TPM counted no failure"
    );
    // The counter does count: the backup PIN on the officer token costs exactly one try.
    let out = s.load(PIN2, &["--token", "officer"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrong PIN"), "{}", stderr(&out));
    assert_eq!(s.tpm.lockout_counter(), before + 1, "one try, not two");
}

#[test]
fn tpm_keys_are_listed_as_token_slash_key_and_key_picks_one() {
    // Through tpm2-abrmd this time, as on a machine that runs one.
    let Some(mut s) = TpmSetup::reaching("tpm labels", Reach::Broker) else {
        return;
    };
    s.tpm.add_token("officer", PIN);
    let first = s.tpm.add_key("officer", PIN, "officer1");
    let second = s.tpm.add_key("officer", PIN, "officer2");
    assert_ok(&s.load(PIN, &[]), "mfa-add -s");
    let expected = |public: &Path, comment: &str| format!("{} {comment}", fingerprint(public));
    let lines = |out: &Output| -> Vec<String> {
        let mut lines: Vec<String> = stdout(out)
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        lines.sort();
        lines
    };
    let mut want = [
        expected(&first, "officer/officer1"),
        expected(&second, "officer/officer2"),
    ];
    want.sort();
    let ssh_add = s.command("ssh-add", &["-l"]).output().expect("ssh-add -l");
    assert_eq!(lines(&ssh_add), want, "ssh-add -l");
    assert_eq!(lines(&s.mfa_add(&["-l"])), want, "mfa-add -l");

    let file = s.dir.join("login.json");
    write_token_file(&file, 3);
    let out = s.mfa("mfa-sign", &["--key", "officer/officer2", path_str(&file)]);
    assert_ok(&out, "mfa-sign --key officer/officer2");
    assert_signed_by(&second, &file, 3);
}

#[test]
fn an_agent_without_the_users_tpm2_pkcs11_store_is_what_the_hint_names() {
    let Some(mut s) = TpmSetup::reaching("tpm hint", Reach::DirectWithoutStore) else {
        return;
    };
    s.tpm.add_token("officer", PIN);
    s.tpm.add_key("officer", PIN, "officer1");
    let out = s.load(PIN, &["--token", "officer"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    let hint = format!(
        "the agent loads providers with its own environment: start it with \
         TPM2_PKCS11_STORE={}",
        s.tpm.store.display()
    );
    assert!(said.contains(&hint), "{said}");
    assert!(
        !said.contains("mfa-agent -P") && !said.contains("check the PIN"),
        "{said}"
    );
    assert_eq!(s.tpm.lockout_counter(), 0, "no PIN was tried by the agent");
}

#[test]
fn a_provider_that_aborts_in_c_sign_leaves_the_agent_and_its_software_keys_signing() {
    let dir = WorkDir::new();
    let hsm = SoftHsm::new(dir.path());
    let key = genrsa(dir.path(), "token.key", 2048);
    let token_public = hsm.import(&key, "officer1", "a1", &dir.join("token.pub"));
    let crash = crash_provider(dir.path());
    let crash = path_str(&crash).to_owned();
    let (name, value) = hsm.env();
    let agent = Agent::start_with_env(dir.path(), &["-P", &crash], &[(name, value.as_os_str())]);
    let software = genrsa(dir.path(), "software.key", 2048);
    agent.add_key(&software);
    let pin = dir.write("pin", format!("{SOFTHSM_PIN}\n"));
    let client = |program: &str, args: &[&str]| {
        Command::new(bin(program))
            .args(args)
            .envs(agent.env())
            .env(name, &value)
            .stdin(Stdio::null())
            .output()
            .expect("run a client")
    };
    assert_ok(
        &client("mfa-add", &["-s", &crash, "--pin-file", path_str(&pin)]),
        "mfa-add -s crash.so",
    );
    assert_eq!(identities(&agent).len(), 2);

    // The token key's signature aborts its provider: one error line, naming what failed.
    let file = dir.join("login.json");
    write_token_file(&file, 3);
    let out = client(
        "mfa-sign",
        &["--key", &fingerprint(&token_public), path_str(&file)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    let errors: Vec<&str> = said.lines().filter(|l| l.contains("error:")).collect();
    let [error] = errors[..] else {
        panic!("one error line: {said}");
    };
    assert!(
        error.contains(&crash) && error.contains("died"),
        "the error names the provider whose helper died: {said}"
    );
    assert!(
        !said.contains("PIN") && !said.contains("mfa-agent -P"),
        "{said}"
    );

    // The agent is up, and its software key signs what openssl verifies.
    let software_public = public_key_pem(&software, &dir.join("software.pub"));
    let blob = blob_of(&software_public);
    assert!(identities(&agent).iter().any(|i| i.key_blob == blob));
    let token = random_token();
    match token_sign(agent.socket(), &blob, &[token]) {
        Response::TokenSign(signatures) => {
            assert!(verify_openssl(&software_public, &token, &signatures[0]));
        }
        other => panic!("token-sign answered {other:?}\n{}", agent.log_text()),
    }
    let log = agent.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("refused token-sign") && l.contains(&crash)),
        "the agent's log names the provider: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}
