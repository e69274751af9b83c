//! Our own tests of the behaviours OpenSSH's regress agent scripts check (issue 24,
//! docs/conformance.md) that no other e2e test covered: logins onward through a forwarded
//! mfa-agent, `ssh-add -D`/`-d -` and `ForwardAgent=PATH`, user certificates in
//! authorized_keys, `ssh-add -h` per host, per user and along a chain of hops, `ssh-add -s` of
//! a token with an EC key beside the RSA one, and sshd's `HostKeyAgent` with host keys and
//! host certificates. Judged by Debian's ssh, sshd, ssh-add and ssh-keygen on 127.0.0.1; each
//! test skips, saying why, where sshd cannot run.

mod certificates;
mod hops;
mod hostkeys;
mod restrict;
mod token;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cloudhsm_mfa_tests::harness::openssl::genrsa;
use cloudhsm_mfa_tests::harness::output::{assert_ok, assert_refused, text};
use cloudhsm_mfa_tests::harness::skip;
use cloudhsm_mfa_tests::harness::sshd::{quote, Sshd};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

/// A sshd on 127.0.0.1 with its files in `DIR/NAME/sshd/`, or None after printing why the
/// test is skipped. `extra` is given the sshd folder once its host keys exist, may change
/// them, and returns lines for sshd_config.
fn host(
    dir: &WorkDir,
    name: &str,
    extra: impl Fn(&Path) -> Result<String, String>,
) -> Option<Sshd> {
    match Sshd::start_with(&dir.mkdir(name, 0o700), extra) {
        Ok(sshd) => Some(sshd),
        Err(why) => {
            skip(&format!("sshd cannot run here: {why}"));
            None
        }
    }
}

/// A plain sshd (see [`host`]).
fn plain_host(dir: &WorkDir, name: &str) -> Option<Sshd> {
    host(dir, name, |_| Ok(String::new()))
}

/// An RSA user key `dir/NAME` (2048 bits) and its OpenSSH public key `dir/NAME.pub`.
struct UserKey {
    private: PathBuf,
    public: PathBuf,
}

impl UserKey {
    fn new(dir: &Path, name: &str) -> UserKey {
        let private = genrsa(dir, name, 2048);
        let out = Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&private)
            .output()
            .expect("ssh-keygen -y");
        assert_ok(&out, "ssh-keygen -y");
        let public = dir.join(format!("{name}.pub"));
        fs::write(&public, &out.stdout).expect("write the public key");
        UserKey { private, public }
    }

    /// The public key line, without its newline.
    fn line(&self) -> String {
        fs::read_to_string(&self.public)
            .expect("read the public key")
            .trim_end()
            .to_owned()
    }

    /// `ssh-keygen -lf`'s `SHA256:...`, as `ssh-add -l` lists the key.
    fn fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&self.public)
            .output()
            .expect("ssh-keygen -lf");
        text(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("a fingerprint")
            .to_owned()
    }

    /// `-o IdentityFile=KEY.pub`: ssh then uses the agent's copy of the key.
    fn identity(&self) -> String {
        format!("IdentityFile={}", self.public.display())
    }
}

/// Replaces the sshd's authorized_keys with these lines.
fn authorize(sshd: &Sshd, lines: &[String]) {
    let path = sshd.host_key_pub("rsa").with_file_name("authorized_keys");
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).expect("write authorized_keys");
}

/// `ssh` to this sshd (the harness's options) with `SSH_AUTH_SOCK` set to `agent` and the
/// user key `key` offered from it; add options and the remote command.
fn ssh_with(sshd: &Sshd, agent: &Path, key: &UserKey) -> Command {
    let mut ssh = sshd.ssh();
    ssh.env("SSH_AUTH_SOCK", agent)
        .args(["-o", &key.identity()]);
    ssh
}

/// Logs in to `sshd` as root with `key` through `agent`, runs `true`.
fn login(sshd: &Sshd, agent: &Path, key: &UserKey, extra: &[&str]) -> Output {
    ssh_with(sshd, agent, key)
        .args(extra)
        .args(["-l", "root", "127.0.0.1", "true"])
        .output()
        .expect("run ssh")
}

/// One shell line for the far side that runs ssh to `sshd` with the harness's options (the
/// agent is the far side's own `SSH_AUTH_SOCK`), `key` offered from the agent, `options`, and
/// `remote`, then prints `exit=STATUS of NAME` so a caller sees how far a chain got.
fn onward(sshd: &Sshd, name: &str, key: &UserKey, options: &[&str], remote: &str) -> String {
    let template = sshd.ssh();
    let mut words = vec!["ssh".to_owned()];
    words.extend(template.get_args().map(quote));
    let identity = key.identity();
    words.push("-o".to_owned());
    words.push(quote(OsStr::new(&identity)));
    words.extend(options.iter().map(|o| quote(OsStr::new(o))));
    words.push("127.0.0.1".to_owned());
    words.push(quote(OsStr::new(remote)));
    format!("{}; echo \"exit=$? of {name}\"", words.join(" "))
}

/// `ssh-add ARGS` against `agent`.
fn ssh_add(agent: &Path, args: &[&OsStr]) -> Output {
    Command::new("ssh-add")
        .args(args)
        .env("SSH_AUTH_SOCK", agent)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-add")
}

/// `ssh-add -l`'s fingerprints (none when it exits 1).
fn listed(agent: &Path) -> Vec<String> {
    let out = ssh_add(agent, &["-l".as_ref()]);
    fingerprints(&text(&out.stdout))
}

/// The `SHA256:...` words of `ssh-add -l` output.
fn fingerprints(output: &str) -> Vec<String> {
    output
        .split_whitespace()
        .filter(|w| w.starts_with("SHA256:"))
        .map(str::to_owned)
        .collect()
}

/// A key file made by ssh-keygen (`-t KIND`, no passphrase): CA keys and other keys that
/// never enter the agent.
fn keygen(path: &Path, kind: &str) -> PathBuf {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "conformance", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert_ok(&out, "ssh-keygen");
    path.with_extension("pub")
}
