//! mfa-doctor: it names each thing that stops a login (no agent, a plain ssh-agent, a locked
//! agent, no key, two keys with nothing to choose, no cloudhsm-cli) and exits 0 only when
//! none does.

use std::path::Path;
use std::process::{Command, Output};

use cloudhsm_mfa_tests::harness::agent::{Agent, PlainAgent};
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::genrsa;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

/// `mfa-doctor ARGS` with `agent` as MFA_AUTH_SOCK (none: no agent variable at all) and a
/// `cloudhsm-cli` on PATH (the simulator) when `cli`.
fn doctor(dir: &WorkDir, agent: Option<&Path>, cli: bool, args: &[&str]) -> (bool, String) {
    let path_dir = dir.join("path");
    if cli && !path_dir.join("cloudhsm-cli").exists() {
        std::fs::create_dir_all(&path_dir).expect("mkdir");
        std::os::unix::fs::symlink(bin("cloudhsm-cli-sim"), path_dir.join("cloudhsm-cli"))
            .expect("symlink");
    }
    let path = if cli {
        format!("{}:/usr/bin:/bin", path_dir.display())
    } else {
        "/usr/bin:/bin".to_owned()
    };
    let mut command = Command::new(bin("mfa-doctor"));
    command
        .args(args)
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("SSH_CONNECTION")
        .env("NO_COLOR", "1");
    match agent {
        Some(socket) => command.env("MFA_AUTH_SOCK", socket),
        None => command.env_remove("MFA_AUTH_SOCK"),
    };
    let out: Output = command.output().expect("run mfa-doctor");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.lines().all(|l| ["ok ", "note ", "warning ", "error "]
            .iter()
            .any(|w| l.starts_with(w))),
        "one finding a line, each with its level:\n{text}"
    );
    (out.status.success(), text)
}

fn error_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("error ")).collect()
}

#[test]
fn the_doctor_names_what_stops_a_login_and_passes_when_nothing_does() {
    let dir = WorkDir::new();
    let (ok, text) = doctor(&dir, None, true, &[]);
    assert!(!ok);
    assert_eq!(error_lines(&text).len(), 1, "{text}");
    assert!(text.contains("error   agent: no agent"), "{text}");
    assert!(text.contains("eval \"$(mfa-agent --reuse)\""), "{text}");

    let plain_socket = dir.join("plain.sock");
    let _plain = PlainAgent::start(&plain_socket);
    let (ok, text) = doctor(&dir, Some(&plain_socket), true, &[]);
    assert!(!ok);
    assert!(
        text.contains("not mfa-agent (a plain ssh-agent?)"),
        "{text}"
    );

    let agent = Agent::start(dir.path());
    let (ok, text) = doctor(&dir, Some(agent.socket()), true, &[]);
    assert!(!ok);
    assert!(text.contains(&format!(
        "ok      agent: mfa-agent at {}",
        agent.socket().display()
    )));
    assert!(
        text.contains("error   key: mfa-agent holds no key"),
        "{text}"
    );

    let first = genrsa(dir.path(), "officer1.key", 2048);
    agent.add_key(&first);
    let (ok, text) = doctor(&dir, Some(agent.socket()), true, &[]);
    assert!(
        ok,
        "one key, an agent and the CLI: a login would work\n{text}"
    );
    assert!(error_lines(&text).is_empty(), "{text}");
    assert!(
        text.contains("ok      key: a login signs with SHA256:"),
        "{text}"
    );
    assert!(text.contains("ok      cli: cloudhsm-cli is "), "{text}");

    let (ok, text) = doctor(&dir, Some(agent.socket()), false, &[]);
    assert!(!ok, "no cloudhsm-cli: {text}");
    assert!(
        text.contains("error   cli: cloudhsm-cli: command not found"),
        "{text}"
    );

    let second = genrsa(dir.path(), "officer2.key", 2048);
    agent.add_key(&second);
    let (ok, text) = doctor(&dir, Some(agent.socket()), true, &[]);
    assert!(!ok);
    assert!(
        text.contains("mfa-agent holds 2 keys for CloudHSM tokens and nothing chooses one"),
        "{text}"
    );
    let fingerprint = text
        .lines()
        .find(|l| l.starts_with("note    key:") && l.contains("officer2.key"))
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("officer2's key listed")
        .to_owned();
    let (ok, text) = doctor(&dir, Some(agent.socket()), true, &["--key", &fingerprint]);
    assert!(ok, "--key chooses one: {text}");
    assert!(text.contains(&format!("(--key {fingerprint})")), "{text}");

    let password = dir.write_mode("lock.pw", "lock me\n", 0o600);
    let locked = agent.mfa_add(&["-x", "--passphrase-file", password.to_str().expect("utf-8")]);
    assert!(locked.status.success());
    let (ok, text) = doctor(&dir, Some(agent.socket()), true, &[]);
    assert!(!ok);
    assert!(
        text.contains("is locked: it signs nothing (fix: unlock it: mfa-add -X)"),
        "{text}"
    );
}

#[test]
fn the_doctor_flags_forward_agent_lines_that_forward_nothing_or_another_agent() {
    let dir = WorkDir::new();
    dir.mkdir(".ssh", 0o700);
    dir.write(
        ".ssh/config",
        "Host hsm-client\n  ForwardAgent ${MFA_AUTH_SOCK}\nHost other\n  ForwardAgent yes\n\
         Host bare\n  ForwardAgent $MFA_AUTH_SOCK\n",
    );
    let (_, text) = doctor(&dir, None, true, &[]);
    assert!(
        text.contains("line 2: ForwardAgent ${MFA_AUTH_SOCK}, but MFA_AUTH_SOCK is not set here"),
        "{text}"
    );
    assert!(
        text.contains("line 4: ForwardAgent yes forwards SSH_AUTH_SOCK's agent, not mfa-agent"),
        "{text}"
    );
    assert!(
        text.contains(
            "line 6: ForwardAgent $MFA_AUTH_SOCK is read as a path, not the variable \
                       (fix: write it with braces: ForwardAgent ${MFA_AUTH_SOCK})"
        ),
        "{text}"
    );
    let agent = Agent::start(dir.path());
    let (_, text) = doctor(&dir, Some(agent.socket()), true, &[]);
    assert!(!text.contains("is not set here"), "{text}");
}

#[test]
fn bash_completes_key_with_the_fingerprints_of_the_agents_keys() {
    let dir = WorkDir::new();
    let agent = Agent::start(dir.path());
    let key = genrsa(dir.path(), "officer1.key", 2048);
    agent.add_key(&key);
    let listed = String::from_utf8_lossy(&agent.mfa_add(&["-l"]).stdout).into_owned();
    let fingerprint = listed
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_owned();
    let completions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/completions/bash");
    let bins = bin("mfa-add");
    for (program, function) in [("mfa-sign", "_mfa__sign"), ("mfa-login", "_mfa__login")] {
        let script = format!(
            "source '{}'; COMP_WORDS=({program} --key SHA256:); COMP_CWORD=2; \
             {function} {program} SHA256: --key; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            completions.join(program).display()
        );
        let out = Command::new("bash")
            .args(["-c", &script])
            .env(
                "PATH",
                format!(
                    "{}:/usr/bin:/bin",
                    bins.parent().expect("bin dir").display()
                ),
            )
            .env("MFA_AUTH_SOCK", agent.socket())
            .output()
            .expect("bash");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            fingerprint,
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
