//! Keys, tokens, token files and signatures made by the real `openssl` command, the outside
//! judge of the signing rule.
//!
//! RSA key generation is slow, so [`genrsa`] keeps one key per (name, bits) in a cache folder
//! under the target dir (`target/<profile>/e2e-keys/`) shared by every test and every run: the
//! same name always gives the same key, and different names give different keys. Use a new
//! name when a test needs a key nobody else has. [`genrsa_fresh`] skips the cache.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::workdir::set_mode;

/// A 32-byte CloudHSM token.
pub type Token = [u8; 32];

/// Runs `openssl ARGS`, feeding `stdin`, and panics with its stderr unless it succeeds.
pub fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let output = run_openssl(args, stdin);
    assert!(
        output.status.success(),
        "openssl {} failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs `openssl ARGS` and returns its output whatever the status.
pub fn run_openssl(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl (is it installed?)");
    let mut input = child.stdin.take().expect("openssl stdin");
    input.write_all(stdin).expect("write openssl stdin");
    drop(input);
    child.wait_with_output().expect("wait for openssl")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// The shared key cache folder, `target/<profile>/e2e-keys/`.
pub fn key_cache_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let dir = dir.join("e2e-keys");
    fs::create_dir_all(&dir).expect("create the key cache folder");
    dir
}

/// A unique scratch name, for temporary files in shared folders.
fn unique(stem: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        ".{stem}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The cached key for (name, bits), generating it the first time.
///
/// Another test process may race us: each generates into its own scratch file and publishes it
/// with a hard link, which fails if the key already exists, so everyone ends up reading the
/// same first-published key.
pub fn cached_key(name: &str, bits: u32) -> PathBuf {
    let dir = key_cache_dir();
    let path = dir.join(format!("{name}-{bits}.pem"));
    if path.exists() {
        return path;
    }
    let scratch = dir.join(unique(name));
    genpkey_rsa(&scratch, bits);
    let published = fs::hard_link(&scratch, &path);
    let _ = fs::remove_file(&scratch);
    if let Err(e) = published {
        assert!(
            e.kind() == std::io::ErrorKind::AlreadyExists,
            "publish {}: {e}",
            path.display()
        );
    }
    path
}

/// Generates an RSA key as unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`), what OpenSSL 3's
/// `openssl genrsa` writes; `genpkey` writes the same with OpenSSL 1.1 too.
fn genpkey_rsa(out: &Path, bits: u32) {
    let bits = format!("rsa_keygen_bits:{bits}");
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &bits,
            "-out",
            path_str(out),
        ],
        b"",
    );
}

/// `dir/name`: an RSA private key as OpenSSL 3's `openssl genrsa` writes it (PKCS#8
/// `BEGIN PRIVATE KEY`), mode 0600, from the cache.
pub fn genrsa(dir: &Path, name: &str, bits: u32) -> PathBuf {
    let out = dir.join(name);
    fs::copy(cached_key(name, bits), &out).expect("copy the cached key");
    set_mode(&out, 0o600);
    out
}

/// A new P-256 EC key `dir/name` (PKCS#8 PEM): the kind of key the agent refuses.
pub fn genec(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let path = out.to_str().expect("UTF-8 path");
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            path,
        ],
        b"",
    );
    set_mode(&out, 0o600);
    out
}

/// Like [`genrsa`] but always a new key, never cached.
pub fn genrsa_fresh(dir: &Path, name: &str, bits: u32) -> PathBuf {
    let out = dir.join(name);
    genpkey_rsa(&out, bits);
    set_mode(&out, 0o600);
    out
}

/// `dir/name`: the same key as [`genrsa`] gives for (name, bits), written as PKCS#1
/// `BEGIN RSA PRIVATE KEY` (what OpenSSL 1.1 and `openssl genrsa -traditional` write).
pub fn genrsa_traditional(dir: &Path, name: &str, bits: u32) -> PathBuf {
    let out = dir.join(name);
    let key = cached_key(name, bits);
    openssl(
        &[
            "pkey",
            "-in",
            path_str(&key),
            "-traditional",
            "-out",
            path_str(&out),
        ],
        b"",
    );
    set_mode(&out, 0o600);
    out
}

/// Writes `key` encrypted as PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`, AES-256-CBC) to `out`,
/// as `openssl genrsa -aes256` does in OpenSSL 3.
pub fn encrypt_pkcs8(key: &Path, out: &Path, passphrase: &str) -> PathBuf {
    let pass = format!("pass:{passphrase}");
    openssl(
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            path_str(key),
            "-out",
            path_str(out),
            "-passout",
            &pass,
        ],
        b"",
    );
    set_mode(out, 0o600);
    out.to_path_buf()
}

/// Writes `key` as legacy-encrypted PKCS#1 (`Proc-Type: 4,ENCRYPTED`, AES-256-CBC) to `out`,
/// as `openssl genrsa -aes256` does in OpenSSL 1.1.
pub fn encrypt_traditional(key: &Path, out: &Path, passphrase: &str) -> PathBuf {
    let pass = format!("pass:{passphrase}");
    openssl(
        &[
            "rsa",
            "-traditional",
            "-aes256",
            "-in",
            path_str(key),
            "-out",
            path_str(out),
            "-passout",
            &pass,
        ],
        b"",
    );
    set_mode(out, 0o600);
    out.to_path_buf()
}

/// Writes the public half of `key` as SPKI PEM (`BEGIN PUBLIC KEY`) to `out`.
pub fn public_key_pem(key: &Path, out: &Path) -> PathBuf {
    openssl(
        &[
            "pkey",
            "-in",
            path_str(key),
            "-pubout",
            "-out",
            path_str(out),
        ],
        b"",
    );
    out.to_path_buf()
}

/// 32 random bytes from `openssl rand`.
pub fn random_token() -> Token {
    let bytes = openssl(&["rand", "32"], b"");
    bytes
        .as_slice()
        .try_into()
        .expect("openssl rand 32 gives 32 bytes")
}

/// Signs a token by the CloudHSM rule, as the AWS guide does:
/// `openssl pkeyutl -sign -inkey KEY -pkeyopt digest:sha256 -in token.bin`.
pub fn sign_token_openssl(key: &Path, token: &Token) -> Vec<u8> {
    openssl(
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            path_str(key),
            "-pkeyopt",
            "digest:sha256",
        ],
        token,
    )
}

/// The wrong signature a careless script makes: `openssl dgst -sha256 -sign KEY`, which
/// hashes the token again before signing.
pub fn sign_hashed_again(key: &Path, token: &Token) -> Vec<u8> {
    openssl(&["dgst", "-sha256", "-sign", path_str(key)], token)
}

/// True when `openssl pkeyutl -verify` accepts `signature` over `token` with `key` (a private
/// key or an SPKI public key PEM).
pub fn verify_openssl(key: &Path, token: &Token, signature: &[u8]) -> bool {
    let sig = tempfile::NamedTempFile::new().expect("signature scratch file");
    fs::write(sig.path(), signature).expect("write the signature");
    let is_public = fs::read_to_string(key)
        .map(|pem| pem.contains("BEGIN PUBLIC KEY"))
        .unwrap_or(false);
    let mut args = vec!["pkeyutl", "-verify", "-inkey", path_str(key)];
    if is_public {
        args.push("-pubin");
    }
    args.extend([
        "-pkeyopt",
        "digest:sha256",
        "-sigfile",
        path_str(sig.path()),
    ]);
    run_openssl(&args, token).status.success()
}

/// Writes an unsigned MFA token file (version 2.0, `signed: ""`) with `count` tokens from
/// `openssl rand`, pretty-printed like cloudhsm-cli; returns the tokens.
pub fn write_token_file(path: &Path, count: usize) -> Vec<Token> {
    let tokens: Vec<Token> = (0..count).map(|_| random_token()).collect();
    let entries: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"unsigned": STANDARD.encode(t), "signed": ""}))
        .collect();
    let doc = json!({"version": "2.0", "tokens": entries});
    let text = serde_json::to_string_pretty(&doc).expect("serialize");
    fs::write(path, text).expect("write the token file");
    tokens
}

/// The `unsigned` tokens of a version 2.0 token file, read with plain JSON (not `proto`).
pub fn read_unsigned_tokens(path: &Path) -> Vec<Token> {
    let doc = read_json(path);
    doc["tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has no tokens list: {doc}", path.display()))
        .iter()
        .map(|entry| {
            let text = entry["unsigned"].as_str().expect("unsigned is a string");
            let raw = STANDARD.decode(text).expect("unsigned is base64");
            raw.as_slice().try_into().expect("a token is 32 bytes")
        })
        .collect()
}

/// The `signed` fields of a version 2.0 token file, base64-decoded (empty when unsigned).
pub fn read_signatures(path: &Path) -> Vec<Vec<u8>> {
    let doc = read_json(path);
    doc["tokens"]
        .as_array()
        .expect("tokens list")
        .iter()
        .map(|entry| {
            let text = entry["signed"].as_str().expect("signed is a string");
            STANDARD.decode(text).expect("signed is base64")
        })
        .collect()
}

/// Writes one base64 signature into each `signed` field, in order, keeping everything else.
pub fn write_signatures(path: &Path, signatures: &[Vec<u8>]) {
    let mut doc = read_json(path);
    let entries = doc["tokens"].as_array_mut().expect("tokens list");
    assert_eq!(entries.len(), signatures.len(), "one signature per token");
    for (entry, sig) in entries.iter_mut().zip(signatures) {
        entry["signed"] = Value::String(STANDARD.encode(sig));
    }
    let text = serde_json::to_string_pretty(&doc).expect("serialize");
    fs::write(path, text).expect("rewrite the token file");
}

/// The AWS guide's manual procedure: read each `unsigned` token, sign it with
/// `openssl pkeyutl`, base64 the signature and write it into `signed`.
pub fn sign_token_file_openssl(key: &Path, path: &Path) {
    let signatures: Vec<Vec<u8>> = read_unsigned_tokens(path)
        .iter()
        .map(|t| sign_token_openssl(key, t))
        .collect();
    write_signatures(path, &signatures);
}

fn read_json(path: &Path) -> Value {
    let text = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!(
            "{} is not JSON ({e}): {}",
            path.display(),
            String::from_utf8_lossy(&text)
        )
    })
}
