//! PKCS#11 tokens as robust as OpenSSH's (issue 23), against SoftHSM2: two tokens with
//! different PINs and `--token`, keys named `TOKEN/KEY` and chosen with `--key`, a key made on
//! the token after the first load seen after `-e`/`-s` through a fresh helper process, a
//! helper killed with SIGKILL costing only its own keys, `--id` matching an id stored as text,
//! the PIN through askpass, and hints that name the real cause.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use base64::Engine;
use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{genrsa, random_token, sign_token_openssl};
use cloudhsm_mfa_tests::harness::softhsm::{SoftHsm, MODULE, PIN};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use proto::message::Response;

use super::{identities, path_str, stderr, token_sign, DEADLINE};
use crate::login::assert_signed_by;

/// The second token's PIN: not the first token's.
const PIN2: &str = "975310";

/// A SoftHSM2 configuration with two tokens (`officer`, PIN [`PIN`], and `backup`, PIN
/// [`PIN2`]; labels made unique per test), one key on each, and an agent that sees them.
struct TwoTokens {
    dir: WorkDir,
    hsm: SoftHsm,
    officer: String,
    backup: String,
    /// The key file of `officer/officer1` and its public key read from the token.
    key: PathBuf,
    public: PathBuf,
    pin: PathBuf,
    pin2: PathBuf,
    agent: Agent,
}

impl TwoTokens {
    fn new(agent_args: &[&str]) -> TwoTokens {
        let dir = WorkDir::new();
        let hsm = SoftHsm::new(dir.path());
        let officer = hsm.label.clone();
        let backup = format!("{officer}-b");
        hsm.add_token(&backup, PIN2);
        let key = genrsa(dir.path(), "officer1.key", 2048);
        let public = hsm.import(&key, "officer1", "a1", &dir.join("officer1.pub"));
        let backup_key = genrsa(dir.path(), "backup1.key", 2048);
        hsm.import_into(
            &backup,
            PIN2,
            &backup_key,
            "backup1",
            "b1",
            &dir.join("backup1.pub"),
        );
        let pin = dir.write("pin", format!("{PIN}\n"));
        let pin2 = dir.write("pin2", format!("{PIN2}\n"));
        let (name, value) = hsm.env();
        let agent = Agent::start_with_env(dir.path(), agent_args, &[(name, value.as_os_str())]);
        TwoTokens {
            dir,
            hsm,
            officer,
            backup,
            key,
            public,
            pin,
            pin2,
            agent,
        }
    }

    /// A client program with the agent's and the tokens' variables, no terminal and no
    /// askpass.
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(self.agent.env())
            .env(self.hsm.env().0, self.hsm.env().1)
            .env_remove("MFA_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
        command
    }

    fn mfa_add(&self, args: &[&str]) -> Output {
        self.command(&bin("mfa-add"), args)
            .output()
            .expect("run mfa-add")
    }

    /// `mfa-add -s MODULE --token TOKEN --pin-file PIN`.
    fn load_token(&self, token: &str, pin: &Path) -> Output {
        self.mfa_add(&["-s", MODULE, "--token", token, "--pin-file", path_str(pin)])
    }

    fn comments(&self) -> Vec<String> {
        let mut comments: Vec<String> = identities(&self.agent)
            .into_iter()
            .map(|i| i.comment)
            .collect();
        comments.sort();
        comments
    }

    /// A fresh token file of three tokens in the test's private folder.
    fn token_file(&self, name: &str) -> PathBuf {
        let b64 = base64::engine::general_purpose::STANDARD;
        let tokens: Vec<String> = (0..3)
            .map(|_| {
                format!(
                    r#"{{"unsigned": "{}", "signed": ""}}"#,
                    b64.encode(random_token())
                )
            })
            .collect();
        self.dir.write(
            name,
            format!(r#"{{"version": "2.0", "tokens": [{}]}}"#, tokens.join(", ")),
        )
    }

    fn mfa_sign(&self, args: &[&str]) -> Output {
        self.command(&bin("mfa-sign"), args)
            .output()
            .expect("run mfa-sign")
    }
}

/// The agent's PKCS#11 helper processes: its children whose command line names the flag, and
/// any child left unreaped (a zombie has no command line).
fn helpers_of(agent: &Agent) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The parent pid is the second field after the command name in parentheses.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let mut fields = after.split_whitespace();
        let zombie = fields.next() == Some("Z");
        let ppid = fields.next().and_then(|p| p.parse().ok());
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(agent.pid())
            && (zombie || String::from_utf8_lossy(&cmdline).contains("--pkcs11-helper"))
        {
            pids.push(pid);
        }
    }
    pids
}

/// Waits until the agent's helpers are `wanted` (by count).
fn wait_for_helpers(agent: &Agent, count: usize) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let pids = helpers_of(agent);
        if pids.len() == count {
            return pids;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the agent has helpers {pids:?}, not {count}\n{}",
            agent.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn token_picks_one_of_two_tokens_with_different_pins_and_the_other_is_not_tried() {
    let s = TwoTokens::new(&[]);
    let out = s.load_token(&s.backup, &s.pin2);
    assert!(out.status.success(), "mfa-add --token: {}", stderr(&out));
    let said = stderr(&out);
    assert!(!said.contains("the PIN goes to"), "{said}");
    assert!(
        said.contains(&format!("(1 key: {}/backup1)", s.backup)),
        "the count and names are what the agent loaded: {said}"
    );
    assert_eq!(s.comments(), [format!("{}/backup1", s.backup)]);
    // The officer token was never sent the backup token's PIN.
    assert!(!s.hsm.failed_logins_counted(&s.officer));
    assert!(!s.hsm.failed_logins_counted(&s.backup));

    // Without --token, the officer PIN opens the officer token; the backup token refuses it
    // once, is skipped and named, and the agent is asked for the officer token only.
    let out = s.mfa_add(&["-s", MODULE, "--pin-file", path_str(&s.pin)]);
    assert!(out.status.success(), "mfa-add -s: {}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!("Skipped token {}", s.backup)),
        "{said}"
    );
    assert!(
        said.contains("Note: the PIN goes to 2 tokens (")
            && said.contains("--token LABEL sends it to one"),
        "what a PIN sent to two tokens costs is said first: {said}"
    );
    assert!(
        said.contains(&format!("(1 key: {}/officer1)", s.officer)),
        "{said}"
    );
    assert_eq!(
        s.comments(),
        [
            format!("{}/backup1", s.backup),
            format!("{}/officer1", s.officer)
        ]
    );
    assert!(s.hsm.failed_logins_counted(&s.backup), "tried once there");
    assert!(!s.hsm.failed_logins_counted(&s.officer));

    // --key takes the TOKEN/KEY comment, or the key label alone.
    for key in [format!("{}/officer1", s.officer), "officer1".to_owned()] {
        let file = s.token_file("login.json");
        let out = s.mfa_sign(&["--key", &key, path_str(&file)]);
        assert!(
            out.status.success(),
            "mfa-sign --key {key}: {}",
            stderr(&out)
        );
        assert_signed_by(&s.public, &file, 3);
    }
    // A wrong --token is named, with the tokens there are.
    let out = s.load_token("nope", &s.pin);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no token labelled nope") && stderr(&out).contains(&s.officer),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_key_made_after_the_first_load_shows_after_e_and_s_through_a_fresh_helper() {
    let s = TwoTokens::new(&[]);
    let pin = path_str(&s.pin);
    let out = s.mfa_add(&["-s", MODULE, "--token", &s.officer, "--pin-file", pin]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = wait_for_helpers(&s.agent, 1);
    assert_eq!(s.comments(), [format!("{}/officer1", s.officer)]);

    // A second key on the token, without a label: it is named by its id.
    let rotated = genrsa(s.dir.path(), "officer2.key", 2048);
    s.hsm
        .import(&rotated, "", "c2", &s.dir.join("officer2.pub"));
    let out = s.mfa_add(&["-e", MODULE]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for_helpers(&s.agent, 0);
    let out = s.mfa_add(&["-s", MODULE, "--token", &s.officer, "--pin-file", pin]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("(2 keys:"), "{}", stderr(&out));
    let second = wait_for_helpers(&s.agent, 1);
    assert_ne!(first, second, "a fresh helper process");
    assert_eq!(
        s.comments(),
        [
            format!("{}/c2", s.officer),
            format!("{}/officer1", s.officer)
        ]
    );
    let file = s.token_file("rotated.json");
    let out = s.mfa_sign(&["--key", "c2", path_str(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_signed_by(&s.dir.join("officer2.pub"), &file, 3);
    // -D ends the helper too.
    let out = s.mfa_add(&["-D"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for_helpers(&s.agent, 0);
}

#[test]
fn a_killed_helper_costs_only_its_keys_and_says_the_token_is_gone() {
    let s = TwoTokens::new(&[]);
    let out = s.load_token(&s.officer, &s.pin);
    assert!(out.status.success(), "{}", stderr(&out));
    let software = genrsa(s.dir.path(), "software.key", 2048);
    s.agent.add_key(&software);
    let [helper] = wait_for_helpers(&s.agent, 1)[..] else {
        panic!("one helper");
    };
    let killed = Command::new("kill")
        .args(["-9", &helper.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_for_helpers(&s.agent, 0);
    let ended = format!("pkcs11 helper {helper} (");
    let log = s.agent.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains(&ended) && l.contains("): ended")),
        "the agent logs that its helper ended:\n{log}"
    );

    // The agent is up and its software key signs.
    let ids = identities(&s.agent);
    assert_eq!(ids.len(), 2);
    let soft = ids
        .iter()
        .find(|i| !i.comment.starts_with(&format!("{}/", s.officer)))
        .expect("the software key");
    let token = random_token();
    assert_eq!(
        token_sign(s.agent.socket(), &soft.key_blob, &[token]),
        Response::TokenSign(vec![sign_token_openssl(&software, &token)])
    );
    // The token key fails, and the hint says the token is gone and how to reload it.
    let file = s.token_file("after-kill.json");
    let out = s.mfa_sign(&["--key", "officer1", path_str(&file)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("helper"), "{said}");
    let real = fs::canonicalize(MODULE).expect("real path");
    let reload = format!("mfa-add -e {0}; mfa-add -s {0}", real.display());
    assert!(
        said.contains("the token is gone") && said.contains(&reload),
        "{said}"
    );
    assert!(
        !said.contains("locked") && !said.contains("confirm"),
        "{said}"
    );

    // -e and -s bring it back with a new helper.
    assert!(s.mfa_add(&["-e", MODULE]).status.success());
    let out = s.load_token(&s.officer, &s.pin);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = s.token_file("reloaded.json");
    let out = s.mfa_sign(&["--key", "officer1", path_str(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_signed_by(&s.public, &file, 3);
    assert!(s.key.exists());
}

#[test]
fn id_01_matches_an_id_stored_as_the_text_01_and_a_helper_ends_with_its_keys() {
    let s = TwoTokens::new(&[]);
    let text_id = genrsa(s.dir.path(), "text-id.key", 2048);
    // "01" as ASCII is the bytes 0x30 0x31.
    s.hsm
        .import(&text_id, "text-id", "3031", &s.dir.join("text-id.pub"));
    let out = s.mfa_add(&["-s", MODULE, "--id", "01", "--pin-file", path_str(&s.pin)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.comments(), [format!("{}/text-id", s.officer)]);
    wait_for_helpers(&s.agent, 1);
    assert!(s.mfa_add(&["-D"]).status.success());
    wait_for_helpers(&s.agent, 0);

    // The helper ends when the last key of its provider expires.
    let out = s.mfa_add(&[
        "-t",
        "1",
        "-s",
        MODULE,
        "--token",
        &s.officer,
        "--pin-file",
        path_str(&s.pin),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for_helpers(&s.agent, 1);
    wait_for_helpers(&s.agent, 0);
    assert!(identities(&s.agent).is_empty());
}

#[test]
fn the_pin_comes_from_askpass_naming_the_token_and_without_one_the_hint_says_so() {
    let s = TwoTokens::new(&[]);
    let asked = s.dir.join("asked");
    let askpass = s.dir.write_mode(
        "askpin.sh",
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{}'\necho '{PIN}'\n",
            asked.display()
        ),
        0o700,
    );
    let out = s
        .command(&bin("mfa-add"), &["-s", MODULE, "--token", &s.officer])
        .env("SSH_ASKPASS", &askpass)
        .output()
        .expect("mfa-add");
    assert!(out.status.success(), "{}", stderr(&out));
    let prompt = fs::read_to_string(&asked).expect("askpass was asked");
    assert_eq!(prompt, format!("Enter PIN for token {}: ", s.officer));

    // No terminal and no askpass: the hint names them, not --passphrase-file.
    let out = s.mfa_add(&["-s", MODULE, "--token", &s.backup]);
    assert_eq!(out.status.code(), Some(1));
    let said = stderr(&out);
    assert!(
        said.contains("MFA_ASKPASS") && said.contains("SSH_ASKPASS") && said.contains("--pin-file"),
        "{said}"
    );
    assert!(!said.contains("--passphrase-file"), "{said}");
}

#[test]
fn hints_name_the_allowlist_only_for_the_allowlist_and_the_agents_environment_otherwise() {
    let s = TwoTokens::new(&["-P", "/opt/only-here/*"]);
    let out = s.mfa_add(&[
        "-s",
        MODULE,
        "--pin-file",
        path_str(&s.pin),
        "--token",
        &s.officer,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("must match mfa-agent -P"),
        "{}",
        stderr(&out)
    );

    // A file that is no library at all: said at once, no PIN asked, the agent not bothered.
    let not_a_library = s.dir.write("not-a-library.so", "#!/bin/sh\n");
    let out = s.mfa_add(&["-s", path_str(&not_a_library)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a PKCS#11 library") && !stderr(&out).contains("PIN"),
        "{}",
        stderr(&out)
    );

    // An agent started without the user's SOFTHSM2_CONF (as a systemd-started one is).
    let dir = WorkDir::new();
    let bare = Agent::start(dir.path());
    let out = Command::new(bin("mfa-add"))
        .args([
            "-s",
            MODULE,
            "--token",
            &s.officer,
            "--pin-file",
            path_str(&s.pin),
        ])
        .envs(bare.env())
        .env(s.hsm.env().0, s.hsm.env().1)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .expect("mfa-add");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains(
            "the agent loads providers with its own environment: start it with SOFTHSM2_CONF="
        ),
        "{said}"
    );
    assert!(
        !said.contains("mfa-agent -P") && !said.contains("check the PIN"),
        "{said}"
    );
    // A wrong PIN: "check the PIN", and nothing about -P.
    let wrong = s.dir.write("wrong", "000000\n");
    let out = s.load_token(&s.officer, &wrong);
    assert!(stderr(&out).contains("check the PIN"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("mfa-agent -P"), "{}", stderr(&out));
}
