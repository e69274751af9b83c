//! Custody of the socket: private folder and socket modes, other uids refused even when the
//! modes would let them in, hardening of the running agent, and clients that send garbage,
//! truncated or oversized frames, stall, or come fifty at once; the connection cap and the
//! mid-frame timeout. (Floods of such clients against the owner's own tools: `flood`.)

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::wait_until_accepting;
use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::openssl::{random_token, sign_token_openssl};
use cloudhsm_mfa_tests::harness::skip;
use cloudhsm_mfa_tests::harness::workdir::{mode, set_mode, WorkDir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use proto::message::{Request, Response};
use proto::wire::frame;

use super::{agent_holding, call, identities, only_key, path_str, stderr, token_sign, DEADLINE};

#[test]
fn socket_is_0600_in_a_0700_folder_and_the_agent_is_hardened() {
    let dir = WorkDir::new();
    // A folder that does not exist yet is created 0700.
    let sub = dir.join("fresh");
    let socket = sub.join("agent.sock");
    let mut child = Command::new(bin("mfa-agent"))
        .args(["-D", "-a", path_str(&socket)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mfa-agent");
    wait_until_accepting(&socket);
    assert_eq!(mode(&sub), 0o700);
    assert_eq!(mode(&socket), 0o600);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()))
        .expect("read the agent's limits");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("stop the agent");
    child.wait().expect("wait for the agent");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("core limit line");
    assert_eq!(
        core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(),
        ["0", "0"],
        "{core}"
    );
}

#[test]
fn another_uid_is_refused_even_when_the_socket_mode_allows_it() {
    if !nix::unistd::Uid::effective().is_root() {
        skip("needs root to run a client as a second user (nobody)");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip("setpriv is not installed");
        return;
    }
    let dir = WorkDir::new();
    let (agent, _key) = agent_holding(&dir, "custody.key");
    set_mode(dir.path(), 0o755);
    set_mode(agent.socket(), 0o666);
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "ssh-add",
            "-l",
        ])
        .envs(agent.env())
        .env("HOME", "/")
        .output()
        .expect("run setpriv");
    let log = agent.log_text();
    assert!(
        !out.status.success(),
        "uid 65534 listed the keys: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        log.contains("refused a connection from another user") && log.contains("uid=65534"),
        "no refusal in the log (ssh-add said: {}):\n{log}",
        stderr(&out)
    );
    // Our own uid is still served.
    assert_eq!(identities(&agent).len(), 1);
}

/// Opens a connection, sends `bytes`, and returns what the agent sent back before closing
/// (or before the read timed out).
fn send_raw(agent: &Agent, bytes: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(agent.socket()).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    // The agent may close before reading everything; a broken pipe is fine.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

#[test]
fn broken_and_hostile_clients_leave_the_agent_serving() {
    let dir = WorkDir::new();
    let (agent, key) = agent_holding(&dir, "hostile.key");
    let failure = frame(&[proto::message::id::FAILURE]);

    // Garbage: its first four bytes declare a frame far over the cap, so the agent hangs up.
    assert!(send_raw(&agent, b"GET / HTTP/1.1\r\n\r\n").is_empty());
    // A 300 KiB frame closes the connection without an answer.
    let mut big = frame(&vec![proto::message::id::SIGN_REQUEST; 300 * 1024]);
    big.truncate(64 * 1024);
    assert!(send_raw(&agent, &big).is_empty());
    // A truncated frame: the agent waits for the rest, then sees the client go.
    let mut truncated = frame(&Request::RequestIdentities.encode());
    truncated.extend_from_slice(&[0, 0, 0, 100, 13, 0]);
    let reply = send_raw(&agent, &truncated);
    assert!(
        matches!(
            Response::decode(reply.get(4..).unwrap_or(&[])),
            Ok(Response::Identities(_))
        ),
        "the request before the truncated frame was not answered: {reply:?}"
    );
    // Unknown and malformed messages get FAILURE and the connection goes on.
    let mut several = frame(&[200]);
    several.extend(frame(&[proto::message::id::SIGN_REQUEST, 0, 0]));
    several.extend(frame(&Request::RequestIdentities.encode()));
    let reply = send_raw(&agent, &several);
    assert!(reply.starts_with(&failure), "{reply:?}");
    assert!(reply[failure.len()..].starts_with(&failure), "{reply:?}");
    let rest = &reply[2 * failure.len()..];
    match Response::decode(&rest[4..]) {
        Ok(Response::Identities(ids)) => assert_eq!(ids.len(), 1),
        other => panic!("third answer {other:?}"),
    }

    // A client that stalls mid-frame does not block anyone else.
    let mut stalled = UnixStream::connect(agent.socket()).expect("connect");
    stalled.write_all(&[0, 0, 1]).expect("write");
    let blob = only_key(&agent);
    let token = random_token();
    assert_eq!(
        token_sign(agent.socket(), &blob, &[token]),
        Response::TokenSign(vec![sign_token_openssl(&key, &token)])
    );
    drop(stalled);
    assert!(matches!(
        call(agent.socket(), &Request::Query),
        Response::Query(_)
    ));
}

#[test]
fn fifty_clients_at_once_each_get_their_signature() {
    let dir = WorkDir::new();
    let (agent, key) = agent_holding(&dir, "fifty.key");
    let blob = only_key(&agent);
    let tokens: Vec<[u8; 32]> = (0..50).map(|_| random_token()).collect();
    let expected: Vec<Vec<u8>> = tokens.iter().map(|t| sign_token_openssl(&key, t)).collect();
    let socket = agent.socket().to_path_buf();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(tokens.len()));
    let handles: Vec<_> = tokens
        .iter()
        .map(|token| {
            let (socket, blob, token) = (socket.clone(), blob.clone(), *token);
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut stream = UnixStream::connect(&socket).expect("connect");
                stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
                barrier.wait();
                let request = Request::TokenSign(proto::message::TokenSignRequest {
                    key_blob: blob,
                    tokens: vec![token],
                    about: String::new(),
                });
                proto::client::call(&mut stream, &request).expect("reply")
            })
        })
        .collect();
    for (handle, want) in handles.into_iter().zip(expected) {
        assert_eq!(
            handle.join().expect("client thread"),
            Response::TokenSign(vec![want])
        );
    }
    // The log is written by its own thread: the last lines may land just after the replies.
    let deadline = Instant::now() + DEADLINE;
    let mut logged = agent.log_text().matches("tokens=1 ").count();
    while logged < 50 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
        logged = agent.log_text().matches("tokens=1 ").count();
    }
    assert_eq!(logged, 50);
}

#[test]
fn requests_sent_ahead_of_their_replies_are_answered_in_order() {
    let dir = WorkDir::new();
    let (agent, key) = agent_holding(&dir, "ahead.key");
    let blob = only_key(&agent);
    let sign = |key_blob: &[u8], token: [u8; 32]| {
        Request::TokenSign(proto::message::TokenSignRequest {
            key_blob: key_blob.to_vec(),
            tokens: vec![token],
            about: String::new(),
        })
    };
    let (first, last) = (random_token(), random_token());
    let requests = [
        sign(&blob, first),
        Request::RequestIdentities,
        sign(b"no such key", random_token()),
        sign(&blob, last),
    ];
    let mut stream = UnixStream::connect(agent.socket()).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    // All four go out in one write, as a client that does not wait would send them.
    let bytes: Vec<u8> = requests.iter().flat_map(|r| frame(&r.encode())).collect();
    stream.write_all(&bytes).expect("send four requests");
    let replies: Vec<Response> = (0..requests.len())
        .map(|_| proto::client::receive(&mut stream).expect("a reply"))
        .collect();
    assert_eq!(
        replies[0],
        Response::TokenSign(vec![sign_token_openssl(&key, &first)])
    );
    assert!(
        matches!(&replies[1], Response::Identities(ids) if ids.len() == 1 && ids[0].key_blob == blob),
        "{:?}",
        replies[1]
    );
    // A refused token signature: the extension is known, so EXTENSION_FAILURE.
    assert_eq!(replies[2], Response::ExtensionFailure);
    assert_eq!(
        replies[3],
        Response::TokenSign(vec![sign_token_openssl(&key, &last)])
    );
}

/// True when the agent closed `stream` without answering `request`.
fn closed_unanswered(mut stream: UnixStream, request: &Request) -> bool {
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    // The agent may close before reading; a broken pipe is part of being closed.
    let _ = stream.write_all(&frame(&request.encode()));
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => reply.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn over_the_connection_cap_the_longest_waiting_connection_makes_way() {
    // mfa-agent's default --max-connections.
    const CAP: usize = 128;
    let dir = WorkDir::new();
    let agent = Agent::start(dir.path());
    let query = |stream: &mut UnixStream| {
        matches!(
            proto::client::call(stream, &Request::Query),
            Ok(Response::Query(_))
        )
    };
    let connect = || {
        let stream = UnixStream::connect(agent.socket()).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        stream
    };
    // Fill every slot; an answer on each shows the agent holds it. Each then waits idle,
    // held[0] the longest.
    let mut held: Vec<UnixStream> = (0..CAP)
        .map(|i| {
            let mut stream = connect();
            assert!(query(&mut stream), "connection {i} under the cap");
            stream
        })
        .collect();
    // Over the cap a new client is served, and the longest-waiting connection makes way.
    let newcomers: Vec<UnixStream> = (0..3)
        .map(|i| {
            let mut stream = connect();
            assert!(
                query(&mut stream),
                "new connection {i} at the cap was not served"
            );
            stream
        })
        .collect();
    for (i, stream) in held.drain(..3).enumerate() {
        assert!(
            closed_unanswered(stream, &Request::Query),
            "the connection waiting longest ({i}) was not closed for a new one"
        );
    }
    // The others, the newcomers too, are still served.
    assert!(query(&mut held[0]));
    for mut stream in newcomers {
        assert!(query(&mut stream));
    }
    // Under the cap again once clients leave: the episode ends in the log.
    drop(held.drain(..10));
    let deadline = Instant::now() + DEADLINE;
    while !agent.log_text().contains("accepting connections again") {
        let mut stream = connect();
        assert!(query(&mut stream));
        drop(stream);
        assert!(Instant::now() < deadline, "no free slot after clients left");
        thread::sleep(std::time::Duration::from_millis(20));
    }
    // A connection made before the agent saw the ten leave also made way: the longest-waiting
    // of those still held. Count them, so the episode's total can be checked exactly.
    let late = held
        .iter_mut()
        .map(|stream| !query(stream))
        .filter(|&gone| gone)
        .count();
    let log = agent.log_text();
    assert_eq!(
        log.matches("connections open, the limit").count(),
        1,
        "the cap must be logged once per episode:\n{log}"
    );
    let closed = 3 + late;
    assert!(
        log.contains(&format!("closed {closed} waiting connections")),
        "{log}"
    );
}

#[test]
fn a_client_stalled_mid_frame_is_dropped_but_an_idle_one_stays() {
    let dir = WorkDir::new();
    let agent = Agent::start_with(dir.path(), &["--frame-timeout", "1"]);
    let opened = Instant::now();
    let mut idle = UnixStream::connect(agent.socket()).expect("connect");
    idle.set_read_timeout(Some(DEADLINE)).expect("timeout");
    // Stalled in the length, then in the body: each is closed by the agent, well before the
    // test's own deadline.
    let request = frame(&Request::RequestIdentities.encode());
    for sent in [&[0u8, 0, 0][..], &request[..request.len() - 1]] {
        let mut stalled = UnixStream::connect(agent.socket()).expect("connect");
        stalled.set_read_timeout(Some(DEADLINE)).expect("timeout");
        stalled.write_all(sent).expect("write part of a frame");
        let mut buf = [0u8; 16];
        // A signal another test's child sends this process may interrupt the read: not an answer.
        let read = loop {
            match stalled.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                read => break read,
            }
        };
        match read {
            // Closed; or reset, when the close finds bytes of ours it had not read yet.
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a stalled client was not dropped: {other:?}"),
        }
    }
    // The idle connection outlived the frame timeout twice over and is still served.
    while opened.elapsed() < std::time::Duration::from_secs(2) {
        thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(matches!(
        proto::client::call(&mut idle, &Request::Query),
        Ok(Response::Query(_))
    ));
    let log = agent.log_text();
    assert_eq!(log.matches("stalled mid-frame").count(), 2, "{log}");
}

/// Whether `needle` is anywhere in the readable, private memory of process `pid` (root only:
/// another uid's, or a non-dumpable process's, memory is closed to anyone else).
fn memory_holds(pid: u32, needle: &[u8]) -> bool {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("mem");
    maps.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Readable, private (heap, stacks, anonymous maps); not the program's own files.
        if !fields[1].starts_with('r') || fields.len() > 5 && fields[5].starts_with('/') {
            return false;
        }
        let Some((start, end)) = fields[0].split_once('-') else {
            return false;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            return false;
        };
        use std::io::Seek;
        let mut region = vec![0u8; (end - start) as usize];
        if mem.seek(std::io::SeekFrom::Start(start)).is_err()
            || mem.read_exact(&mut region).is_err()
        {
            return false;
        }
        region.windows(needle.len()).any(|w| w == needle)
    })
}

#[test]
fn a_key_added_again_and_removed_leaves_no_private_number_in_the_agents_memory() {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PrivateKeyParts;
    if !nix::unistd::geteuid().is_root() {
        skip("only root may read the agent's memory (CI runs as root)");
        return;
    }
    let dir = WorkDir::new();
    let (agent, key) = agent_holding(&dir, "wiped.key");
    let private = rsa::RsaPrivateKey::read_pkcs8_pem_file(&key)
        .or_else(|_| {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            rsa::RsaPrivateKey::read_pkcs1_pem_file(&key)
        })
        .expect("the key, read by the rsa crate");
    // A number's first 32 bytes as they sit in memory: big-endian (DER, our buffers) or
    // little-endian (OpenSSL's BIGNUM words and OSSL_PARAM blocks on this machine).
    let forms = |number: &rsa::BigUint| {
        let be = number.to_bytes_be();
        let le = number.to_bytes_le();
        [be[..32].to_vec(), le[..32].to_vec()]
    };
    let numbers = [
        ("d", forms(private.d())),
        ("p", forms(&private.primes()[0])),
        ("q", forms(&private.primes()[1])),
    ];
    let held = |forms: &[Vec<u8>; 2]| forms.iter().any(|f| memory_holds(agent.pid(), f));
    // The scan finds the key while it is held (so a miss later means something).
    assert!(
        held(&numbers[0].1),
        "the scan does not find d in the agent holding the key"
    );
    agent.add_key(&key);
    let out = agent.mfa_add(&["-D"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Found anywhere now, a private number was left behind: a copy OpenSSL made and freed
    // without clearing it, or one of ours.
    for (name, forms) in &numbers {
        assert!(
            !held(forms),
            "the agent's memory still holds {name} after the key was added again and removed"
        );
    }
}
