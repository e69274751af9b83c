//! mfa-login against cloudhsm-cli-sim and a real mfa-agent: hands-free logins in every output
//! style and cluster size, single-command and interactive; change-mfa; exit statuses; each
//! failure leaves the prompt unanswered and the token file untouched; the terminal's settings
//! survive success, failure and SIGTERM. Signatures are judged by openssl and the simulator.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, public_key_pem, read_signatures, read_unsigned_tokens, verify_openssl, write_token_file,
};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use cloudhsm_mfa_tests::sim::commands::{PASSWORD_PROMPT, SIGNED_TOKEN_PROMPT};
use cloudhsm_mfa_tests::sim::config::Style;
use cloudhsm_mfa_tests::sim::fixture::Cluster;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;

const USER: &str = "crypto1";
const ROLE: &str = "crypto-user";
const PASSWORD: &str = "Corr3ct-Horse!";
const SUCCESS: &str = "\"error_code\": 0";

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

    fn password_option(&self) -> [&str; 2] {
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
fn login_args(token: &str) -> [&str; 8] {
    [
        "login",
        "--username",
        USER,
        "--role",
        ROLE,
        "mfa-token-sign",
        "--token",
        token,
    ]
}

/// Checks with openssl that every token in the file is signed by `public`'s key.
fn assert_signed_by(public: &Path, token_file: &Path, hsms: usize) {
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
    let mut options = s.password_option().to_vec();
    options.push(&debug);
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
    ];
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, &options, &change));
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
    assert!(!log.contains(PASSWORD), "the password is redacted: {log}");

    let mut login = login_args("after.json");
    login[2] = "rotator";
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, &s.password_option(), &login));
    pty.expect(SUCCESS);
    assert_eq!(pty.wait(), Exit::Code(0));
}

#[test]
fn exit_statuses_are_the_commands_or_documented() {
    let dir = WorkDir::new();
    let not_executable = dir.write_mode("script.sh", "#!/bin/sh\n", 0o644);
    let run = |args: &[&str]| {
        let output = Command::new(bin("mfa-login"))
            .args(args)
            .env_remove("MFA_AUTH_SOCK")
            .current_dir(dir.path())
            .output()
            .expect("run mfa-login");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(run(&["--", "sh", "-c", "exit 3"]).0, Some(3));
    assert_eq!(run(&["--", "sh", "-c", "kill -TERM $$"]).0, Some(128 + 15));
    assert_eq!(run(&["--", "sh", "-c", "kill -KILL $$"]).0, Some(128 + 9));
    assert_eq!(run(&["--", "no-such-command-here"]).0, Some(127));
    assert_eq!(
        run(&["--", not_executable.to_str().expect("UTF-8")]).0,
        Some(126)
    );
    assert_eq!(run(&["--no-such-option", "true"]).0, Some(125));
    let readable = dir.write_mode("readable-password", PASSWORD, 0o644);
    let (code, stderr) = run(&["--password-file", readable.to_str().expect("UTF-8"), "true"]);
    assert_eq!(code, Some(125));
    assert!(stderr.contains("must be mode 0600 or stricter"), "{stderr}");

    // Without a terminal on stdin, a failure at the prompt ends the command: 125.
    let cluster = Cluster::new(dir.path());
    let key = genrsa(dir.path(), "crypto1.key", 2048);
    cluster.add_user(
        USER,
        ROLE,
        PASSWORD,
        Some(&public_key_pem(&key, &dir.join("k.pub"))),
    );
    let password = dir.write("password", PASSWORD);
    let mut command = Command::new(bin("mfa-login"));
    command
        .arg("--password-file")
        .arg(&password)
        .arg("--")
        .arg(Cluster::bin())
        .args(login_args("t.json"))
        .current_dir(dir.path())
        .env("MFA_AUTH_SOCK", dir.join("no-agent.sock"))
        .stdin(std::process::Stdio::null());
    cluster.apply_env(&mut command);
    let output = command.output().expect("run mfa-login");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("mfa-login: error: cannot reach mfa-agent"),
        "{stderr}"
    );
    assert_eq!(
        cluster.user(USER).failed_logins,
        0,
        "the prompt was not answered"
    );
}

/// How a failure case sets the scene.
enum Scene {
    NoAgent,
    EmptyAgent,
    TwoKeys,
    TokenFile(&'static str),
    /// A well-formed unsigned file, but an hour old: left over from another login.
    StaleFile,
    AgentKilled,
}

#[test]
fn each_failure_is_one_line_and_leaves_the_prompt_and_the_file_alone() {
    let s = Setup::new();
    let short_token = "{\"version\": \"2.0\", \"tokens\": [{\"unsigned\": \
        \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\", \"signed\": \"\"}]}";
    let cases = [
        (Scene::NoAgent, "cannot reach mfa-agent at"),
        (Scene::EmptyAgent, "mfa-agent holds no RSA key"),
        (
            Scene::TwoKeys,
            "mfa-agent holds 2 RSA keys and --key does not choose one",
        ),
        (Scene::TokenFile("{not json"), "the token file is not JSON"),
        (Scene::TokenFile(short_token), "token 1 is 31 bytes, not 32"),
        (Scene::StaleFile, "was not written for this login"),
        (Scene::AgentKilled, "cannot reach mfa-agent at"),
    ];
    for (i, (scene, expected)) in cases.into_iter().enumerate() {
        // Each case ends in one failed login; start every case with a fresh count.
        s.cluster.add_user(USER, ROLE, PASSWORD, Some(&s.public));
        let token = format!("failure-{i}.json");
        let mut options: Vec<String> = Vec::new();
        let mut own_file = None;
        let mut agents = Vec::new();
        let socket = match &scene {
            Scene::NoAgent => s.dir.join("nobody.sock"),
            Scene::EmptyAgent => {
                agents.push(agent_in(&s.dir, &format!("empty-{i}")));
                agents[0].socket().to_path_buf()
            }
            Scene::TwoKeys => {
                let agent = agent_in(&s.dir, &format!("two-{i}"));
                agent.add_key(&s.key);
                agent.add_key(&genrsa(s.dir.path(), "other.key", 2048));
                agents.push(agent);
                agents[0].socket().to_path_buf()
            }
            Scene::TokenFile(contents) => {
                let path = s.dir.write(format!("own-{i}.json"), contents);
                options.push(format!("--token-file={}", path.display()));
                own_file = Some((path, contents.as_bytes().to_vec()));
                s.agent.socket().to_path_buf()
            }
            Scene::StaleFile => {
                let path = s.dir.join(format!("stale-{i}.json"));
                write_token_file(&path, 3);
                let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
                fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(an_hour_ago))
                    .expect("age the file");
                options.push(format!("--token-file={}", path.display()));
                own_file = Some((path.clone(), fs::read(&path).expect("read")));
                s.agent.socket().to_path_buf()
            }
            Scene::AgentKilled => {
                let agent = agent_in(&s.dir, &format!("doomed-{i}"));
                agent.add_key(&s.key);
                agents.push(agent);
                agents[0].socket().to_path_buf()
            }
        };
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let mut command = s.mfa_login(&s.cluster, &options, &login_args(&token));
        command.env("MFA_AUTH_SOCK", &socket);
        let mut pty = Pty::spawn(command);
        pty.expect(PASSWORD_PROMPT);
        if let Scene::AgentKilled = scene {
            let agent = agents.pop().expect("the agent");
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(agent.pid() as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .expect("kill the agent");
        }
        pty.send_line(PASSWORD);
        pty.expect(SIGNED_TOKEN_PROMPT);
        pty.expect("mfa-login: error: ");
        pty.expect(expected);

        match &own_file {
            Some((path, original)) => assert_eq!(&fs::read(path).expect("read"), original),
            None => assert!(
                read_signatures(&s.dir.join(&token))
                    .iter()
                    .all(Vec::is_empty),
                "the token file is untouched"
            ),
        }
        // No Enter was sent: the simulator still waits at the prompt and takes this line.
        pty.send_line("typed-by-the-user");
        pty.expect("signed token file typed-by-the-user");
        assert_eq!(pty.wait(), Exit::Code(1));
    }
}

#[test]
fn a_key_the_cluster_does_not_know_fails_once_and_is_not_retried() {
    let s = Setup::new();
    let stranger = agent_in(&s.dir, "stranger");
    stranger.add_key(&genrsa(s.dir.path(), "stranger.key", 2048));
    let mut command = s.mfa_login(&s.cluster, &s.password_option(), &login_args("t.json"));
    command.env("MFA_AUTH_SOCK", stranger.socket());
    let mut pty = Pty::spawn(command);
    pty.expect("does not verify");
    assert_eq!(pty.wait(), Exit::Code(1));
    assert_eq!(s.cluster.user(USER).failed_logins, 1, "one attempt only");

    // With the right key beside it, --key chooses it by fingerprint.
    stranger.add_key(&s.key);
    let public = RsaPublicKey::from_public_key_pem(&s.dir.read_string(&s.public)).expect("PEM");
    let fingerprint = proto::key::fingerprint(&proto::key::public_key_blob(&public));
    let mut options = s.password_option().to_vec();
    options.extend(["--key", &fingerprint]);
    let mut command = s.mfa_login(&s.cluster, &options, &login_args("chosen.json"));
    command.env("MFA_AUTH_SOCK", stranger.socket());
    let mut pty = Pty::spawn(command);
    pty.expect(SUCCESS);
    assert_eq!(pty.wait(), Exit::Code(0));

    // A prompt that comes straight back after an answer is left to the user.
    let token = s.dir.join("again.json");
    write_token_file(&token, 2);
    let script =
        "printf '%s ' \"$P\"; read a; printf '%s ' \"$P\"; read b; echo \"answers:[$a][$b]\"";
    let mut command = Command::new(bin("mfa-login"));
    command
        .arg(format!("--token-file={}", token.display()))
        .args(["--", "sh", "-c", script])
        .env("P", SIGNED_TOKEN_PROMPT)
        .env("MFA_AUTH_SOCK", s.agent.socket());
    let mut pty = Pty::spawn(command);
    pty.expect("came back right after mfa-login answered it");
    pty.send_line("mine");
    // COMMAND never named the file, so mfa-login typed its path before Enter.
    let canonical = fs::canonicalize(&token).expect("canonical path");
    pty.expect(&format!("answers:[{}][mine]", canonical.display()));
    assert_eq!(pty.wait(), Exit::Code(0));
    assert_signed_by(&s.public, &token, 2);
}

#[test]
fn terminal_settings_are_restored_after_success_failure_and_sigterm() {
    let s = Setup::new();
    let login = login_args("stty.json");
    let cases: [(&str, Vec<&str>, &str); 3] = [
        ("success", s.password_option().to_vec(), "status=0"),
        ("failure", vec![], "status=1"),
        ("sigterm", vec![], "status=143"),
    ];
    for (name, options, status) in cases {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg("stty -g > before; \"$@\"; echo \"status=$?\"; stty -g > after")
            .arg("sh")
            .current_dir(s.dir.path());
        let inner = if name == "sigterm" {
            let mut c = Command::new(bin("mfa-login"));
            c.args([
                "--",
                "sh",
                "-c",
                "echo $PPID > mfa.pid; echo ready; exec sleep 60",
            ]);
            c
        } else {
            s.mfa_login(&s.cluster, &options, &login)
        };
        command.arg(inner.get_program()).args(inner.get_args());
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                command.env(k, v);
            }
        }
        if name == "failure" {
            command.env("MFA_AUTH_SOCK", s.dir.join("nobody.sock"));
        }
        let mut pty = Pty::spawn(command);
        match name {
            "failure" => {
                pty.expect(PASSWORD_PROMPT);
                pty.send_line(PASSWORD);
                pty.expect("mfa-login: error: ");
                pty.send_line("");
            }
            "sigterm" => {
                pty.expect("ready");
                let pid: i32 = s.dir.read_string("mfa.pid").trim().parse().expect("pid");
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                )
                .expect("kill mfa-login");
            }
            _ => {}
        }
        pty.expect(status);
        assert_eq!(pty.wait(), Exit::Code(0), "{name}");
        let before = s.dir.read_string("before");
        assert!(!before.trim().is_empty(), "{name}: stty -g printed");
        assert_eq!(
            before,
            s.dir.read_string("after"),
            "{name}: settings restored"
        );
    }
}
