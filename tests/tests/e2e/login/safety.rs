//! mfa-login when things go wrong: exit statuses; each failure is one line, with a hint on
//! finishing by hand, and leaves the prompt unanswered and the token file untouched; a
//! rejected answer is not retried; the terminal's settings survive success, failure, SIGTERM
//! and SIGHUP.

use std::fs;
use std::process::Command;
use std::time::Duration;

use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{
    genrsa, public_key_pem, read_signatures, write_token_file,
};
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use cloudhsm_mfa_tests::sim::commands::{PASSWORD_PROMPT, SIGNED_TOKEN_PROMPT};
use cloudhsm_mfa_tests::sim::fixture::Cluster;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;

use super::{agent_in, assert_signed_by, login_args, Setup, PASSWORD, ROLE, SUCCESS, USER};

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

#[test]
fn empty_stdin_at_a_prompt_nobody_can_answer_exits_125_instead_of_hanging() {
    // Bug: `mfa-login -- cloudhsm-cli login ... </dev/null` without --password-file waited at
    // the password prompt forever (and `interactive` at its prompt). The end of stdin at the
    // CLI's own prompt ends the session as `quit` would (exit 0); at a password prompt
    // nobody can answer, mfa-login exits 125.
    let dir = WorkDir::new();
    let cluster = Cluster::new(dir.path());
    cluster.add_user(USER, ROLE, PASSWORD, None);
    // A login without MFA: one that signs would be refused before the CLI starts (no agent).
    let login = ["login", "--username", USER, "--role", ROLE];
    let cases: [(&[&str], &str, i32); 2] =
        [(&login, "password prompt", 125), (&["interactive"], "", 0)];
    for (args, prompt, status) in cases {
        let mut command = Command::new(bin("mfa-login"));
        command
            .arg("--")
            .arg(Cluster::bin())
            .args(args)
            .current_dir(dir.path())
            .env_remove("MFA_AUTH_SOCK")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cluster.apply_env(&mut command);
        let mut child = command.spawn().expect("run mfa-login");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("try_wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mfa-login still waits at the {prompt} with stdin from /dev/null");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(status), "{stderr}");
        if status == 125 {
            assert!(
                stderr.contains("stdin is not a terminal: nobody can answer the")
                    && stderr.contains(prompt),
                "{stderr}"
            );
        }
    }
    assert_eq!(cluster.user(USER).failed_logins, 0);
}

/// How a failure case sets the scene.
enum Scene {
    NoAgent,
    EmptyAgent,
    TwoKeys,
    TokenFile(&'static str),
    /// A well-formed unsigned file, but an hour old: left over from another login.
    StaleFile,
    /// `--token-file` names another file than the command's `--token`.
    OtherFile,
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
        (Scene::OtherFile, "name different files; not signing either"),
        (Scene::AgentKilled, "cannot reach mfa-agent at"),
    ];
    for (i, (scene, expected)) in cases.into_iter().enumerate() {
        // Each case ends in one failed login; start every case with a fresh count.
        s.cluster.add_user(USER, ROLE, PASSWORD, Some(&s.public));
        let token = format!("failure-{i}.json");
        let mut options: Vec<String> = Vec::new();
        let mut own_file = None;
        let mut fault = String::new();
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
            // The CLI (the simulator, told so) writes a file that is not what it should be.
            Scene::TokenFile(contents) => {
                fault = format!("content:{contents}");
                own_file = Some((s.dir.join(&token), contents.as_bytes().to_vec()));
                s.agent.socket().to_path_buf()
            }
            Scene::StaleFile => {
                fault = "stale".to_owned();
                s.agent.socket().to_path_buf()
            }
            // --token-file names another file than the command's --token: neither is signed.
            Scene::OtherFile => {
                let path = s.dir.join(format!("other-{i}.json"));
                write_token_file(&path, 3);
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
        // A single-command login finds these before the CLI starts (no password typed for
        // nothing); typed at the CLI's prompt, they are found at the token prompt.
        let typed = matches!(scene, Scene::NoAgent | Scene::EmptyAgent | Scene::TwoKeys);
        if typed {
            let typed_before = s.cluster.passwords().len();
            let out = s
                .mfa_login(&s.cluster, &options, &login_args(&token))
                .env("MFA_AUTH_SOCK", &socket)
                .stdin(std::process::Stdio::null())
                .output()
                .expect("run mfa-login");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(125), "{err}");
            assert!(
                err.starts_with("mfa-login: error: ") && err.contains(expected),
                "{err}"
            );
            assert!(
                err.contains("the CLI was not started: no password asked"),
                "{err}"
            );
            assert_eq!(s.cluster.passwords().len(), typed_before, "{err}");
        }
        let sim_args = if typed {
            vec!["interactive"]
        } else {
            login_args(&token).to_vec()
        };
        let mut command = s.mfa_login(&s.cluster, &options, &sim_args);
        command
            .env("MFA_AUTH_SOCK", &socket)
            .env("CLOUDHSM_SIM_TOKEN_FAULT", &fault);
        let mut pty = Pty::spawn(command);
        if typed {
            pty.expect("aws-cloudhsm > ");
            pty.send_line(&login_args(&token).join(" "));
        }
        pty.expect(PASSWORD_PROMPT);
        if typed {
            // Said at the password prompt, before the password is typed.
            pty.expect("mfa-login: warning: ");
            pty.expect(expected);
            pty.expect("fix it before you type the password, or press ^C");
        }
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
        // The hint on the next line says how to finish by hand, with the real file.
        pty.expect("\n");
        pty.expect("hint: ");
        let hint = pty.expect("\n");
        let file = match &own_file {
            Some((path, _)) => fs::canonicalize(path).expect("canonical path"),
            None => s.dir.join(&token),
        };
        let finish = match scene {
            Scene::TokenFile(_) => "press ^C and start the login again".to_owned(),
            Scene::OtherFile => format!("mfa-sign {token}) and press Enter"),
            _ => format!(" {}, and press Enter", file.display()),
        };
        assert!(
            hint.contains(&finish),
            "{expected}: the hint says {finish:?}: {hint}"
        );

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
        if typed {
            pty.expect("aws-cloudhsm > ");
            pty.send_line("quit");
            pty.wait();
        } else {
            assert_eq!(pty.wait(), Exit::Code(1));
        }
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
    // The script's first word, a no-op, names the login: mfa-login answers by command.
    let script = ": login --username u --role admin mfa-token-sign; printf '%s ' \"$P\"; read a; \
                  printf '%s ' \"$P\"; read b; echo \"answers:[$a][$b]\"";
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
fn terminal_settings_are_restored_after_success_failure_sigterm_and_sighup() {
    let s = Setup::new();
    let login = login_args("stty.json");
    // The failure is found only at the token prompt: a token file that is not one.
    let bad = s.dir.write("not-tokens.json", "{not json");
    let bad = format!("--token-file={}", bad.display());
    let cases: [(&str, Vec<&str>, &str); 4] = [
        ("success", s.password_option().to_vec(), "status=0"),
        ("failure", vec![bad.as_str()], "status=1"),
        ("sigterm", vec![], "status=143"),
        ("sighup", vec![], "status=129"),
    ];
    for (name, options, status) in cases {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg("stty -g > before; \"$@\"; echo \"status=$?\"; stty -g > after")
            .arg("sh")
            .current_dir(s.dir.path());
        let signal = match name {
            "sigterm" => Some(nix::sys::signal::Signal::SIGTERM),
            "sighup" => Some(nix::sys::signal::Signal::SIGHUP),
            _ => None,
        };
        let inner = if signal.is_some() {
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
        let mut pty = Pty::spawn(command);
        match name {
            "failure" => {
                pty.expect(PASSWORD_PROMPT);
                pty.send_line(PASSWORD);
                pty.expect("mfa-login: error: ");
                pty.send_line("");
            }
            // mfa-login passes the signal on to COMMAND and exits with its status.
            "sigterm" | "sighup" => {
                pty.expect("ready");
                let pid: i32 = s.dir.read_string("mfa.pid").trim().parse().expect("pid");
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
                    .expect("signal mfa-login");
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

#[test]
fn a_piped_line_is_never_typed_into_a_password_prompt() {
    // Bug: with stdin a pipe, `echo PW | mfa-login -- cli login ...` (and a script's next line,
    // `quit`, where the script had no --password-file) was typed into the password prompt: a
    // counted failed login when the line is not the password. A password comes from a person
    // at a terminal or from --password-file; mfa-login ends the session instead (125).
    let s = Setup::new();
    let transcript = s.dir.join("debug.txt");
    let debug = format!("--debug={}", transcript.display());
    let script = format!("{}\nquit\n", login_args("t2.json").join(" "));
    let cases = [
        (login_args("t.json").to_vec(), format!("{PASSWORD}\n")),
        (vec!["interactive"], script),
    ];
    for (args, piped) in cases {
        let mut command = s.mfa_login(&s.cluster, &[&debug], &args);
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("run mfa-login");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(piped.as_bytes()).expect("pipe");
        }
        let output = child.wait_with_output().expect("mfa-login");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(125), "{args:?}: {stderr}");
        assert!(
            stderr.contains("nobody can answer the password prompt (piped input is never typed")
                && stderr.contains("--password-file"),
            "{stderr}"
        );
        assert!(!stdout.contains(PASSWORD), "echoed: {stdout}");
    }
    assert!(s.cluster.passwords().is_empty(), "a piped line was typed");
    assert_eq!(s.cluster.user(USER).failed_logins, 0);
    let log = fs::read_to_string(&transcript).expect("transcript");
    assert!(
        !log.contains(PASSWORD),
        "the password is in the transcript: {log}"
    );
}

#[test]
fn an_interactive_login_with_a_locked_agent_is_warned_of_before_the_password() {
    let s = Setup::new();
    let pass = s.dir.write("lock-pass", "lock me\n");
    let out = s
        .agent
        .mfa_add(&["-x", "--passphrase-file", pass.to_str().expect("UTF-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pty = Pty::spawn(s.mfa_login(&s.cluster, &[], &["interactive"]));
    pty.expect("aws-cloudhsm > ");
    pty.send_line(&login_args("locked.json").join(" "));
    pty.expect(PASSWORD_PROMPT);
    pty.expect("mfa-login: warning: mfa-agent is locked: this login's tokens cannot be signed");
    pty.expect("hint: ");
    let hint = pty.expect("\n");
    assert!(hint.contains("mfa-add -X"), "{hint}");
    assert!(s.cluster.passwords().is_empty());
    // Unlocked in another terminal meanwhile, the login is still signed hands-free.
    let out = s
        .agent
        .mfa_add(&["-X", "--passphrase-file", pass.to_str().expect("UTF-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pty.send_line(PASSWORD);
    pty.expect(SUCCESS);
    assert_signed_by(&s.public, &s.dir.join("locked.json"), s.cluster.hsms);
    pty.send_line("quit");
    assert_eq!(pty.wait(), Exit::Code(0));
}
