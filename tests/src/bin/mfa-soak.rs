//! mfa-soak: a long run through mfa-agent, beside OpenSSH's ssh-agent holding the same key,
//! reporting each agent's resident memory (VmRSS) before and after. A benchmark, not a test.
//!
//! mfa-agent makes `--signatures` token signatures (our extension) and answers `--lists`
//! identity lists; ssh-agent makes the same number of plain SSH_AGENTC_SIGN_REQUEST
//! signatures (rsa-sha2-256 over a fresh 32-byte message) and lists. Every request goes
//! through proto's codec on a fresh connection every `--per-connection` requests.
//!
//! Run: `cargo build --release --workspace --bins && target/release/mfa-soak`
//! (short: `--signatures 2000 --lists 200`).

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use proto::message::{Request, Response, TokenSignRequest, SIGN_RSA_SHA2_256};

/// Resident memory may grow by at most this much from the warm-up's end to the run's end.
const FLAT_LIMIT_KIB: u64 = 1024;

#[derive(Parser)]
#[command(about = "Soak mfa-agent and OpenSSH's ssh-agent; report their RSS before and after")]
struct Args {
    /// Signatures each agent makes (mfa-agent: token signatures, ssh-agent: plain ones).
    #[arg(long, default_value_t = 100_000)]
    signatures: usize,
    /// Identity lists each agent answers.
    #[arg(long, default_value_t = 10_000)]
    lists: usize,
    /// Requests sent over one connection before the next connection is opened.
    #[arg(long, default_value_t = 10)]
    per_connection: usize,
    /// Signatures and lists made before the "warm" RSS is read (allocator and caches settle).
    #[arg(long, default_value_t = 1_000)]
    warmup: usize,
    /// Skip OpenSSH's ssh-agent.
    #[arg(long)]
    no_ssh_agent: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Flavour {
    Mfa,
    OpenSsh,
}

impl Flavour {
    fn name(self) -> &'static str {
        match self {
            Flavour::Mfa => "mfa-agent",
            Flavour::OpenSsh => "ssh-agent",
        }
    }
}

/// A running agent, killed when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
    flavour: Flavour,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn start(flavour: Flavour, dir: &Path, key: &Path) -> Result<Agent> {
        let socket = dir.join(format!("{}.sock", flavour.name()));
        let program = match flavour {
            Flavour::Mfa => sibling("mfa-agent")?,
            Flavour::OpenSsh => PathBuf::from("ssh-agent"),
        };
        let child = Command::new(&program)
            .args(["-D", "-a"])
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let agent = Agent {
            child,
            socket,
            flavour,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&agent.socket).is_err() {
            ensure!(
                Instant::now() < deadline,
                "{} did not start",
                flavour.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Each agent gets the key from its own client, as a user would load it.
        let (adder, env) = match flavour {
            Flavour::Mfa => (sibling("mfa-add")?, "MFA_AUTH_SOCK"),
            Flavour::OpenSsh => (PathBuf::from("ssh-add"), "SSH_AUTH_SOCK"),
        };
        run(Command::new(adder)
            .arg(key)
            .env(env, &agent.socket)
            .stderr(Stdio::null()))?;
        Ok(agent)
    }

    fn rss_kib(&self) -> Result<u64> {
        self.status_kib("VmRSS")
    }

    /// A `FIELD: N kB` line of /proc/PID/status.
    fn status_kib(&self, field: &str) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next())
            .with_context(|| format!("no {field} line"))?
            .parse()
            .with_context(|| format!("{field} is not a number"))
    }

    /// VmRSS split into heap and stacks (RssAnon) and mapped files (RssFile: the binary's and
    /// libraries' pages, touched once).
    fn rss_split_kib(&self) -> Result<(u64, u64)> {
        Ok((self.status_kib("RssAnon")?, self.status_kib("RssFile")?))
    }
}

/// The requests of one run, on connections of `per_connection` requests each.
struct Client<'a> {
    agent: &'a Agent,
    key_blob: Vec<u8>,
    per_connection: usize,
    stream: Option<(UnixStream, usize)>,
}

impl Client<'_> {
    fn call(&mut self, request: &Request) -> Result<Response> {
        if self
            .stream
            .as_ref()
            .is_none_or(|(_, used)| *used >= self.per_connection)
        {
            self.stream = Some((UnixStream::connect(&self.agent.socket)?, 0));
        }
        let (stream, used) = self.stream.as_mut().context("no connection")?;
        *used += 1;
        Ok(proto::client::call(stream, request)?)
    }

    fn sign(&mut self) -> Result<()> {
        let token: [u8; 32] = rand::random();
        let request = match self.agent.flavour {
            Flavour::Mfa => Request::TokenSign(TokenSignRequest {
                key_blob: self.key_blob.clone(),
                tokens: vec![token],
                about: String::new(),
            }),
            Flavour::OpenSsh => Request::Sign {
                key_blob: self.key_blob.clone(),
                data: token.to_vec(),
                flags: SIGN_RSA_SHA2_256,
            },
        };
        match (self.call(&request)?, self.agent.flavour) {
            (Response::TokenSign(sigs), Flavour::Mfa)
                if sigs.len() == 1 && sigs[0].len() == 256 =>
            {
                Ok(())
            }
            (Response::Sign { .. }, Flavour::OpenSsh) => Ok(()),
            (other, _) => bail!(
                "{}: unexpected sign reply {other:?}",
                self.agent.flavour.name()
            ),
        }
    }

    fn list(&mut self) -> Result<()> {
        match self.call(&Request::RequestIdentities)? {
            Response::Identities(ids) if ids.len() == 1 => Ok(()),
            other => bail!(
                "{}: unexpected list reply {other:?}",
                self.agent.flavour.name()
            ),
        }
    }
}

struct Soak {
    name: &'static str,
    idle_kib: u64,
    warm_kib: u64,
    after_kib: u64,
    samples: Vec<u64>,
    warm_split: (u64, u64),
    after_split: (u64, u64),
    elapsed: Duration,
}

fn soak(agent: &Agent, args: &Args) -> Result<Soak> {
    let mut client = Client {
        agent,
        key_blob: Vec::new(),
        per_connection: args.per_connection.max(1),
        stream: None,
    };
    let Response::Identities(ids) = client.call(&Request::RequestIdentities)? else {
        bail!("{}: no identities answer", agent.flavour.name());
    };
    client.key_blob = ids
        .first()
        .context("the key was not loaded")?
        .key_blob
        .clone();
    let idle_kib = agent.rss_kib()?;

    let warmup = args.warmup.min(args.signatures);
    for _ in 0..warmup {
        client.sign()?;
    }
    for _ in 0..warmup.min(args.lists) {
        client.list()?;
    }
    let warm_kib = agent.rss_kib()?;
    let warm_split = agent.rss_split_kib()?;

    // Signatures and lists interleaved, RSS read at every tenth of the run.
    let signatures = args.signatures - warmup;
    let lists = args.lists - warmup.min(args.lists);
    let total = signatures + lists;
    let mut samples = Vec::with_capacity(10);
    let start = Instant::now();
    let (mut signed, mut listed) = (0, 0);
    for done in 1..=total {
        // Spread the lists evenly through the signatures.
        if listed * total < lists * done {
            client.list()?;
            listed += 1;
        } else {
            client.sign()?;
            signed += 1;
        }
        if done * 10 / total > samples.len() {
            samples.push(agent.rss_kib()?);
        }
    }
    let elapsed = start.elapsed();
    ensure!(
        signed == signatures && listed == lists,
        "miscounted the run"
    );
    drop(client);
    std::thread::sleep(Duration::from_millis(200));
    Ok(Soak {
        name: agent.flavour.name(),
        idle_kib,
        warm_kib,
        after_kib: agent.rss_kib()?,
        samples,
        warm_split,
        after_split: agent.rss_split_kib()?,
        elapsed,
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("soak.key");
    run(Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .stderr(Stdio::null()))?;
    // ssh-add refuses a private key others can read.
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;

    let mut flavours = vec![Flavour::Mfa];
    if !args.no_ssh_agent {
        flavours.push(Flavour::OpenSsh);
    }
    println!(
        "soak: {} signatures and {} lists per agent ({} of each first as warm-up), \
         {} requests per connection, RSA-2048",
        args.signatures, args.lists, args.warmup, args.per_connection
    );
    let mut results = Vec::new();
    for flavour in flavours {
        let agent = Agent::start(flavour, dir.path(), &key)?;
        results.push(soak(&agent, &args)?);
    }

    println!();
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>12} {:>9} {:>10}",
        "agent", "RSS idle", "warm", "after", "after-warm", "time", "requests/s"
    );
    let mut flat = true;
    for r in &results {
        let growth = r.after_kib as i64 - r.warm_kib as i64;
        let requests = (args.signatures + args.lists) as f64;
        println!(
            "{:<10} {:>7} KiB {:>6} KiB {:>6} KiB {:>8} KiB {:>8.1}s {:>10.0}",
            r.name,
            r.idle_kib,
            r.warm_kib,
            r.after_kib,
            growth,
            r.elapsed.as_secs_f64(),
            requests / r.elapsed.as_secs_f64().max(1e-9)
        );
        if r.name == Flavour::Mfa.name() && growth > FLAT_LIMIT_KIB as i64 {
            flat = false;
        }
    }
    println!();
    for r in &results {
        let trend: Vec<String> = r.samples.iter().map(u64::to_string).collect();
        println!("{} RSS (KiB) at each tenth: {}", r.name, trend.join(" "));
        println!(
            "{} RssAnon {} -> {} KiB, RssFile {} -> {} KiB (warm -> after)",
            r.name, r.warm_split.0, r.after_split.0, r.warm_split.1, r.after_split.1
        );
    }
    ensure!(
        flat,
        "mfa-agent's RSS grew by more than {FLAT_LIMIT_KIB} KiB after warm-up"
    );
    Ok(())
}

fn sibling(name: &str) -> Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    ensure!(
        path.exists(),
        "{} is missing: run cargo build --release --workspace --bins",
        path.display()
    );
    Ok(path)
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
