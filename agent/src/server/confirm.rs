//! Confirm-on-use (`ssh-add -c`, `mfa-add -c`): before each signature with such a key, ask the
//! user through the program named by `MFA_ASKPASS`, else `SSH_ASKPASS`; its exit status decides.
//!
//! The question runs as a child process awaited on tokio, so other clients are served while the
//! user thinks. With no program to ask, the answer is no.

use std::collections::HashMap;
use std::ffi::OsString;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::sys::Peer;

/// How long the user has to answer before the request is refused: one limit for the agent
/// and every client, which waits a little longer.
const ANSWER_TIMEOUT: Duration = client::CONFIRM_TIMEOUT;

/// After a "no", how long the same process's requests are refused without asking again (a
/// flood of requests would otherwise bring one dialog after another until one is clicked).
pub(crate) const DECLINED_FOR: Duration = Duration::from_secs(30);

/// The askpass program chosen at start-up, and the questions under way.
#[derive(Debug, Clone, Default)]
pub struct Confirmer {
    program: Option<OsString>,
    questions: Arc<Mutex<Questions>>,
    /// How long a question without askpass waits for `mfa-add --approve`.
    queue_wait: Option<Duration>,
}

/// One question at a time per key; the others wait their turn, and the one asked says how
/// many wait.
#[derive(Debug, Default)]
struct Questions {
    turns: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    waiting: HashMap<String, usize>,
    /// When each process (pid) was last told no.
    declined: HashMap<i32, Instant>,
    /// Until when a yes stands, per key and kind of use (`--confirm-for`).
    approved: HashMap<(String, &'static str), Instant>,
    /// Questions without askpass, waiting for `mfa-add --approve`: id, question, answer.
    pending: Vec<(u32, String, tokio::sync::oneshot::Sender<bool>)>,
    next_id: u32,
}

impl Questions {
    fn declined_recently(&self, peer: &Peer) -> Option<u64> {
        let at = self.declined.get(&peer.pid?)?;
        let ago = at.elapsed();
        (ago < DECLINED_FOR).then_some(ago.as_secs())
    }
}

impl Confirmer {
    /// Asks `program`, or refuses every confirmation with None.
    #[cfg(test)]
    pub fn new(program: Option<OsString>) -> Self {
        Confirmer {
            program,
            questions: Arc::default(),
            queue_wait: None,
        }
    }

    /// A yes for this key and kind of use still stands (`--confirm-for`).
    pub(crate) fn approved_recently(&self, fingerprint: &str, kind: &'static str) -> bool {
        self.questions()
            .approved
            .get(&(fingerprint.to_owned(), kind))
            .is_some_and(|until| Instant::now() < *until)
    }

    /// A yes for this key and kind of use stands for `secs` seconds.
    pub(crate) fn remember(&self, fingerprint: &str, kind: &'static str, secs: u32) {
        let until = Instant::now() + Duration::from_secs(u64::from(secs));
        self.questions()
            .approved
            .insert((fingerprint.to_owned(), kind), until);
    }

    /// How long a question waits for `mfa-add --approve` when there is no askpass program
    /// (default [`ANSWER_TIMEOUT`]; the agent's hidden `--confirm-timeout`, for tests).
    pub fn with_queue_wait(mut self, wait: Duration) -> Self {
        self.queue_wait = Some(wait);
        self
    }

    /// The questions waiting for `mfa-add --approve`.
    pub(crate) fn pending(&self) -> Vec<(u32, String)> {
        self.questions()
            .pending
            .iter()
            .map(|(id, question, _)| (*id, question.clone()))
            .collect()
    }

    /// `mfa-add --approve`'s answer to question `id`; false when no such question waits.
    pub(crate) fn answer(&self, id: u32, yes: bool) -> bool {
        let mut questions = self.questions();
        let Some(at) = questions.pending.iter().position(|(n, _, _)| *n == id) else {
            return false;
        };
        let (_, _, reply) = questions.pending.remove(at);
        reply.send(yes).is_ok()
    }

    /// Puts the question in the queue `mfa-add --approve` answers, and waits.
    async fn queued(&self, question: String) -> Result<bool, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let id = {
            let mut questions = self.questions();
            questions.next_id = questions.next_id.wrapping_add(1);
            let id = questions.next_id;
            questions.pending.push((id, question, reply));
            id
        };
        let wait = self.queue_wait.unwrap_or(ANSWER_TIMEOUT);
        let outcome = tokio::time::timeout(wait, answer).await;
        self.questions().pending.retain(|(n, _, _)| *n != id);
        match outcome {
            Ok(Ok(yes)) => Ok(yes),
            _ => Err(format!(
                "no askpass program (MFA_ASKPASS, SSH_ASKPASS), and nobody answered with \
                 mfa-add --approve within {} s",
                wait.as_secs()
            )),
        }
    }

    /// There is a program to ask with.
    pub fn can_ask(&self) -> bool {
        self.program.is_some()
    }

    /// `MFA_ASKPASS`, else `SSH_ASKPASS`, from the agent's environment.
    pub fn from_env() -> Self {
        let program = ["MFA_ASKPASS", "SSH_ASKPASS"]
            .iter()
            .filter_map(std::env::var_os)
            .find(|v| !v.is_empty());
        Confirmer {
            program,
            questions: Arc::default(),
            queue_wait: None,
        }
    }

    /// The peer was told no: its next requests are refused without a question for a while.
    fn declined_by(&self, peer: &Peer) {
        if let Some(pid) = peer.pid {
            let mut questions = self.questions();
            questions
                .declined
                .retain(|_, at| at.elapsed() < DECLINED_FOR);
            questions.declined.insert(pid, Instant::now());
        }
    }

    fn questions(&self) -> std::sync::MutexGuard<'_, Questions> {
        self.questions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks whether `peer` may use the key for `what` ("to sign 3 CloudHSM tokens");
    /// `through` says where the request came from (a forwarded agent's host key); Err says
    /// why the answer is no. One question per key is open at a time; a process told no is
    /// refused without a question for [`DECLINED_FOR`].
    pub async fn ask(
        &self,
        fingerprint: &str,
        comment: &str,
        what: &str,
        peer: &Peer,
        through: &str,
    ) -> Result<(), String> {
        let declined = |ago: u64| {
            format!(
                "this process was told no {ago} s ago: refused without asking for {} s",
                DECLINED_FOR.as_secs()
            )
        };
        let turn = {
            let mut questions = self.questions();
            if let Some(ago) = questions.declined_recently(peer) {
                return Err(declined(ago));
            }
            *questions.waiting.entry(fingerprint.to_owned()).or_default() += 1;
            questions
                .turns
                .entry(fingerprint.to_owned())
                .or_default()
                .clone()
        };
        let _turn = turn.lock().await;
        let others = {
            let mut questions = self.questions();
            let waiting = questions.waiting.entry(fingerprint.to_owned()).or_default();
            *waiting -= 1;
            let others = *waiting;
            if let Some(ago) = questions.declined_recently(peer) {
                return Err(declined(ago));
            }
            others
        };
        let exe = peer.exe.as_ref().map_or_else(
            || "an unknown program".to_owned(),
            |e| e.display().to_string(),
        );
        let pid = peer.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
        let mut question = format!(
            "Allow use of key {comment} {what}?\nKey fingerprint {fingerprint}.\nRequested by {exe} (pid {pid}, uid {}).\n{through}",
            peer.uid
        );
        if others > 0 {
            question.push_str(&format!(
                "\n{others} more request{} for this key wait{}.",
                if others == 1 { "" } else { "s" },
                if others == 1 { "s" } else { "" }
            ));
        }
        let Some(program) = &self.program else {
            return match self.queued(question).await? {
                true => Ok(()),
                false => {
                    self.declined_by(peer);
                    Err("declined with mfa-add --approve".to_owned())
                }
            };
        };
        let mut child = Command::new(program)
            .arg(&question)
            .env("SSH_ASKPASS_PROMPT", "confirm")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
        match tokio::time::timeout(ANSWER_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => {
                self.declined_by(peer);
                Err(format!("the user declined ({status})"))
            }
            Ok(Err(e)) => Err(format!("waiting for the confirmation program: {e}")),
            Err(_) => Err("no answer in time".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer {
            pid: Some(1),
            uid: 0,
            exe: None,
        }
    }

    const LOCAL: &str = "Through a local connection.";
    const ONE: &str = "to sign 1 CloudHSM token";

    #[tokio::test]
    async fn exit_status_decides_and_nothing_to_ask_refuses() {
        let yes = Confirmer::new(Some("true".into()));
        let no = Confirmer::new(Some("false".into()));
        assert!(yes.ask("SHA256:x", "k", ONE, &peer(), LOCAL).await.is_ok());
        assert!(no.ask("SHA256:x", "k", ONE, &peer(), LOCAL).await.is_err());
        assert!(Confirmer::default()
            .with_queue_wait(Duration::from_millis(100))
            .ask("SHA256:x", "k", ONE, &peer(), LOCAL)
            .await
            .is_err());
    }

    /// An askpass that logs its question and its start and end, takes 0.2 s, and answers
    /// with `answer` (0 yes, 1 no).
    fn askpass(dir: &std::path::Path, answer: u8) -> Confirmer {
        let script = dir.join("askpass");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf 'start %s\\n' \"$1\" >> {log}\nsleep 0.2\necho end >> {log}\nexit {answer}\n",
                log = dir.join("log").display()
            ),
        )
        .expect("write");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        Confirmer::new(Some(script.into()))
    }

    #[tokio::test]
    async fn one_question_per_key_at_a_time_naming_what_waits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let confirmer = askpass(dir.path(), 0);
        let peers: Vec<Peer> = (10..13)
            .map(|pid| Peer {
                pid: Some(pid),
                uid: 0,
                exe: None,
            })
            .collect();
        let ask = |peer| {
            confirmer.ask(
                "SHA256:k",
                "officer1.key",
                "to sign 3 CloudHSM tokens",
                peer,
                LOCAL,
            )
        };
        let (a, b, c) = tokio::join!(ask(&peers[0]), ask(&peers[1]), ask(&peers[2]));
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        let log = std::fs::read_to_string(dir.path().join("log")).expect("log");
        let events: Vec<&str> = log
            .lines()
            .filter(|l| *l == "end" || l.starts_with("start"))
            .map(|l| if l == "end" { "end" } else { "start" })
            .collect();
        // Never two dialogs open for the key at once.
        assert_eq!(
            events,
            ["start", "end", "start", "end", "start", "end"],
            "{log}"
        );
        assert!(log.contains("Allow use of key officer1.key to sign 3 CloudHSM tokens?"));
        // The first was asked at once; the second, while the third waited, says so.
        assert!(log.contains("1 more request for this key waits."), "{log}");
    }

    #[tokio::test]
    async fn after_a_no_the_same_process_is_refused_without_a_question() {
        let dir = tempfile::tempdir().expect("tempdir");
        let confirmer = askpass(dir.path(), 1);
        let err = confirmer.ask("SHA256:k", "k", ONE, &peer(), LOCAL).await;
        assert!(err.is_err_and(|e| e.contains("declined")));
        let again = confirmer.ask("SHA256:k", "k", ONE, &peer(), LOCAL).await;
        assert!(again.is_err_and(|e| e.contains("refused without asking")));
        let log = std::fs::read_to_string(dir.path().join("log")).expect("log");
        assert_eq!(log.matches("start").count(), 1, "{log}");
        // Another process is still asked.
        let other = Peer {
            pid: Some(2),
            uid: 0,
            exe: None,
        };
        assert!(confirmer
            .ask("SHA256:k", "k", ONE, &other, LOCAL)
            .await
            .is_err());
        let log = std::fs::read_to_string(dir.path().join("log")).expect("log");
        assert_eq!(log.matches("start").count(), 2, "{log}");
    }
}
