//! The system log as OpenSSH's agent uses it: datagrams to `/dev/log` (syslogd, rsyslog, or
//! systemd-journald, which listens there), facility `auth`, tagged `mfa-agent[PID]`.
//!
//! Written over std's `UnixDatagram` rather than through a syslog crate: the whole protocol a
//! local socket needs is `<PRI>TAG[PID]: MESSAGE` in one datagram (the daemon stamps the time
//! and host itself), libc's `syslog(3)` would need `unsafe`, and the crates add a formatter,
//! a hostname lookup and TCP/UDP transports the agent must not use.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// Where local syslog daemons and journald receive messages.
pub const DEFAULT_SOCKET: &str = "/dev/log";

/// `auth`, the facility of OpenSSH's sshd and ssh-agent (RFC 5424 section 6.2.1).
const FACILITY_AUTH: u8 = 4;

/// How much a line matters (RFC 5424 section 6.2.1 severities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info = 6,
    Debug = 7,
}

/// An open connection to the system log.
#[derive(Debug)]
pub struct Syslog {
    socket: UnixDatagram,
    path: PathBuf,
    tag: String,
}

impl Syslog {
    /// Checks that a log daemon listens at `path` (so a missing syslog is an error at start,
    /// not an audit trail silently lost) and tags each line `tag[PID]`.
    pub fn connect(path: &Path, tag: &str) -> io::Result<Syslog> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Syslog {
            socket,
            path: path.to_path_buf(),
            tag: format!("{tag}[{}]", std::process::id()),
        })
    }

    /// Sends one line. A log daemon that restarted leaves the connected socket dead, so a
    /// failed send is tried once more on a fresh socket to the same path.
    pub fn send(&self, severity: Severity, message: &str) -> io::Result<()> {
        let datagram = format_datagram(severity, &self.tag, message);
        match self.socket.send(datagram.as_bytes()) {
            Ok(_) => Ok(()),
            Err(_) => UnixDatagram::unbound()?
                .send_to(datagram.as_bytes(), &self.path)
                .map(|_| ()),
        }
    }
}

/// `<PRI>TAG: MESSAGE`, PRI = facility * 8 + severity (RFC 3164 section 4.1.1), with control
/// characters replaced so that one call is one line in every log reader.
fn format_datagram(severity: Severity, tag: &str, message: &str) -> String {
    let priority = FACILITY_AUTH * 8 + severity as u8;
    let clean: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("<{priority}>{tag}: {clean}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_carry_the_auth_facility_the_tag_and_one_line() {
        assert_eq!(
            format_datagram(Severity::Info, "mfa-agent[7]", "sign token key=SHA256:x"),
            "<38>mfa-agent[7]: sign token key=SHA256:x"
        );
        assert_eq!(
            format_datagram(Severity::Debug, "t[1]", "two\nlines"),
            "<39>t[1]: two lines"
        );
    }

    #[test]
    fn lines_reach_a_daemon_on_the_socket_and_survive_its_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let daemon = UnixDatagram::bind(&path).expect("bind");
        let log = Syslog::connect(&path, "mfa-agent").expect("connect");
        log.send(Severity::Info, "first").expect("send");
        let mut buf = [0u8; 512];
        let n = daemon.recv(&mut buf).expect("recv");
        let want = format!("<38>mfa-agent[{}]: first", std::process::id());
        assert_eq!(std::str::from_utf8(&buf[..n]).expect("utf-8"), want);

        // The daemon goes away and a new one binds the same path.
        drop(daemon);
        std::fs::remove_file(&path).expect("remove");
        let daemon = UnixDatagram::bind(&path).expect("bind again");
        log.send(Severity::Info, "second")
            .expect("send after restart");
        let n = daemon.recv(&mut buf).expect("recv");
        assert!(std::str::from_utf8(&buf[..n])
            .expect("utf-8")
            .ends_with(": second"));
    }

    #[test]
    fn no_daemon_is_an_error_at_connect() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(Syslog::connect(&dir.path().join("none"), "mfa-agent").is_err());
    }
}
