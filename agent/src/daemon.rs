//! Running the agent: in the foreground, forked with eval lines, beside a command, or killing
//! one.
//!
//! A daemon must not fork a running tokio runtime, and `fork` needs `unsafe`, so "forking"
//! re-executes this program with `--detached`: the child calls `setsid`, binds the socket,
//! reports `ready` (or its error) on a pipe and serves; the parent prints the eval lines once
//! the socket accepts connections. The child's stderr is the log file, since a forked agent
//! has no terminal.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::activation::{take_inherited_socket, InheritedSocket};
use crate::audit::Log;
use crate::config::{Config, Mode, Shell};
use crate::confirm::Confirmer;
use crate::handler::Agent;
use crate::hardening::harden_process;
use crate::server::{serve, StopSignals};
use crate::socket::{
    bind_socket, default_socket_base, make_default_socket_path, prepare_socket_dir,
};
use crate::{Error, Result};

/// The line a detached child writes when its socket is ready.
const READY: &str = "ready";
/// How long `-k` waits for the agent to remove its socket and exit.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Runs the configured mode and returns the process exit status.
///
/// Call it before any thread starts: it takes systemd's socket-activation variables out of
/// the environment.
pub fn run(config: Config) -> Result<i32> {
    let inherited = take_inherited_socket()?;
    if let Some(inherited) = &inherited {
        check_activation(&config, inherited)?;
    }
    match config.mode.clone() {
        Mode::Foreground { detached } => run_foreground(&config, detached, inherited).map(|()| 0),
        Mode::Fork(shell) => {
            let (child, socket) = spawn_detached(&config, false)?;
            print!("{}", eval_lines(shell, &socket, child.id()));
            Ok(0)
        }
        Mode::Command(command) => run_command(&config, &command),
        Mode::Kill(shell) => kill_agent(shell).map(|()| 0),
    }
}

/// Socket activation needs `-D` or `-d`, and `-a`, if given, must name the passed socket: so
/// one .service serves both ways (started alone it binds `-a PATH`; activated by a .socket
/// unit listening on the same PATH, it takes that socket).
fn check_activation(config: &Config, inherited: &InheritedSocket) -> Result<()> {
    if config.mode != (Mode::Foreground { detached: false }) {
        return Err(Error::usage(
            "systemd passed a socket (LISTEN_FDS): run mfa-agent -D or -d under socket activation",
        ));
    }
    match &config.socket {
        Some(path) if inherited.path.as_deref() != Some(absolute(path)?.as_path()) => {
            Err(Error::usage(format!(
                "systemd passed a socket (LISTEN_FDS) that is not -a {}; drop -a or make the .socket unit listen there",
                path.display()
            )))
        }
        _ => Ok(()),
    }
}

/// Serves in this process until a stop signal, then removes the socket (unless systemd passed
/// it: then the socket is systemd's to keep).
fn run_foreground(
    config: &Config,
    detached: bool,
    inherited: Option<InheritedSocket>,
) -> Result<()> {
    if detached {
        // Leave the caller's session so its terminal's hangup and job control do not reach
        // us; fails only if we lead a process group, which a spawned child never does.
        let _ = nix::unistd::setsid();
    }
    let log = Log::new(config.debug);
    let result = bind_and_serve(config, detached, inherited, log);
    if let Err(e) = &result {
        if detached {
            // The parent may be waiting for a line; tell it why we could not start. It may
            // also be gone, so a failed write is not an error of its own.
            let _ = writeln!(std::io::stdout(), "error: {e}");
        }
        log.info(&format!("error: {e}"));
    }
    result
}

fn bind_and_serve(
    config: &Config,
    detached: bool,
    inherited: Option<InheritedSocket>,
    log: Log,
) -> Result<()> {
    harden_process()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("start the async runtime"))?;
    runtime.block_on(async {
        // Catch stop signals before anyone can connect, so the socket is always removed.
        let signals = StopSignals::install()?;
        let (listener, socket, cleanup, how) = match inherited {
            Some(inherited) => {
                if let Some(warning) = inherited.mode_warning() {
                    log.info(&warning);
                }
                (
                    inherited.listener,
                    inherited.path,
                    None,
                    "socket activation, ",
                )
            }
            None => {
                let (socket, owns_dir) = match &config.socket {
                    Some(path) => (absolute(path)?, config.owns_dir),
                    None => (make_default_socket_path(&default_socket_base())?, true),
                };
                if let Some(warning) = prepare_socket_dir(&socket)? {
                    log.info(&warning);
                }
                let listener = bind_socket(&socket)?;
                let cleanup = SocketCleanup {
                    socket: socket.clone(),
                    owns_dir,
                };
                (listener, Some(socket), Some(cleanup), "")
            }
        };
        listener
            .set_nonblocking(true)
            .map_err(Error::io("set the socket non-blocking"))?;
        let listener = tokio::net::UnixListener::from_std(listener)
            .map_err(Error::io("register the socket"))?;
        let shown = socket.as_ref().map_or_else(
            || "an unnamed socket".to_owned(),
            |s| s.display().to_string(),
        );
        log.info(&format!(
            "mfa-agent {} listening on {shown} ({how}pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        ));
        let mut stdout = std::io::stdout();
        if detached {
            let _ = writeln!(stdout, "{READY}").and_then(|()| stdout.flush());
            let _ = nix::unistd::chdir("/");
        } else if let Some(socket) = &socket {
            let _ = write!(
                stdout,
                "{}",
                eval_lines(config.shell, socket, std::process::id())
            )
            .and_then(|()| stdout.flush());
        }
        let agent = Arc::new(Agent::new(
            config.default_lifetime,
            Confirmer::from_env(),
            log,
        ));
        let parent = config.exit_with_parent.then(nix::unistd::getppid);
        serve(listener, agent, signals, parent, config.limits).await?;
        drop(cleanup);
        Ok(())
    })
}

/// Removes the socket (and the folder made for it) when the agent stops, even on error.
struct SocketCleanup {
    socket: PathBuf,
    owns_dir: bool,
}

impl Drop for SocketCleanup {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.socket);
        if self.owns_dir {
            if let Some(dir) = self.socket.parent() {
                let _ = fs::remove_dir(dir);
            }
        }
    }
}

/// Starts a detached agent (this program with `--detached`) and waits until it serves.
///
/// With `tied`, the agent stops by itself if this process disappears.
fn spawn_detached(config: &Config, tied: bool) -> Result<(Child, PathBuf)> {
    let (socket, owns_dir) = match &config.socket {
        Some(path) => (absolute(path)?, false),
        None => (make_default_socket_path(&default_socket_base())?, true),
    };
    let log_file = open_log_file(config.log_file.clone())?;
    let exe = std::env::current_exe().map_err(Error::io("find the mfa-agent program"))?;
    let mut command = Command::new(exe);
    command.arg("--detached").arg("-a").arg(&socket);
    if owns_dir {
        command.arg("--owns-dir");
    }
    if tied {
        command.arg("--exit-with-parent");
    }
    if let Some(secs) = config.default_lifetime {
        command.arg("-t").arg(secs.to_string());
    }
    command
        .arg("--max-connections")
        .arg(config.limits.max_connections.to_string())
        .arg("--frame-timeout")
        .arg(config.limits.frame_timeout.as_secs().to_string());
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(Error::io("start the agent process"))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    if line.trim_end() == READY {
        return Ok((child, socket));
    }
    let _ = child.kill();
    let _ = child.wait();
    let message = line.trim_end().trim_start_matches("error: ");
    Err(Error::Agent(if message.is_empty() {
        "the agent process exited before it was ready (see its log file)".into()
    } else {
        message.to_owned()
    }))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .map_err(Error::io("find the current folder"))?
        .join(path))
}

/// The forked agent's log: `--log-file`, else `$XDG_STATE_HOME/cloudhsm-mfa/agent.log`, else
/// `~/.local/state/cloudhsm-mfa/agent.log`; folder 0700, file 0600, appended.
fn open_log_file(explicit: Option<PathBuf>) -> Result<fs::File> {
    let path = match explicit {
        Some(p) => p,
        None => {
            let state = std::env::var_os("XDG_STATE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
                .ok_or_else(|| {
                    Error::Agent("neither XDG_STATE_HOME nor HOME is set; use --log-file".into())
                })?;
            state.join("cloudhsm-mfa").join("agent.log")
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(Error::io(format!("create {}", dir.display())))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(Error::io(format!("open the log file {}", path.display())))
}

/// `mfa-agent -- CMD ARGS...`: CMD runs with the variables set; the agent stops when it ends.
fn run_command(config: &Config, command: &[OsString]) -> Result<i32> {
    let signals = PassedSignals::register().map_err(Error::io("install signal handlers"))?;
    let (mut agent, socket) = spawn_detached(config, true)?;
    let agent_pid = agent.id();
    let status = Command::new(&command[0])
        .args(&command[1..])
        .env("MFA_AUTH_SOCK", &socket)
        .env("MFA_AGENT_PID", agent_pid.to_string())
        .spawn()
        .and_then(|child| signals.wait(child));
    let _ = kill(Pid::from_raw(agent_pid as i32), Signal::SIGTERM);
    let _ = agent.wait();
    match status {
        Ok(status) => Ok(exit_code(status)),
        Err(e) => {
            eprintln!("error: cannot run {}: {e}", command[0].to_string_lossy());
            Ok(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            })
        }
    }
}

/// How mfa-agent treats signals while CMD runs, as a shell treats a foreground job: ^C and ^\
/// reach CMD from the terminal and must not kill us first (the agent would outlive its
/// command), and SIGTERM or SIGHUP sent to us are passed on to CMD.
struct PassedSignals {
    forward: Vec<(Signal, Arc<AtomicBool>)>,
}

impl PassedSignals {
    /// Installs the handlers; call before CMD starts so no signal slips through.
    fn register() -> std::io::Result<PassedSignals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        let ignored = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGQUIT] {
            signal_hook::flag::register(sig, Arc::clone(&ignored))?;
        }
        let mut forward = Vec::new();
        for (raw, signal) in [(SIGTERM, Signal::SIGTERM), (SIGHUP, Signal::SIGHUP)] {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(raw, Arc::clone(&flag))?;
            forward.push((signal, flag));
        }
        Ok(PassedSignals { forward })
    }

    /// Waits for CMD, passing on what arrives meanwhile.
    fn wait(&self, mut child: Child) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            for (signal, flag) in &self.forward {
                if flag.swap(false, Ordering::Relaxed) {
                    let _ = kill(Pid::from_raw(child.id() as i32), *signal);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The shell convention: the exit code, or 128+N for death by signal N.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// The process name (`/proc/PID/comm`) of a running mfa-agent.
const AGENT_COMM: &str = "mfa-agent";

/// `-k`: stop the agent named by MFA_AGENT_PID and print the lines that unset the variables.
fn kill_agent(shell: Shell) -> Result<()> {
    let text = std::env::var("MFA_AGENT_PID")
        .map_err(|_| Error::Agent("MFA_AGENT_PID is not set; no agent to kill".into()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| Error::Agent(format!("MFA_AGENT_PID={text:?} is not a process id")))?;
    let stale = |what: String| Error::WithHint {
        message: format!("no mfa-agent runs as pid {pid}: {what}"),
        hint: "MFA_AGENT_PID is left from an agent that is gone; clear it with: \
               unset MFA_AUTH_SOCK MFA_AGENT_PID"
            .into(),
    };
    // A stale MFA_AGENT_PID (an agent stopped, the pid reused) must not stop whatever
    // process now has that pid. /proc/PID/comm stays readable for a non-dumpable agent.
    if let Ok(comm) = fs::read_to_string(format!("/proc/{pid}/comm")) {
        if comm.trim_end() != AGENT_COMM {
            return Err(stale(format!("that process is {:?}", comm.trim_end())));
        }
    }
    kill(Pid::from_raw(pid), Signal::SIGTERM).map_err(|e| match e {
        nix::errno::Errno::ESRCH => stale("no such process".into()),
        e => Error::Agent(format!("cannot stop agent pid {pid}: {e}")),
    })?;
    // Wait until it has removed its socket and exited, so the caller sees no socket left.
    let deadline = Instant::now() + KILL_WAIT;
    while is_running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    print!("{}", unset_lines(shell, pid));
    Ok(())
}

/// True while `pid` exists and is not a zombie waiting to be reaped.
fn is_running(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => kill(Pid::from_raw(pid), None).is_ok(),
    }
}

/// The lines for `eval`, as ssh-agent prints them.
pub fn eval_lines(shell: Shell, socket: &Path, pid: u32) -> String {
    let sock = shell_quote(&socket.to_string_lossy());
    match shell {
        Shell::Sh => format!(
            "MFA_AUTH_SOCK={sock}; export MFA_AUTH_SOCK;\nMFA_AGENT_PID={pid}; export MFA_AGENT_PID;\necho Agent pid {pid};\n"
        ),
        Shell::Csh => format!(
            "setenv MFA_AUTH_SOCK {sock};\nsetenv MFA_AGENT_PID {pid};\necho Agent pid {pid};\n"
        ),
    }
}

fn unset_lines(shell: Shell, pid: i32) -> String {
    match shell {
        Shell::Sh => {
            format!("unset MFA_AUTH_SOCK;\nunset MFA_AGENT_PID;\necho Agent pid {pid} killed;\n")
        }
        Shell::Csh => format!(
            "unsetenv MFA_AUTH_SOCK;\nunsetenv MFA_AGENT_PID;\necho Agent pid {pid} killed;\n"
        ),
    }
}

/// Single-quotes a path when it holds anything a shell would interpret.
fn shell_quote(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%".contains(c));
    if plain && !text.is_empty() {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_lines_match_ssh_agent() {
        assert_eq!(
            eval_lines(Shell::Sh, Path::new("/run/a/agent.sock"), 42),
            "MFA_AUTH_SOCK=/run/a/agent.sock; export MFA_AUTH_SOCK;\nMFA_AGENT_PID=42; export MFA_AGENT_PID;\necho Agent pid 42;\n"
        );
        assert!(eval_lines(Shell::Csh, Path::new("/a b"), 7)
            .starts_with("setenv MFA_AUTH_SOCK '/a b';\n"));
    }

    #[test]
    fn quotes_what_a_shell_would_split() {
        assert_eq!(shell_quote("/tmp/x"), "/tmp/x");
        assert_eq!(shell_quote("/tmp/it's"), "'/tmp/it'\\''s'");
    }
}
