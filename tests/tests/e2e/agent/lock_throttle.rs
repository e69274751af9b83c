//! The lock's guess throttle holds across connections: unlock attempts are taken one at a
//! time, agent-wide, with the growing delay counted agent-wide, while other requests are
//! still answered at once.

use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use cloudhsm_mfa_tests::harness::agent::Agent;
use cloudhsm_mfa_tests::harness::openssl::{random_token, sign_token_openssl};
use cloudhsm_mfa_tests::harness::workdir::WorkDir;
use proto::message::{Request, Response};

use super::{agent_holding, call, only_key, token_sign};

const GUESSES: usize = 10;
const RIGHT: &[u8] = b"the right passphrase";

fn lock(agent: &Agent) {
    let passphrase = RIGHT.to_vec().into();
    assert_eq!(
        call(agent.socket(), &Request::Lock { passphrase }),
        Response::Success
    );
}

fn unlock(agent: &Agent, passphrase: &[u8]) -> Response {
    let passphrase = passphrase.to_vec().into();
    call(agent.socket(), &Request::Unlock { passphrase })
}

/// A correct unlock works after the guesses, and the key signs again.
fn assert_unlocks_and_signs(agent: &Agent, key: &std::path::Path, blob: &[u8]) {
    assert_eq!(unlock(agent, RIGHT), Response::Success);
    let token = random_token();
    assert_eq!(
        token_sign(agent.socket(), blob, &[token]),
        Response::TokenSign(vec![sign_token_openssl(key, &token)])
    );
}

#[test]
fn parallel_wrong_unlocks_take_as_long_as_the_same_guesses_in_a_row() {
    // Bug: the delay after a wrong unlock ran per connection, so 10 guesses sent in parallel
    // took 1.45 s where the same 10 in a row took 6.4 s.
    let dir = WorkDir::new();
    let (agent, key) = agent_holding(&dir, "throttle.key");
    let blob = only_key(&agent);

    lock(&agent);
    let start = Instant::now();
    for _ in 0..GUESSES {
        assert_eq!(unlock(&agent, b"a wrong guess"), Response::Failure);
    }
    let sequential = start.elapsed();
    // The right passphrase also resets the count, so the parallel run starts from the same step.
    assert_unlocks_and_signs(&agent, &key, &blob);

    lock(&agent);
    let barrier = Arc::new(Barrier::new(GUESSES + 1));
    let (answered, first_answer) = std::sync::mpsc::channel();
    let guesses: Vec<_> = (0..GUESSES)
        .map(|i| {
            let socket = agent.socket().to_path_buf();
            let barrier = barrier.clone();
            let answered = answered.clone();
            thread::spawn(move || {
                let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
                stream
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .expect("read timeout");
                let passphrase = format!("wrong guess {i}").into_bytes().into();
                barrier.wait();
                let reply = proto::client::call(&mut stream, &Request::Unlock { passphrase })
                    .expect("reply");
                let _ = answered.send(());
                reply
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();

    // While the guesses queue (all sent; the first answered, the others waiting their turn),
    // other clients are answered at once: ssh-add -l (the locked agent lists nothing) and a
    // token signature (refused as locked, not queued).
    first_answer.recv().expect("a guess answered");
    let asked = Instant::now();
    let listed = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", agent.socket())
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-add -l");
    let list_took = asked.elapsed();
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("no identities"),
        "ssh-add -l: {listed:?}"
    );
    let asked = Instant::now();
    assert_eq!(
        token_sign(agent.socket(), &blob, &[random_token()]),
        Response::ExtensionFailure
    );
    let sign_took = asked.elapsed();

    for guess in guesses {
        assert_eq!(guess.join().expect("guess thread"), Response::Failure);
    }
    let parallel = start.elapsed();
    println!(
        "{GUESSES} wrong unlocks: in a row {sequential:?}, in parallel {parallel:?}; \
         during them ssh-add -l took {list_took:?}, a token-sign {sign_took:?}"
    );
    assert!(
        list_took < Duration::from_secs(2) && sign_took < Duration::from_secs(2),
        "other clients waited for the unlock queue: ssh-add -l {list_took:?}, token-sign {sign_took:?}"
    );
    assert!(
        parallel.as_secs_f64() >= 0.9 * sequential.as_secs_f64(),
        "parallel guesses were cheaper: {parallel:?} against {sequential:?} in a row"
    );
    assert_unlocks_and_signs(&agent, &key, &blob);
}
