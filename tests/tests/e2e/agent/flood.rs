//! Floods from a process of the owner's own uid: every slot held by connections that send
//! nothing, or that sent one byte of a frame and stall, or a burst of clients past the cap.
//! The owner's `ssh-add -l` still gets through, and quickly: at the cap the connection that
//! has waited longest makes way for the new one.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::openssl::{random_token, sign_token_openssl};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use proto::message::{Request, Response, TokenSignRequest};

use super::{
    agent_holding, only_key, run_with_agent, ssh_keygen_fingerprint, stderr, stdout, DEADLINE,
};

/// mfa-agent's default --max-connections.
const CAP: usize = 128;
/// The issue asks for 2 s; the assertion allows more so a loaded machine does not fail it,
/// and the real time is printed.
const OWNER_DEADLINE: Duration = Duration::from_secs(10);

/// Runs the owner's `ssh-add -l` and checks it lists `key` in time.
fn owner_lists(agent: &Agent, key: &Path, flood: &str) {
    let started = Instant::now();
    let out = run_with_agent(agent, "ssh-add", &["-l"]);
    let took = started.elapsed();
    println!("{flood}: ssh-add -l answered in {took:?}");
    assert!(
        out.status.success(),
        "{flood}: ssh-add -l: {}",
        stderr(&out)
    );
    let want = ssh_keygen_fingerprint(key);
    assert!(stdout(&out).contains(&want), "{flood}: {}", stdout(&out));
    assert!(took < OWNER_DEADLINE, "{flood}: ssh-add -l took {took:?}");
}

/// What one read of `stream` finds, a read interrupted by a signal (another test's child
/// ending) retried.
fn read_once(stream: &mut UnixStream) -> std::io::Result<usize> {
    let mut buf = [0u8; 16];
    loop {
        match stream.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            read => return read,
        }
    }
}

/// True once the agent has closed `stream` (it must not answer: nothing was asked).
fn closed(stream: &mut UnixStream) -> bool {
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    match read_once(stream) {
        Ok(0) => true,
        Err(e) => e.kind() == ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

fn agent_with_key(dir: &WorkDir) -> (Agent, std::path::PathBuf) {
    let (agent, key) = agent_holding(dir, "owner.key");
    (agent, key)
}

#[test]
fn the_owner_gets_through_128_connections_that_send_nothing() {
    let dir = WorkDir::new();
    let (agent, key) = agent_with_key(&dir);
    let mut idle: Vec<UnixStream> = (0..CAP)
        .map(|_| UnixStream::connect(agent.socket()).expect("connect"))
        .collect();
    owner_lists(&agent, &key, "128 idle connections");
    // It took the slot of the connection that had waited longest; the others stay open.
    assert!(
        closed(&mut idle[0]),
        "the longest-idle connection is still open"
    );
    idle[1]
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    assert!(
        matches!(read_once(&mut idle[1]), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "a newer idle connection was closed too"
    );
    assert!(agent.logged("connections open, the limit"));
}

#[test]
fn the_owner_gets_through_150_connections_stalled_one_byte_into_a_frame() {
    let dir = WorkDir::new();
    let (agent, key) = agent_with_key(&dir);
    // The default frame timeout (30 s) would drop them only after the owner gave up.
    let _stalled: Vec<UnixStream> = (0..150)
        .map(|_| {
            let mut stream = UnixStream::connect(agent.socket()).expect("connect");
            stream.write_all(&[0]).expect("write a frame's first byte");
            stream
        })
        .collect();
    owner_lists(&agent, &key, "150 stalled connections");
    assert!(agent.logged("connections open, the limit"));
}

#[test]
fn a_burst_of_200_signers_is_served_or_closed_cleanly_and_the_owner_still_gets_through() {
    const CLIENTS: usize = 200;
    let dir = WorkDir::new();
    let (agent, key) = agent_with_key(&dir);
    let blob = only_key(&agent);
    // The same 7 tokens for everyone, so that checking the signatures takes 7 openssl runs.
    let tokens: Vec<[u8; 32]> = (0..7).map(|_| random_token()).collect();
    let want: Vec<Vec<u8>> = tokens.iter().map(|t| sign_token_openssl(&key, t)).collect();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (socket, blob, barrier) =
                (agent.socket().to_path_buf(), blob.clone(), barrier.clone());
            let tokens = tokens.clone();
            thread::spawn(move || {
                let mut stream = UnixStream::connect(&socket).expect("connect");
                stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
                barrier.wait();
                let request = Request::TokenSign(TokenSignRequest {
                    key_blob: blob,
                    tokens,
                    about: String::new(),
                });
                proto::client::call(&mut stream, &request)
            })
        })
        .collect();
    let (mut served, mut failed, mut closed) = (0, 0, 0);
    for client in clients {
        match client.join().expect("client thread") {
            Ok(Response::TokenSign(signatures)) => {
                assert_eq!(signatures, want, "a wrong signature in the burst");
                served += 1;
            }
            Ok(Response::Failure | Response::ExtensionFailure) => failed += 1,
            Ok(other) => {
                panic!("an answer that is neither a signature nor FAILURE: {other:?}")
            }
            // Closed at the cap: the end of the stream, a reset or a broken pipe, never a
            // client left hanging until its read timed out.
            Err(proto::Error::Io(e))
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
                ) =>
            {
                closed += 1
            }
            Err(e) => panic!("a client in the burst was not closed cleanly: {e}"),
        }
    }
    println!(
        "burst of {CLIENTS}: {served} served, {failed} FAILURE, {closed} closed in {:?}",
        started.elapsed()
    );
    assert!(served > 0, "nobody in the burst was served");
    owner_lists(&agent, &key, "after a burst of 200 signers");
}

#[test]
fn a_signature_flood_grows_the_log_by_a_bounded_amount_and_the_owner_gets_through() {
    // 3,000 one-token requests on one connection, each sent before the last reply is read
    // (a forwarded agent used as a signing oracle): the log keeps the first 64 in full and
    // sums up the rest in one line per 10 s, instead of a line per signature (4.2 MB for
    // 20,000 before).
    const FLOOD: usize = 3_000;
    let dir = WorkDir::new();
    let (mut agent, key) = agent_with_key(&dir);
    let blob = only_key(&agent);
    let before = agent.log_text().len();
    let socket = agent.socket().to_path_buf();
    let replies = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&replies);
    let flood = thread::spawn(move || {
        let mut stream = UnixStream::connect(&socket).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let request = Request::TokenSign(TokenSignRequest {
            key_blob: blob,
            tokens: vec![random_token()],
            about: String::new(),
        });
        proto::client::send(&mut stream, &request).expect("send");
        for _ in 1..FLOOD {
            proto::client::send(&mut stream, &request).expect("send");
            let reply = proto::client::receive(&mut stream).expect("reply");
            assert!(matches!(reply, Response::TokenSign(_)), "{reply:?}");
            counted.fetch_add(1, Ordering::Relaxed);
        }
        proto::client::receive(&mut stream).expect("last reply");
    });
    // The owner asks while the flood is under way.
    let deadline = Instant::now() + DEADLINE;
    while replies.load(Ordering::Relaxed) < 100 {
        assert!(Instant::now() < deadline, "the flood did not start");
        thread::yield_now();
    }
    owner_lists(&agent, &key, "a signature flood");
    flood.join().expect("the flood");
    assert!(agent.stop(), "the agent did not stop");
    let log = agent.log_text();
    let grown = &log[before..];
    let in_full = grown.matches("sign token ").count();
    assert!(in_full <= 64, "{in_full} signature lines");
    let summed: usize = grown
        .lines()
        .filter_map(|l| l.split("sign: ").nth(1))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(in_full + summed, FLOOD, "{grown}");
    // The harness's agent runs with -d: its debug lines (one per request) are not the audit
    // log a deployed agent writes.
    let audit: usize = grown
        .lines()
        .filter(|l| !l.contains(" debug: "))
        .map(|l| l.len() + 1)
        .sum();
    println!("a signature flood of {FLOOD}: the audit log grew by {audit} bytes");
    assert!(audit < 24 * 1024, "{audit} bytes");
}
