//! Tests of the log queue's decisions: what is queued, dropped, tallied and summed up.

use super::*;

fn line(text: &str) -> Line {
    Line {
        time: "T".to_owned(),
        severity: Severity::Info,
        text: text.to_owned(),
    }
}

fn texts(batch: &[Line]) -> Vec<&str> {
    batch.iter().map(|l| l.text.as_str()).collect()
}

#[test]
fn a_full_queue_refuses_and_the_next_batch_says_what_was_lost() {
    let mut state = State::default();
    for i in 0..CAPACITY {
        assert!(state.offer(line(&i.to_string())));
    }
    assert!(!state.offer(line("over")));
    state.lost(Class::Ordinary);
    state.lost(Class::Ordinary);
    state.lost(Class::Audit);
    let batch = state.take_batch("T", None);
    assert_eq!(batch.len(), CAPACITY + 2);
    assert!(batch[0].text.contains("1 audit lines"), "{}", batch[0].text);
    assert_eq!(batch[1].text, "log stalled: dropped 2 lines");
    assert_eq!(batch[2].text, "0");
    assert!(state.take_batch("T", None).is_empty());
}

#[test]
fn bad_requests_log_the_first_and_sum_up_the_rest_per_interval() {
    let mut state = State::default();
    assert!(state.tally("pid=1 uid=2"));
    for _ in 0..1999 {
        assert!(!state.tally("pid=1 uid=2"));
    }
    assert!(state.tally("pid=3 uid=2"));
    // Not summed up before the interval ends.
    assert!(state.take_batch("T", None).is_empty());
    let batch = state.take_batch("T", Some(SUMMARY_INTERVAL));
    assert_eq!(
        texts(&batch),
        ["1999 more malformed or refused requests from pid=1 uid=2 in the last 10 s"]
    );
    // A new interval logs the first one in full again.
    assert!(state.tally("pid=1 uid=2"));
}

#[test]
fn signatures_past_a_peers_share_of_an_interval_are_summed_up() {
    let mut state = State::default();
    let logged = (0..20_000)
        .filter(|_| state.tally_signature("pid=7 uid=0 exe=/usr/bin/ssh", 1))
        .count();
    assert_eq!(logged, SIGNATURES_PER_PEER as usize);
    // Another peer still gets its share, up to the interval's total.
    let others = (0..10_000)
        .filter(|i| state.tally_signature(&format!("pid={} uid=0", 100 + i % 50), 2))
        .count();
    assert_eq!(
        others,
        (SIGNATURES_PER_INTERVAL - SIGNATURES_PER_PEER) as usize
    );
    let batch = state.take_batch("T", Some(SUMMARY_INTERVAL));
    let summaries = texts(&batch);
    assert!(summaries.contains(
        &"sign: 19936 more signatures (19936 tokens) by pid=7 uid=0 exe=/usr/bin/ssh in the \
          last 10 s, not logged one by one"
    ));
    assert!(summaries.len() <= 51, "{summaries:?}");
    // A new interval logs in full again.
    assert!(state.tally_signature("pid=7 uid=0 exe=/usr/bin/ssh", 1));
}

#[test]
fn a_flood_of_distinct_peers_is_tallied_in_bounded_memory() {
    let mut state = State::default();
    for pid in 0..10_000 {
        state.tally(&format!("pid={pid}"));
    }
    assert_eq!(state.tally.len(), MAX_TALLIED_PEERS + 1);
    assert_eq!(
        state.tally["other peers"],
        10_000 - MAX_TALLIED_PEERS as u64
    );
}

#[test]
fn an_audit_line_waits_for_room_then_is_counted() {
    let queue = LogQueue::default();
    for i in 0..CAPACITY {
        queue.push(line(&i.to_string()), Class::Ordinary);
    }
    let started = Instant::now();
    queue.push(line("sign"), Class::Audit);
    assert!(started.elapsed() >= AUDIT_WAIT);
    queue.push(line("noise"), Class::Ordinary);
    let batch = queue.state().take_batch("T", None);
    assert!(batch[0].text.contains("1 audit lines"));
    assert_eq!(batch[1].text, "log stalled: dropped 1 lines");
}

#[test]
fn an_audit_line_waiting_for_room_gets_in_once_the_writer_takes_a_batch() {
    let queue = std::sync::Arc::new(LogQueue::default());
    for i in 0..CAPACITY {
        queue.push(line(&i.to_string()), Class::Ordinary);
    }
    let writer = std::sync::Arc::clone(&queue);
    let taker = std::thread::spawn(move || {
        std::thread::sleep(AUDIT_WAIT / 5);
        let taken = writer.state().take_batch("T", None).len();
        writer.taken.notify_all();
        taken
    });
    // The queue is full until the batch is taken: the line waits for that, then gets in
    // (a line that timed out would be lost, and the next batch would say so instead).
    queue.push(line("sign"), Class::Audit);
    assert_eq!(taker.join().expect("taker"), CAPACITY);
    let batch = queue.state().take_batch("T", None);
    let texts: Vec<_> = batch.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["sign"]);
}

/// Runs the writer on its own thread; what it wrote, batch by batch.
fn writer(queue: &std::sync::Arc<LogQueue>) -> std::sync::Arc<Mutex<Vec<Vec<String>>>> {
    let written = std::sync::Arc::new(Mutex::new(Vec::new()));
    let (queue, out) = (
        std::sync::Arc::clone(queue),
        std::sync::Arc::clone(&written),
    );
    std::thread::spawn(move || {
        queue.run_writer(&mut |batch| {
            let texts = batch.iter().map(|l| l.text.clone()).collect();
            out.lock().expect("lock").push(texts);
        });
    });
    written
}

fn wait_for(written: &Mutex<Vec<Vec<String>>>, lines: usize) -> Vec<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let batches = written.lock().expect("lock").clone();
        if batches.iter().map(Vec::len).sum::<usize>() >= lines {
            return batches;
        }
        assert!(Instant::now() < deadline, "written so far: {batches:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_idle_writer_wakes_for_a_line_and_lines_close_together_share_a_write() {
    let queue = std::sync::Arc::new(LogQueue::default());
    let written = writer(&queue);
    // Idle: the writer waits with nothing to do and must be woken.
    std::thread::sleep(Duration::from_millis(50));
    queue.push(line("first"), Class::Audit);
    assert_eq!(wait_for(&written, 1), [vec!["first".to_owned()]]);
    // While it lingers after that write, lines arrive a millisecond apart without waking
    // it: they go out together (a writer woken per line would write five batches).
    for i in 0..5 {
        queue.push(line(&i.to_string()), Class::Audit);
        std::thread::sleep(Duration::from_millis(1));
    }
    let batches = wait_for(&written, 6);
    let all: Vec<&String> = batches.iter().flatten().collect();
    assert_eq!(all.len(), 6);
    assert!(all[1..]
        .iter()
        .enumerate()
        .all(|(i, t)| **t == i.to_string()));
    assert!(batches.len() <= 3, "{batches:?}");
    // And it goes back to sleep: a later line still gets written.
    std::thread::sleep(Duration::from_millis(50));
    queue.push(line("later"), Class::Ordinary);
    assert_eq!(
        wait_for(&written, 7).concat().last().map(String::as_str),
        Some("later")
    );
}
