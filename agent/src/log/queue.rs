//! The log's bounded queue and the one thread that writes it, so that a stalled log (a paused
//! terminal, a stuck pipe reader, a slow disk) never blocks the agent's workers, and a flood of
//! bad requests never fills the disk.
//!
//! - An ordinary line is queued if there is room, else dropped and counted; the next line
//!   written says how many were dropped.
//! - An audit line (signature, key added or removed, lock, unlock) waits up to `AUDIT_WAIT`
//!   for room. If the queue is still full it is counted, and the next line written says how
//!   many audit lines were lost: a log that stays stalled cannot hold the signature up for
//!   longer, and the loss is never silent.
//! - Malformed and refused requests are tallied per peer: the first of an interval is logged
//!   in full, the rest as one summary line per peer when the interval ends.
//! - After each write the writer waits `LINGER` before it takes the next batch, and lines
//!   queued meanwhile do not wake it: under load the log costs one write per `LINGER`, not a
//!   thread wake-up and a write per signature (a tenth of a 2048-bit signature's time). An
//!   idle agent's writer sleeps until a line comes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::sys::Severity;

/// Lines waiting for the writer; with the batch the writer holds, at most twice this.
pub(crate) const CAPACITY: usize = 1024;

/// How long an audit line may wait for room in a full queue.
pub(crate) const AUDIT_WAIT: Duration = Duration::from_millis(250);

/// How long the writer gathers lines after a write before it writes again.
pub(crate) const LINGER: Duration = Duration::from_millis(10);

/// How often malformed and refused requests are summed up.
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// Peers tallied at once; the rest of a flood of distinct peers share one entry.
const MAX_TALLIED_PEERS: usize = 256;

/// Signature lines written in full per peer in one summary interval: a login is one request,
/// so this is dozens of logins; past it, a peer's signatures are counted and summed up.
pub(crate) const SIGNATURES_PER_PEER: u32 = 64;

/// Signature lines written in full in one summary interval, all peers together.
pub(crate) const SIGNATURES_PER_INTERVAL: u32 = 256;

/// Signatures of one peer in the current interval.
#[derive(Debug, Default, Clone, Copy)]
struct Signed {
    in_full: u32,
    more: u64,
    more_tokens: u64,
}

/// A line as it will be written: its time (taken when it was logged), severity and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub time: String,
    pub severity: Severity,
    pub text: String,
}

/// What may happen to a line when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Ordinary,
    Audit,
}

/// The queue's state: the decisions, apart from the thread that carries them out.
#[derive(Debug, Default)]
pub(crate) struct State {
    lines: VecDeque<Line>,
    dropped: u64,
    audit_lost: u64,
    /// Malformed or refused requests not yet logged, per peer (`pid=.. uid=.. exe=..`).
    tally: BTreeMap<String, u64>,
    /// Signatures in this interval, per peer, and how many were logged in full in all.
    signed: BTreeMap<String, Signed>,
    signed_in_full: u32,
    /// The writer is writing a batch (for `flush`).
    writing: bool,
    /// The writer waits for a line to come (a push must wake it).
    idle: bool,
}

impl State {
    /// Queues `line` if there is room; false when full.
    pub(crate) fn offer(&mut self, line: Line) -> bool {
        if self.lines.len() >= CAPACITY {
            return false;
        }
        self.lines.push_back(line);
        true
    }

    /// Counts a line that could not be queued.
    pub(crate) fn lost(&mut self, class: Class) {
        match class {
            Class::Ordinary => self.dropped += 1,
            Class::Audit => self.audit_lost += 1,
        }
    }

    /// Counts one malformed or refused request from `peer`; true if it is the first of this
    /// interval from that peer, which is then logged in full.
    pub(crate) fn tally(&mut self, peer: &str) -> bool {
        if let Some(n) = self.tally.get_mut(peer) {
            *n += 1;
            return false;
        }
        if self.tally.len() >= MAX_TALLIED_PEERS {
            *self.tally.entry("other peers".to_owned()).or_default() += 1;
            return false;
        }
        self.tally.insert(peer.to_owned(), 0);
        true
    }

    /// Counts a signature of `tokens` tokens for `peer`; true while it is to be logged in
    /// full (see [`SIGNATURES_PER_PEER`], [`SIGNATURES_PER_INTERVAL`]), else it is summed up.
    pub(crate) fn tally_signature(&mut self, peer: &str, tokens: usize) -> bool {
        let key = if self.signed.len() >= MAX_TALLIED_PEERS && !self.signed.contains_key(peer) {
            "other peers"
        } else {
            peer
        };
        let room = self.signed_in_full < SIGNATURES_PER_INTERVAL;
        let signed = self.signed.entry(key.to_owned()).or_default();
        if room && signed.in_full < SIGNATURES_PER_PEER {
            signed.in_full += 1;
            self.signed_in_full += 1;
            return true;
        }
        signed.more += 1;
        signed.more_tokens += tokens as u64;
        false
    }

    fn has_work(&self) -> bool {
        !self.lines.is_empty() || self.dropped > 0 || self.audit_lost > 0
    }

    /// Everything to write now: first what was lost, then the summaries (when `summarize`),
    /// then the queued lines.
    pub(crate) fn take_batch(&mut self, now: &str, summarize: Option<Duration>) -> Vec<Line> {
        let note = |text: String| Line {
            time: now.to_owned(),
            severity: Severity::Info,
            text,
        };
        let mut batch = Vec::new();
        if self.audit_lost > 0 {
            batch.push(note(format!(
                "log stalled: {} audit lines (signatures, key changes, lock, unlock) could not \
                 be queued within {}ms and are lost",
                std::mem::take(&mut self.audit_lost),
                AUDIT_WAIT.as_millis()
            )));
        }
        if self.dropped > 0 {
            batch.push(note(format!(
                "log stalled: dropped {} lines",
                std::mem::take(&mut self.dropped)
            )));
        }
        if let Some(interval) = summarize {
            for (peer, signed) in std::mem::take(&mut self.signed) {
                if signed.more > 0 {
                    batch.push(note(format!(
                        "sign: {} more signatures ({} tokens) by {peer} in the last {} s, not \
                         logged one by one",
                        signed.more,
                        signed.more_tokens,
                        interval.as_secs()
                    )));
                }
            }
            self.signed_in_full = 0;
            for (peer, n) in std::mem::take(&mut self.tally) {
                if n > 0 {
                    batch.push(note(format!(
                        "{n} more malformed or refused requests from {peer} in the last {} s",
                        interval.as_secs()
                    )));
                }
            }
        }
        batch.extend(self.lines.drain(..));
        batch
    }
}

/// The queue shared by the agent's tasks and its writer thread.
#[derive(Debug, Default)]
pub(crate) struct LogQueue {
    state: Mutex<State>,
    /// Signalled when lines arrive (the writer waits on it).
    arrived: Condvar,
    /// Signalled when the writer took a batch or finished one (audit lines and `flush` wait).
    taken: Condvar,
}

impl LogQueue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a line, or counts it as lost (after waiting `AUDIT_WAIT` for an audit line).
    pub(crate) fn push(&self, line: Line, class: Class) {
        let mut state = self.state();
        if !state.offer(line.clone()) {
            if class == Class::Audit {
                let (waited, wait) = self
                    .taken
                    .wait_timeout_while(state, AUDIT_WAIT, |state| !state.offer(line.clone()))
                    .unwrap_or_else(PoisonError::into_inner);
                state = waited;
                if wait.timed_out() {
                    state.lost(class);
                }
            } else {
                state.lost(class);
            }
        }
        let wake = state.idle;
        drop(state);
        if wake {
            self.arrived.notify_one();
        }
    }

    /// See `State::tally_signature`.
    pub(crate) fn tally_signature(&self, peer: &str, tokens: usize) -> bool {
        self.state().tally_signature(peer, tokens)
    }

    /// See `State::tally`.
    pub(crate) fn tally(&self, peer: &str) -> bool {
        self.state().tally(peer)
    }

    /// Waits (at most `within`) until every queued line is written, summing up the tally
    /// first: called before the process exits.
    pub(crate) fn flush(&self, within: Duration, write: &mut dyn FnMut(&[Line])) {
        let mut state = self.state();
        let summaries = state.take_batch(&super::clock::utc_now(), Some(SUMMARY_INTERVAL));
        // The writer may be stuck; the summaries are written here, behind its lines.
        let (state, wait) = self
            .taken
            .wait_timeout_while(state, within, |state| {
                state.writing || !state.lines.is_empty()
            })
            .unwrap_or_else(PoisonError::into_inner);
        drop(state);
        if !wait.timed_out() {
            write(&summaries);
        }
    }

    /// The writer thread's loop: takes batches and hands them to `write`, summing up the
    /// tally every `SUMMARY_INTERVAL`.
    pub(crate) fn run_writer(&self, write: &mut dyn FnMut(&[Line])) {
        let mut last_summary = Instant::now();
        loop {
            let mut state = self.state();
            loop {
                let due = last_summary + SUMMARY_INTERVAL;
                if state.has_work() || Instant::now() >= due {
                    break;
                }
                let left = due.saturating_duration_since(Instant::now());
                state.idle = true;
                state = self
                    .arrived
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                state.idle = false;
            }
            let summarize = (last_summary.elapsed() >= SUMMARY_INTERVAL).then(|| {
                last_summary = Instant::now();
                SUMMARY_INTERVAL
            });
            let batch = state.take_batch(&super::clock::utc_now(), summarize);
            state.writing = true;
            drop(state);
            self.taken.notify_all();
            write(&batch);
            self.state().writing = false;
            self.taken.notify_all();
            std::thread::sleep(LINGER);
        }
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
