//! mfa-bench: measures what a user waits for. Three figures, written into docs/speed.md:
//! the time from the signed-token prompt's last byte to the Enter that mfa-login sends
//! (1, 3 and 7 tokens) beside the time OpenSSL itself needs for that many signatures, and
//! for those signatures plus the token file's rewrite; token signatures per second through
//! mfa-agent beside `openssl speed rsa2048` (one core, for one token per request; `-multi`
//! on every core, for 7 tokens signed in parallel), with the client waiting for each reply
//! and with one request sent ahead, all measured in the same run, with their ratios; and
//! 64 MiB of CLI-like output through `mfa-login -- cat FILE` beside `script -qec 'cat FILE'
//! /dev/null` (the same PTY passthrough, from util-linux), alternating in one run, with the
//! ratio of their times.
//!
//! Run: `cargo build --release --workspace --bins && target/release/mfa-bench`.
//! `mfa-bench fake-cli login ... --token F --count N --out R` is the stand-in CLI it drives.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proto::message::{Request, Response, TokenSignRequest};

const SIGNED_TOKEN_PROMPT: &str =
    "Enter signed token file path (press enter if same as the unsigned token file): ";
const RUNS: usize = 30;
/// How long the stand-in CLI runs before its token prompt (see `fake_cli`).
const PROMPT_AFTER: Duration = Duration::from_millis(150);
const SIGN_SECONDS: u64 = 3;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("fake-cli") {
        return fake_cli(&args[1..]);
    }
    bench()
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} is missing: run cargo build --release --workspace --bins",
            path.display()
        );
    }
    Ok(path)
}

/// Stands in for cloudhsm-cli: asks for the password, then writes N fresh tokens, prints the
/// token prompt, and times how long each answer takes to arrive (written to `--out` as
/// "PASSWORD_US TOKEN_US").
///
/// It waits `PROMPT_AFTER` before each prompt, as the real CLI does: it asks for the password
/// after connecting to the cluster and for the token after the HSMs checked the password, so
/// mfa-login's own start (threads, signal handlers, the terminal) is not part of what the
/// user waits for, and the machine is as idle as it would be (without the wait the first
/// milliseconds of mfa-login's start were counted). The password prompt's answer is
/// mfa-login's reaction through the PTY alone, without the agent: the floor for the token's.
fn fake_cli(args: &[String]) -> Result<()> {
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .with_context(|| format!("fake-cli needs {name}"))
    };
    let token_file = flag("--token")?;
    let count: usize = flag("--count")?.parse()?;
    let out = flag("--out")?;
    let tokens: Vec<serde_json::Value> = (0..count)
        .map(|_| {
            let token: [u8; 32] = rand::random();
            serde_json::json!({"unsigned": STANDARD.encode(token), "signed": ""})
        })
        .collect();
    let doc = serde_json::json!({"version": "2.0", "tokens": tokens});

    std::thread::sleep(PROMPT_AFTER);
    let password = answer_time("Enter password:")?;
    std::thread::sleep(PROMPT_AFTER);
    std::fs::write(token_file, serde_json::to_string_pretty(&doc)?)?;
    let token = answer_time(SIGNED_TOKEN_PROMPT)?;
    let file = proto::tokenfile::TokenFile::parse(&std::fs::read(token_file)?)?;
    if file.is_unsigned() {
        bail!("Enter arrived but the token file was not signed");
    }
    std::fs::write(
        out,
        format!("{} {}", password.as_micros(), token.as_micros()),
    )?;
    Ok(())
}

/// Prints `prompt` and reads to the end of the answer (Enter): the time it took.
fn answer_time(prompt: &str) -> Result<Duration> {
    let mut stdout = std::io::stdout();
    stdout.write_all(prompt.as_bytes())?;
    stdout.flush()?;
    let start = Instant::now();
    let mut byte = [0u8; 1];
    loop {
        if std::io::stdin().read(&mut byte)? == 0 || byte[0] == b'\n' || byte[0] == b'\r' {
            return Ok(start.elapsed());
        }
    }
}

struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_agent(dir: &Path) -> Result<Agent> {
    let socket = dir.join("agent.sock");
    let child = Command::new(sibling("mfa-agent")?)
        .args(["-D", "-a"])
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        if Instant::now() > deadline {
            bail!("mfa-agent did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Agent { child, socket })
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn bench() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("bench.key");
    run(Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .stderr(Stdio::null()))?;
    let agent = start_agent(dir.path())?;
    run(Command::new(sibling("mfa-add")?)
        .arg(&key)
        .env("MFA_AUTH_SOCK", &agent.socket))?;

    println!("machine: {} cores; {}", num_cores(), cpu_model());
    // OpenSSL's own rate first, in the same run, as the yardstick for both figures.
    let openssl_rate = openssl_speed(1)?;
    let openssl_ms = |count: usize| count as f64 * 1000.0 / openssl_rate;
    println!();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "bench-password\n")?;
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))?;
    println!("prompt's last byte -> Enter sent by mfa-login ({RUNS} runs each), beside the time");
    println!("OpenSSL itself needs for that many signatures on one core: hot (1 / openssl speed's");
    println!(
        "sign/s each) and, like the prompt, after {} ms idle (in this process, median); and",
        PROMPT_AFTER.as_millis()
    );
    println!("those signatures plus the token file's rewrite (temporary file, rename; mfa-login");
    println!("does not fsync the single-use file, PRODUCT.md's write)");
    println!(
        "tokens  median    p95       max       openssl hot  after idle  - idle    \
         +rewrite  - both"
    );
    let pem = std::fs::read(&key)?;
    let mut password_micros = Vec::new();
    for count in [1usize, 3, 7] {
        let mut micros = Vec::with_capacity(RUNS);
        for i in 0..RUNS {
            let token = dir.path().join(format!("t{count}-{i}.json"));
            let out = dir.path().join(format!("r{count}-{i}"));
            let status = Command::new(sibling("mfa-login")?)
                .arg("--password-file")
                .arg(&password_file)
                .arg("--")
                .arg(std::env::current_exe()?)
                // Arguments of a login, so mfa-login knows the prompts belong to one.
                .args([
                    "fake-cli",
                    "login",
                    "--username",
                    "bench",
                    "--role",
                    "admin",
                ])
                .args(["mfa-token-sign", "--token"])
                .arg(&token)
                .args(["--count", &count.to_string(), "--out"])
                .arg(&out)
                .env("MFA_AUTH_SOCK", &agent.socket)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()?;
            if !status.success() {
                bail!("mfa-login run failed: {status}");
            }
            let times = std::fs::read_to_string(&out)?;
            let mut times = times.split_whitespace().map(str::parse::<u64>);
            password_micros.push(times.next().context("no password time")??);
            micros.push(times.next().context("no token time")??);
        }
        let (mut idle, mut rewritten) = openssl_after_idle(&pem, count, dir.path())?;
        let idle = quantiles(&mut idle)(0.5);
        let rewritten = quantiles(&mut rewritten)(0.5);
        let at = quantiles(&mut micros);
        println!(
            "{count:>6}  {:>5.1} ms  {:>5.1} ms  {:>5.1} ms  {:>8.2} ms  {:>7.2} ms  \
             {:>+5.2} ms  {:>5.2} ms  {:>+5.2} ms",
            at(0.5),
            at(0.95),
            at(1.0),
            openssl_ms(count),
            idle,
            at(0.5) - idle,
            rewritten,
            at(0.5) - rewritten
        );
    }
    let at = quantiles(&mut password_micros);
    println!(
        "the password prompt of the same runs (--password-file; no agent, no signing):\n\
         {:>14.1} ms  {:>6.1} ms  {:>6.1} ms  (mfa-login's own answer through the PTY)",
        at(0.5),
        at(0.95),
        at(1.0)
    );

    println!();
    // Each yardstick is measured next to the figures it judges: this VM's speed drifts by a
    // few percent from minute to minute.
    let mut signing = Signing::connect(&agent.socket)?;
    let before = openssl_speed(1)?;
    let (one_waiting, one_ahead) = (signing.rate(1, 1)?, signing.rate(1, 2)?);
    let after = openssl_speed(1)?;
    let one_core = (before + after) / 2.0;
    let cores = num_cores();
    let all_cores = openssl_speed(cores)?;
    let (seven_waiting, seven_ahead) = (signing.rate(7, 1)?, signing.rate(7, 2)?);
    println!("token signatures per second through mfa-agent (RSA-2048, one connection), the");
    println!("client waiting for each reply / sending the next request before reading a reply:");
    println!(
        "  1 token per request:  waiting {one_waiting:>6.0}/s ({:.2}x), one ahead \
         {one_ahead:>6.0}/s ({:.2}x openssl speed, one core)",
        one_waiting / one_core,
        one_ahead / one_core
    );
    println!(
        "  7 tokens per request: waiting {seven_waiting:>6.0}/s ({:.2}x), one ahead \
         {seven_ahead:>6.0}/s ({:.2}x openssl speed -multi {cores})",
        seven_waiting / all_cores,
        seven_ahead / all_cores
    );
    println!(
        "openssl speed rsa2048: one core {before:.0} sign/s before, {after:.0} after (the \
         ratios take their mean); -multi {cores}: {all_cores:.0} sign/s"
    );

    println!();
    pty_throughput(dir.path())
}

/// How much output the PTY benchmark sends through each.
const PTY_BYTES: usize = 64 << 20;
/// Alternating runs of each.
const PTY_RUNS: usize = 5;

/// 64 MiB through `mfa-login -- cat FILE` and through `script -qec 'cat FILE' /dev/null`,
/// alternating, each read to its end from a pipe: the median and best wall times and their
/// ratios. The file looks like what the CLI prints (a long `key list`: JSON with numbers,
/// colons and indentation), which keeps the prompt matcher's result-code check busy.
fn pty_throughput(dir: &Path) -> Result<()> {
    let file = dir.join("output.json");
    std::fs::write(&file, cli_like_output(PTY_BYTES))?;
    let script_line = format!("cat '{}'", file.display());
    if Command::new("script").arg("--version").output().is_err() {
        println!("PTY passthrough: skipped, util-linux script is not installed");
        return Ok(());
    }
    let mut login = Command::new(sibling("mfa-login")?);
    login.arg("--").arg("cat").arg(&file);
    let mut script = Command::new("script");
    script.args(["-qec", &script_line, "/dev/null"]);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..PTY_RUNS {
        let (elapsed, ours_bytes) = time_output(&mut login)?;
        ours.push(elapsed);
        let (elapsed, their_bytes) = time_output(&mut script)?;
        theirs.push(elapsed);
        if ours_bytes != their_bytes || ours_bytes < PTY_BYTES {
            bail!("mfa-login passed {ours_bytes} bytes through, script {their_bytes}");
        }
    }
    ours.sort_unstable_by(f64::total_cmp);
    theirs.sort_unstable_by(f64::total_cmp);
    let (median, best) = (|t: &[f64]| t[t.len() / 2], |t: &[f64]| t[0]);
    println!("64 MiB of CLI-like output through a PTY ({PTY_RUNS} runs each, alternating):");
    println!("                    median      best");
    println!(
        "  mfa-login -- cat  {:>6.2} s  {:>6.2} s",
        median(&ours),
        best(&ours)
    );
    println!(
        "  script -qec cat   {:>6.2} s  {:>6.2} s",
        median(&theirs),
        best(&theirs)
    );
    println!(
        "  ratio             {:>6.2}x   {:>6.2}x  (mfa-login / script)",
        median(&ours) / median(&theirs),
        best(&ours) / best(&theirs)
    );
    Ok(())
}

/// Runs `cmd` with stdin empty, reads its stdout to the end; the wall time in seconds and
/// the bytes read.
fn time_output(cmd: &mut Command) -> Result<(f64, usize)> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        match stdout.read(&mut buf)? {
            0 => break,
            n => total += n,
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok((start.elapsed().as_secs_f64(), total))
}

/// `len` bytes shaped like `key list` output: pretty-printed JSON, one key after another.
fn cli_like_output(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 1024);
    let mut i: u64 = 0;
    while out.len() < len {
        let key = format!(
            "      {{\n        \"key-reference\": \"0x{:016x}\",\n        \"key-info\": {{\n          \
             \"key-owners\": [{{\"username\": \"crypto_user{}\", \"key-coverage\": \"full\"}}],\n          \
             \"shared-users\": [],\n          \"key-quorum-values\": {{\"manage-key-quorum-value\": 0, \
             \"use-key-quorum-value\": {}}},\n          \"cluster-coverage\": \"full\"\n        }},\n        \
             \"attributes\": {{\"key-type\": \"rsa\", \"label\": \"key-{i}\", \"modulus-size-bits\": 2048, \
             \"public-exponent\": \"0x010001\", \"modulus\": \"0x{:032x}{:032x}\"}}\n      }},\n",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            i % 7,
            i % 3,
            u128::from(i).wrapping_mul(0x2545_f491_4f6c_dd1d_9e37_79b9_7f4a_7c15),
            u128::from(!i).wrapping_mul(0x9e37_79b9_7f4a_7c15_2545_f491_4f6c_dd1d),
        );
        out.extend_from_slice(key.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// One connection to the agent, and the key it signs with.
struct Signing {
    stream: UnixStream,
    key_blob: Vec<u8>,
}

impl Signing {
    fn connect(socket: &Path) -> Result<Signing> {
        let mut stream = UnixStream::connect(socket)?;
        let Response::Identities(ids) =
            proto::client::call(&mut stream, &Request::RequestIdentities)?
        else {
            bail!("agent did not list identities");
        };
        let key_blob = ids.first().context("no key in the agent")?.key_blob.clone();
        Ok(Signing { stream, key_blob })
    }

    /// Token signatures per second, `count` tokens per request, for `SIGN_SECONDS`, with up
    /// to `in_flight` requests sent and not yet answered (1: a client that waits for each
    /// reply before it sends the next request; 2: one request ahead; the agent answers in
    /// order).
    fn rate(&mut self, count: usize, in_flight: usize) -> Result<f64> {
        let request = Request::TokenSign(TokenSignRequest {
            key_blob: self.key_blob.clone(),
            tokens: (0..count).map(|_| rand::random()).collect(),
            about: String::new(),
        });
        let start = Instant::now();
        let running = || start.elapsed() < Duration::from_secs(SIGN_SECONDS);
        let (mut signed, mut waiting) = (0usize, 0usize);
        while running() || waiting > 0 {
            while waiting < in_flight && running() {
                proto::client::send(&mut self.stream, &request)?;
                waiting += 1;
            }
            match proto::client::receive(&mut self.stream)? {
                Response::TokenSign(sigs) if sigs.len() == count => signed += count,
                other => bail!("unexpected reply {other:?}"),
            }
            waiting -= 1;
        }
        Ok(signed as f64 / start.elapsed().as_secs_f64())
    }
}

/// `openssl speed rsa2048`'s sign/s, on one core or (`-multi`) on `processes` at once.
fn openssl_speed(processes: usize) -> Result<f64> {
    let mut cmd = Command::new("openssl");
    cmd.args(["speed", "-seconds", &SIGN_SECONDS.to_string()]);
    if processes > 1 {
        cmd.args(["-multi", &processes.to_string()]);
    }
    let out = run(cmd.arg("rsa2048").stderr(Stdio::null()))?;
    // "rsa 2048 bits 0.000604s 0.000018s   1655.6  55555.6": sign/s is the third number.
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("rsa 2048 bits"))
        .context("no rsa 2048 line in openssl speed output")?;
    let numbers: Vec<&str> = line.split_whitespace().skip(3).collect();
    Ok(numbers
        .get(2)
        .context("short openssl speed line")?
        .parse()?)
}

/// `RUNS` times: waits `PROMPT_AFTER`, as the stand-in CLI does before its prompt, then
/// makes `count` token signatures with OpenSSL the way `openssl pkeyutl -pkeyopt
/// digest:sha256` and the agent do. The microseconds each batch took. A VM's idle cores run
/// the first milliseconds after a wait several times slower than `openssl speed`'s hot loop
/// (1.4 ms for one signature instead of 0.3 on this project's machine), and so does every
/// step of an answer; this is OpenSSL's own time under the prompt's conditions.
///
/// Then, as the token answer must (PRODUCT.md's write for mfa-login), it rewrites a token file
/// in `dir` with the signatures: a temporary file beside it (O_EXCL, 0600), written, renamed
/// over it (no fsync: the CLI reads the single-use file at once). What mfa-login does beyond
/// that (the walk of the path's folders, the checks on the descriptors) counts as its own. The
/// microseconds of the signatures alone and of signatures and rewrite together.
fn openssl_after_idle(pem: &[u8], count: usize, dir: &Path) -> Result<(Vec<u64>, Vec<u64>)> {
    use openssl::{md::Md, pkey::PKey, pkey_ctx::PkeyCtx, rsa::Padding};
    let key = PKey::private_key_from_pem(pem)?;
    let target = dir.join(format!("openssl-{count}.json"));
    std::fs::write(&target, b"{}")?;
    let (mut signing, mut both) = (Vec::with_capacity(RUNS), Vec::with_capacity(RUNS));
    for _ in 0..RUNS {
        let tokens: Vec<[u8; 32]> = (0..count).map(|_| rand::random()).collect();
        std::thread::sleep(PROMPT_AFTER);
        let start = Instant::now();
        let mut signed = Vec::with_capacity(count);
        for token in &tokens {
            let mut ctx = PkeyCtx::new(&key)?;
            ctx.sign_init()?;
            ctx.set_rsa_padding(Padding::PKCS1)?;
            ctx.set_signature_md(Md::sha256())?;
            let mut signature = Vec::new();
            ctx.sign_to_vec(token, &mut signature)?;
            signed.push(serde_json::json!({
                "unsigned": STANDARD.encode(token),
                "signed": STANDARD.encode(signature),
            }));
        }
        signing.push(u64::try_from(start.elapsed().as_micros())?);
        let body = serde_json::to_vec_pretty(&serde_json::json!({
            "version": "2.0",
            "tokens": signed,
        }))?;
        let mut temp = tempfile::Builder::new().suffix(".tmp").tempfile_in(dir)?;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        temp.as_file_mut().write_all(&body)?;
        temp.persist(&target)?;
        both.push(u64::try_from(start.elapsed().as_micros())?);
    }
    Ok((signing, both))
}

/// Sorts the microseconds; the q-quantile in milliseconds.
fn quantiles(micros: &mut [u64]) -> impl Fn(f64) -> f64 + '_ {
    micros.sort_unstable();
    |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
