//! `mfa-add --verify-log FILE`: checks the agent log's hash chain (`log::chain`) and, when an
//! mfa-agent answers, that the file ends with the agent's last line.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use client::exit::Status;

use crate::log::chain::{self, Verdict};
use crate::{Error, Result};

/// How long the agent has to say its last chain mark.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn run(path: &Path) -> Result<Status> {
    let shown = path.display().to_string();
    // Asked first: the file read after must hold it (the agent goes on writing meanwhile).
    let head = client::Agent::from_env(ASK_TIMEOUT)
        .and_then(|agent| agent.connect())
        .ok()
        .and_then(|mut agent| agent.log_head())
        .filter(|head| !head.is_empty());
    let mut own = client::files::open_own(path).map_err(|source| Error::UnsafeFile {
        what: "the log file",
        source,
    })?;
    let mut text = String::new();
    own.file
        .read_to_string(&mut text)
        .map_err(Error::io(format!("read {shown}")))?;
    let (lines, continued) = match chain::verify(&text) {
        Verdict::Holds {
            lines, continued, ..
        } => (lines, continued),
        Verdict::Broken { line, why } => {
            return Err(Error::LogBroken {
                path: shown,
                line,
                why,
            })
        }
    };
    // The running agent's last line when asked must be in the file: else lines were cut
    // from its end, or an earlier copy was put back.
    if let Some(head) = &head {
        if !text
            .lines()
            .any(|line| line.ends_with(&format!(" #{head}")))
        {
            return Err(Error::LogBehind {
                path: shown,
                head: head.clone(),
            });
        }
    }
    let start = if continued {
        "; its first line continues an earlier file's chain (a rotation)"
    } else {
        ""
    };
    let end = if head.is_some() {
        ", and it holds the running agent's last line"
    } else {
        " (no mfa-agent answered to compare its end with)"
    };
    println!(
        "{shown}: {}, the chain holds{start}{end}",
        client::report::count(lines, "line")
    );
    Ok(Status::SUCCESS)
}
