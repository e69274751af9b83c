//! mfa-demo: one hands-free CloudHSM MFA login from scratch, narrated, against the simulator:
//! a temporary agent, a throwaway RSA-2048 key, a simulated cluster that knows the key, and
//! `mfa-login -- cloudhsm-cli-sim interactive` doing the token signing. Everything it makes
//! lives in one temporary folder, removed at the end.
//!
//! `cargo run --release --bin mfa-demo` (builds the other binaries first if they are missing);
//! `--interactive` lets you type the login yourself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Parser;
use cloudhsm_mfa_tests::harness::pty::{Exit, Pty};
use proto::signing::verify_token;
use rand::rngs::OsRng;
use rand::RngCore;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;

/// The programs the demo runs, next to its own executable.
const SIBLINGS: [&str; 4] = ["mfa-agent", "mfa-add", "mfa-login", "cloudhsm-cli-sim"];

const USER: &str = "demo";
const ROLE: &str = "crypto-user";
const HSMS: &str = "3";

#[derive(Parser, Debug)]
#[command(
    name = "mfa-demo",
    about = "A narrated, hands-free CloudHSM MFA login against the simulator",
    after_help = "Exit status: 0 when the login succeeded, 1 otherwise."
)]
struct Args {
    /// Let me type the login (and the password) myself instead of the scripted run.
    #[arg(long)]
    interactive: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mfa-demo: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn step(text: &str) {
    println!("\n==> {text}");
}

fn run(args: &Args) -> Result<()> {
    let bins = find_siblings()?;
    let dir = tempfile::Builder::new()
        .prefix("mfa-demo-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let work = dir.path();
    println!(
        "mfa-demo: everything lives in {} until the end",
        work.display()
    );

    step("Starting a temporary mfa-agent (like ssh-agent)");
    let socket = work.join("agent.sock");
    let agent = AgentProcess::start(&bins.join("mfa-agent"), &socket)?;
    println!("    MFA_AUTH_SOCK={}", socket.display());

    step("Making a throwaway RSA-2048 key (the officer's MFA key)");
    let key = RsaPrivateKey::new(&mut OsRng, 2048).context("RSA key generation")?;
    let key_path = work.join("demo.key");
    let pem = key.to_pkcs8_pem(LineEnding::LF).context("encode the key")?;
    write_private(&key_path, pem.as_bytes())?;
    let public_path = work.join("demo.pub");
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .context("encode the public key")?;
    std::fs::write(&public_path, public)?;
    println!(
        "    wrote {} and {}",
        key_path.display(),
        public_path.display()
    );

    step("Loading it into the agent with mfa-add (the key file could now be deleted)");
    let status = Command::new(bins.join("mfa-add"))
        .arg(&key_path)
        .env("MFA_AUTH_SOCK", &socket)
        .status()
        .context("run mfa-add")?;
    ensure!(status.success(), "mfa-add failed ({status})");

    step("Registering the public key for user `demo` in a simulated 3-HSM cluster");
    let state = work.join("cluster-state.json");
    let password = random_password();
    let sim = bins.join("cloudhsm-cli-sim");
    let output = Command::new(&sim)
        .args(["add-user", "--username", USER, "--role", ROLE, "--password"])
        .arg(&password)
        .arg("--public-key")
        .arg(&public_path)
        .env("CLOUDHSM_SIM_STATE", &state)
        .output()
        .context("run cloudhsm-cli-sim add-user")?;
    ensure!(
        output.status.success(),
        "add-user failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let password_file = work.join("password");
    write_private(&password_file, format!("{password}\n").as_bytes())?;

    let mut login = Command::new(bins.join("mfa-login"));
    if !args.interactive {
        login.arg("--password-file").arg(&password_file);
    }
    login
        .arg("--")
        .arg(&sim)
        .arg("interactive")
        .current_dir(work)
        .env("MFA_AUTH_SOCK", &socket)
        .env("CLOUDHSM_SIM_STATE", &state)
        .env("CLOUDHSM_SIM_HSMS", HSMS);
    let login_line =
        format!("login --username {USER} --role {ROLE} mfa-token-sign --token token.json");

    let result = if args.interactive {
        step("Your turn: mfa-login -- cloudhsm-cli-sim interactive");
        println!("    type:      {login_line}");
        println!("    password:  {password}");
        println!("    then:      quit");
        println!("    mfa-login signs the tokens and presses Enter at the signed-token prompt.\n");
        let status = login.status().context("run mfa-login")?;
        ensure!(status.success(), "mfa-login exited with {status}");
        Ok(())
    } else {
        scripted_login(login, &login_line)
            .and_then(|()| check_signatures(&work.join("token.json"), &key.to_public_key()))
    };
    step("Cleaning up: stopping the agent, removing the temporary folder");
    drop(agent);
    drop(dir);
    result?;
    println!("\nmfa-demo: the MFA login succeeded hands-free.");
    Ok(())
}

/// Drives the interactive session through a PTY, printing what the user would see.
fn scripted_login(login: Command, login_line: &str) -> Result<()> {
    step("Running mfa-login --password-file F -- cloudhsm-cli-sim interactive");
    println!("    mfa-login types the password, signs each HSM's token through the agent,");
    println!("    rewrites token.json and presses Enter. The session:\n");
    let mut pty = Pty::spawn(login);
    show(&pty.expect("aws-cloudhsm >"), "aws-cloudhsm >");
    pty.send_line(login_line);
    let before = pty.expect("aws-cloudhsm >");
    show(&before, "aws-cloudhsm >");
    pty.send_line("quit");
    show(&pty.read_to_eof(), "");
    let exit = pty.wait();
    println!();
    let json = result_json(&before)?;
    ensure!(
        json["error_code"] == 0,
        "the login failed: {}",
        json["data"]
    );
    ensure!(exit == Exit::Code(0), "mfa-login exited with {exit:?}");
    Ok(())
}

/// Checks each signature mfa-login wrote into the token file against the demo key.
fn check_signatures(token_file: &Path, public: &RsaPublicKey) -> Result<()> {
    let doc: Value = serde_json::from_slice(&std::fs::read(token_file)?)?;
    let tokens = doc["tokens"]
        .as_array()
        .context("no tokens in token.json")?;
    for (i, entry) in tokens.iter().enumerate() {
        let field = |name: &str| -> Result<Vec<u8>> {
            let text = entry[name].as_str().context("not a string")?;
            Ok(STANDARD.decode(text)?)
        };
        verify_token(public, &field("unsigned")?, &field("signed")?)
            .with_context(|| format!("token {} of token.json", i + 1))?;
    }
    step("Checking token.json");
    println!(
        "    {} tokens, each signed by the agent's key (RSASSA-PKCS1-v1_5 over the raw digest)",
        tokens.len()
    );
    Ok(())
}

fn show(text: &str, then: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}{then}", text.replace('\r', ""));
    let _ = out.flush();
}

/// The first JSON value in the session's output.
fn result_json(text: &str) -> Result<Value> {
    let clean = text.replace('\r', "");
    let start = clean.find('{').context("no result in the output")?;
    serde_json::Deserializer::from_str(&clean[start..])
        .into_iter::<Value>()
        .next()
        .context("no result in the output")?
        .context("unreadable result")
}

/// The folder holding the demo's sibling programs; builds them when missing and cargo ran us.
fn find_siblings() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find my own executable")?;
    let dir = exe
        .parent()
        .context("my executable has no folder")?
        .to_path_buf();
    let missing = || SIBLINGS.iter().filter(|n| !dir.join(n).exists()).count();
    if missing() > 0 {
        let Some(cargo) = std::env::var_os("CARGO") else {
            bail!(
                "{} are not all in {} (build them: cargo build --release --workspace --bins)",
                SIBLINGS.join(", "),
                dir.display()
            );
        };
        step("Building the other binaries first (cargo build --workspace --bins)");
        let mut build = Command::new(cargo);
        build.args(["build", "--workspace", "--bins"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().context("run cargo build")?;
        ensure!(
            status.success() && missing() == 0,
            "cargo build failed ({status})"
        );
    }
    Ok(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

fn random_password() -> String {
    let mut bytes = [0u8; 9];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The temporary agent, stopped when dropped.
struct AgentProcess(Child);

impl AgentProcess {
    fn start(program: &Path, socket: &Path) -> Result<AgentProcess> {
        let child = Command::new(program)
            .arg("-D")
            .arg("-a")
            .arg(socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start mfa-agent")?;
        let agent = AgentProcess(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        // The socket file appears at bind, a moment before the agent listens.
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            ensure!(
                Instant::now() < deadline,
                "mfa-agent did not accept connections on its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(agent)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
