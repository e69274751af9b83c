//! mfa-login against cloudhsm-cli-sim and a real mfa-agent: hands-free logins in every output
//! style and cluster size, single-command and interactive, twice per session; a readline-style
//! CLI (history recall, mid-line edits); change-mfa.
//! Signatures are judged by openssl and the simulator. Failures and exit statuses are in
//! [`safety`].

mod commands;
mod rejected;
mod safety;
mod warm;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cloudhsm_mfa_tests::harness::agent::{fingerprint, Agent};
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, public_key_pem, read_signatures, read_unsigned_tokens, verify_openssl,
};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use cloudhsm_mfa_tests::sim::commands::PASSWORD_PROMPT;
use cloudhsm_mfa_tests::sim::config::Style;
use cloudhsm_mfa_tests::sim::fixture::Cluster;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;

pub(crate) const USER: &str = "crypto1";
pub(crate) const ROLE: &str = "crypto-user";
pub(crate) const PASSWORD: &str = "Corr3ct-Horse!";
pub(crate) const SUCCESS: &str = "\"error_code\": 0";

/// A test folder with a cluster whose `crypto1` has `crypto1.key` registered, an agent
/// holding that key, and a 0600 password file.
pub(crate) struct Setup {
    pub dir: WorkDir,
    pub cluster: Cluster,
    pub agent: Agent,
    pub key: PathBuf,
    pub public: PathBuf,
    pub password_file: PathBuf,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = WorkDir::new();
        let cluster = Cluster::new(dir.path());
        let key = genrsa(dir.path(), "crypto1.key", 2048);
        let public = public_key_pem(&key, &dir.join("crypto1.pub"));
        cluster.add_user(USER, ROLE, PASSWORD, Some(&public));
        let agent = agent_in(&dir, "agent");
        agent.add_key(&key);
        let password_file = dir.write("password", format!("{PASSWORD}\n"));
        Setup {
            dir,
            cluster,
            agent,
            key,
            public,
            password_file,
        }
    }

    /// `mfa-login OPTIONS -- cloudhsm-cli-sim ARGS` in the test folder, with the agent and
    /// the cluster's environment.
    pub fn mfa_login(&self, cluster: &Cluster, options: &[&str], sim_args: &[&str]) -> Command {
        let mut command = Command::new(bin("mfa-login"));
        command
            .args(options)
            .arg("--")
            .arg(Cluster::bin())
            .args(sim_args)
            .current_dir(self.dir.path())
            .env("MFA_AUTH_SOCK", self.agent.socket());
        cluster.apply_env(&mut command);
        command
    }

    pub fn password_option(&self) -> [&str; 2] {
        [
            "--password-file",
            self.password_file.to_str().expect("UTF-8 path"),
        ]
    }
}

/// An agent of its own, in a subfolder named `name` of the test folder.
pub(crate) fn agent_in(dir: &WorkDir, name: &str) -> Agent {
    Agent::start(&dir.mkdir(name, 0o700))
}

/// `login --username crypto1 --role crypto-user mfa-token-sign --token TOKEN`.
pub(crate) fn login_args(token: &str) -> [&str; 8] {
    cloudhsm_mfa_tests::sim::fixture::login_args(USER, ROLE, token)
}

/// Checks with openssl that every token in the file is signed by `public`'s key.
pub(crate) fn assert_signed_by(public: &Path, token_file: &Path, hsms: usize) {
    let tokens = read_unsigned_tokens(token_file);
    let signatures = read_signatures(token_file);
    assert_eq!(tokens.len(), hsms, "one token per HSM");
    for (token, signature) in tokens.iter().zip(&signatures) {
        assert_eq!(signature.len(), 256, "an RSA-2048 signature");
        assert!(verify_openssl(public, token, signature), "openssl verifies");
    }
}

/// The cluster configurations every hands-free test runs through.
fn clusters(base: &Cluster) -> Vec<Cluster> {
    [
        (Style::Plain, 1, false),
        (Style::Slow, 3, false),
        (Style::Color, 7, false),
        (Style::Crlf, 3, false),
        (Style::Plain, 7, true),
        (Style::Color, 1, true),
        (Style::Readline, 3, true),
    ]
    .into_iter()
    .map(|(style, hsms, no_space)| {
        base.clone()
            .with_style(style)
            .with_hsms(hsms)
            .with_no_space(no_space)
    })
    .collect()
}

#[test]
fn single_command_login_is_hands_free_in_every_style_and_size() {
    let s = Setup::new();
    for (i, cluster) in clusters(&s.cluster).iter().enumerate() {
        let token = format!("single-{i}.json");
        // The first login types its password; the others use --password-file.
        let typed = i == 0;
        let transcript = s.dir.join(format!("single-{i}.log"));
        let debug = format!("--debug={}", transcript.display());
        let mut options: Vec<&str> = if typed {
            vec![]
        } else {
            s.password_option().to_vec()
        };
        options.push(&debug);
        let mut pty = Pty::spawn(s.mfa_login(cluster, &options, &login_args(&token)));
        if typed {
            pty.expect(PASSWORD_PROMPT);
            pty.send_line(PASSWORD);
        }
        // One line says what was signed, with which key (named by its file and fingerprint).
        let tokens = match cluster.hsms {
            1 => "1 token".to_owned(),
            n => format!("{n} tokens"),
        };
        pty.expect(&format!("mfa-login: signed {tokens} with "));
        let key = pty.expect("; pressing Enter");
        assert!(
            key.contains("crypto1.key") && key.contains(&fingerprint(&s.public)),
            "{key}"
        );
        pty.expect(SUCCESS);
        assert_eq!(pty.wait(), Exit::Code(0), "{cluster:?}");
        assert_signed_by(&s.public, &s.dir.join(&token), cluster.hsms);
        pty.assert_absent("mfa-login: error");
        pty.assert_absent(PASSWORD);
        let log = fs::read_to_string(&transcript).expect("the debug transcript");
        assert!(
            !log.contains(PASSWORD),
            "the transcript hides the password: {log}"
        );
        assert!(log.contains("redacted"), "{log}");
    }
}

#[test]
fn interactive_logins_twice_in_one_session_in_every_style_and_size() {
    let s = Setup::new();
    for cluster in clusters(&s.cluster) {
        let shell = if cluster.no_space {
            "aws-cloudhsm>"
        } else {
            "aws-cloudhsm >"
        };
        let mut pty = Pty::spawn(s.mfa_login(&cluster, &s.password_option(), &["interactive"]));
        pty.expect(shell);
        pty.send_line(&login_args("first.json").join(" "));
        pty.expect(SUCCESS);
        pty.expect(shell);
        // The second login is typed with a correction: mfa-login follows the line editing.
        pty.send_line(&login_args("second.jsox\x7fn").join(" "));
        pty.expect(SUCCESS);
        pty.expect(shell);
        pty.send_line("quit");
        assert_eq!(pty.wait(), Exit::Code(0), "{cluster:?}");
        pty.assert_absent("mfa-login: error");
        assert_signed_by(&s.public, &s.dir.join("first.json"), cluster.hsms);
        assert_signed_by(&s.public, &s.dir.join("second.json"), cluster.hsms);
    }
}

#[test]
fn change_mfa_registers_the_agent_key_and_the_next_login_succeeds() {
    let s = Setup::new();
    s.cluster.add_user("rotator", ROLE, PASSWORD, None);
    let transcript = s.dir.join("debug.txt");
    let debug = format!("--debug={}", transcript.display());
    // Single-command mode: CLOUDHSM_PIN says who runs it, so mfa-login knows the key is
    // registered for the user logged in. --change-password keeps the new password on the
    // command line: mfa-login never types --password-file into a prompt that sets one.
    let options = [debug.as_str()];
    let change = [
        "user",
        "change-mfa",
        "token-sign",
        "--username",
        "rotator",
        "--role",
        ROLE,
        "--token",
        "change.json",
        "--change-password",
        PASSWORD,
    ];
    // change-mfa needs a session: a single command's comes from CLOUDHSM_PIN/CLOUDHSM_ROLE.
    let mut command = s.mfa_login(&s.cluster, &options, &change);
    Cluster::apply_pin(&mut command, "rotator", ROLE, PASSWORD);
    let mut pty = Pty::spawn(command);
    pty.expect(SUCCESS);
    assert_eq!(pty.wait(), Exit::Code(0));

    let registered = s
        .cluster
        .user("rotator")
        .public_key
        .expect("a key is registered");
    let registered = RsaPublicKey::from_public_key_pem(&registered).expect("SPKI PEM");
    let ours = RsaPublicKey::from_public_key_pem(&s.dir.read_string(&s.public)).expect("PEM");
    assert_eq!(registered, ours, "the agent's key is the one registered");

    // The temporary PEM is gone, and the transcript never held the password.
    let log = fs::read_to_string(&transcript).expect("the debug transcript");
    let pem_path = log
        .split("answered the public key prompt with ")
        .nth(1)
        .and_then(|rest| rest.split(" (").next())
        .unwrap_or_else(|| panic!("the transcript names the PEM file: {log}"));
    assert!(!Path::new(pem_path).exists(), "{pem_path} is removed");
    assert!(
        !log.contains("answered with the password"),
        "no password typed: {log}"
    );

    let mut login = login_args("after.json");
    login[2] = "rotator";
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, &s.password_option(), &login));
    pty.expect(SUCCESS);
    assert_eq!(pty.wait(), Exit::Code(0));
}

#[test]
fn readline_history_recall_and_mid_line_edits_are_signed_hands_free() {
    let s = Setup::new();
    let cluster = s.cluster.clone().with_style(Style::Readline);
    let shell = "aws-cloudhsm > ";
    let mut pty = Pty::spawn(s.mfa_login(&cluster, &s.password_option(), &["interactive"]));
    pty.expect(shell);
    pty.send_line(&login_args("recalled.json").join(" "));
    pty.expect(SUCCESS);
    pty.expect(shell);
    let recalled = s.dir.join("recalled.json");
    assert_signed_by(&s.public, &recalled, cluster.hsms);
    let first_tokens = read_unsigned_tokens(&recalled);
    pty.send_line("logout");
    pty.expect("Logout successful");
    pty.expect(shell);

    // Up twice: past `logout` to the login, redrawn by the editor; mfa-login reads the
    // redrawn line, since it cannot follow the arrow keys itself.
    pty.send("\x1b[A\x1b[A\r");
    pty.expect(&format!(
        "\r{shell}{}\x1b[K",
        login_args("recalled.json").join(" ")
    ));
    pty.expect(SUCCESS);
    pty.expect(shell);
    assert_signed_by(&s.public, &recalled, cluster.hsms);
    assert_ne!(
        read_unsigned_tokens(&recalled),
        first_tokens,
        "the recalled login signed its own, new tokens"
    );

    // `bad.json`, cursor moved back before `.json`, `bad` erased, `good` typed there.
    pty.send(login_args("bad.json").join(" "));
    pty.send("\x1b[D".repeat(5));
    pty.send("\x7f\x7f\x7fgood\r");
    pty.expect(SUCCESS);
    pty.expect(shell);
    assert_signed_by(&s.public, &s.dir.join("good.json"), cluster.hsms);
    assert!(!s.dir.join("bad.json").exists(), "the edited line was used");

    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
    pty.assert_absent("mfa-login: error");
    assert_eq!(s.cluster.user(USER).failed_logins, 0);
}

#[test]
fn one_mfa_key_beside_ssh_keys_needs_no_key_option() {
    let s = Setup::new();
    // Two SSH keys added the OpenSSH way, before and after nothing else: the token key is
    // the only one mfa-login may choose.
    for name in ["ssh-a.key", "ssh-b.key"] {
        let added = Command::new("ssh-add")
            .arg(genrsa(s.dir.path(), name, 2048))
            .env("SSH_AUTH_SOCK", s.agent.socket())
            .output()
            .expect("ssh-add");
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
    }
    let listed = s.agent.mfa_add(&["-l"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 3);
    let mut pty = Pty::spawn(s.mfa_login(
        &s.cluster,
        &s.password_option(),
        &login_args("three-keys.json"),
    ));
    let key = pty.expect("; pressing Enter");
    assert!(key.contains("crypto1.key"), "{key}");
    pty.expect(SUCCESS);
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_signed_by(&s.public, &s.dir.join("three-keys.json"), s.cluster.hsms);
    pty.assert_absent("--key");
}

#[test]
fn ctrl_z_suspends_mfa_login_as_a_shell_job_and_fg_brings_it_back() {
    // COMMAND runs in a session of its own, where the kernel drops a stop signal: ^Z must
    // stop mfa-login itself, as the job the shell sees.
    let mut shell = Command::new("bash");
    shell
        .args(["--norc", "--noprofile", "-i"])
        .env("PS1", "shell$ ");
    let mut pty = Pty::spawn(shell);
    pty.expect("shell$ ");
    // The command's own output is marked, so an echo of the typed line is never taken for it.
    pty.send_line(&format!(
        "{} -- sed -u 's/^/got /'",
        bin("mfa-login").display()
    ));
    pty.send_line("before");
    pty.expect("got before");
    pty.send("\x1a");
    pty.expect("Stopped");
    pty.expect("shell$ ");
    pty.send_line("echo the shell has the terminal");
    pty.expect("the shell has the terminal\r\n");
    pty.send_line("fg");
    pty.send_line("after");
    pty.expect("got after");
    pty.send("\x04");
    pty.expect("shell$ ");
    pty.send_line("exit");
    pty.wait();
}

#[test]
fn the_config_file_picks_the_users_key_and_never_lets_another_users_key_answer() {
    let s = Setup::new();
    let other_key = genrsa(s.dir.path(), "officer2.key", 2048);
    let other_pub = public_key_pem(&other_key, &s.dir.join("officer2.pub"));
    s.agent.add_key(&other_key);
    let config_home = s.dir.mkdir("config", 0o700);
    s.dir.mkdir("config/cloudhsm-mfa", 0o700);
    let config = s.dir.write_mode(
        "config/cloudhsm-mfa/config.toml",
        format!(
            "[[keys]]\nuser = \"{USER}\"\nkey = \"{}\"\n\n[[keys]]\nuser = \"officer2\"\nkey = \"{}\"\n",
            fingerprint(&s.public),
            fingerprint(&other_pub)
        ),
        0o600,
    );
    let login = |options: &[&str], token: &str| {
        let mut command = s.mfa_login(&s.cluster, options, &login_args(token));
        command.env("XDG_CONFIG_HOME", &config_home);
        command
    };
    // Two token keys and no --key: the file names crypto1's.
    let mut pty = Pty::spawn(login(&s.password_option(), "mapped.json"));
    pty.expect(SUCCESS);
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_signed_by(&s.public, &s.dir.join("mapped.json"), s.cluster.hsms);

    // --key naming officer2's key for crypto1's login: refused before anything is signed.
    let other_fp = fingerprint(&other_pub);
    let mut options = s.password_option().to_vec();
    options.extend(["--key", &other_fp]);
    let typed_before = s.cluster.passwords().len();
    let out = login(&options, "wrong.json")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("mfa-login");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains(&format!("maps key {other_fp} to officer2, not to {USER}")),
        "{err}"
    );
    assert_eq!(
        s.cluster.passwords().len(),
        typed_before,
        "the CLI never asked"
    );
    // In interactive mode the token prompt is refused the same way.
    let mut pty = Pty::spawn({
        let mut command = s.mfa_login(&s.cluster, &options, &["interactive"]);
        command.env("XDG_CONFIG_HOME", &config_home);
        command
    });
    pty.expect("aws-cloudhsm > ");
    pty.send_line(&login_args("wrong.json").join(" "));
    pty.expect(&format!("maps key {other_fp} to officer2, not to {USER}"));
    pty.signal(expectrl::Signal::SIGINT);
    pty.wait();
    assert!(read_signatures(&s.dir.join("wrong.json"))
        .iter()
        .all(Vec::is_empty));
    assert_eq!(s.cluster.failed_logins_total(USER), 0);

    // A file others may change is not trusted: mfa-login stops before the CLI starts.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .expect("chmod");
    let out = login(&s.password_option(), "unsafe.json")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("mfa-login");
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the config file:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_confirmation_names_the_operation_the_user_and_the_token_count() {
    let s = Setup::new();
    let asked = s.dir.join("asked.txt");
    let askpass = s.dir.write_mode(
        "askpass",
        format!("#!/bin/sh\necho \"$1\" >> '{}'\nexit 0\n", asked.display()),
        0o755,
    );
    let agent = Agent::start_with_env(
        &s.dir.mkdir("confirming", 0o700),
        &[],
        &[("MFA_ASKPASS", askpass.as_os_str())],
    );
    let added = agent.mfa_add(&["-c", s.key.to_str().expect("utf-8")]);
    assert!(added.status.success());
    let mut command = s.mfa_login(&s.cluster, &s.password_option(), &login_args("asked.json"));
    command.env("MFA_AUTH_SOCK", agent.socket());
    let mut pty = Pty::spawn(command);
    pty.expect(SUCCESS);
    assert_eq!(pty.wait(), Exit::Code(0));
    let question = fs::read_to_string(&asked).expect("the askpass program ran");
    let hsms = s.cluster.hsms;
    assert!(
        question.contains(&format!(
            "to sign {hsms} CloudHSM tokens for a CloudHSM login as {USER} ({ROLE}) (as the \
             client says)"
        )),
        "{question}"
    );
    assert!(
        question.contains("Through a local connection."),
        "{question}"
    );
    assert!(
        agent
            .log_text()
            .contains(&format!("for=\"a CloudHSM login as {USER} ({ROLE})\"")),
        "{}",
        agent.log_text()
    );
}
