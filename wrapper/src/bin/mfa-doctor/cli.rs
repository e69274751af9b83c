//! mfa-doctor's command line.

const AFTER_HELP: &str = "\
Checks, one line each: the agent the environment names (MFA_AUTH_SOCK, else a forwarded
mfa-agent at SSH_AUTH_SOCK): reachable, mfa-agent and not a plain ssh-agent, not locked; its
keys, and whether a login knows which to sign with; where a forked agent logs; where
cloudhsm-cli is (PATH, else /opt/cloudhsm/bin); on an ssh session, how the agent was forwarded;
ForwardAgent lines in ~/.ssh/config that forward nothing or another agent. Each line starts
with ok, note, warning or error; a problem says how to fix it. Colour on a terminal unless
NO_COLOR is set. Nothing is changed.

Exit status: 0 when nothing stops a login; 1 when something does; 2 bad arguments.";

#[derive(clap::Parser, Debug)]
#[command(name = "mfa-doctor", version = cloudhsm_mfa_wrapper::VERSION, about = "Check that a hands-free CloudHSM MFA login would work here", after_help = AFTER_HELP)]
pub struct Args {
    /// The key a login would be given with --key: a SHA256: fingerprint (or a prefix of one)
    /// or its comment.
    #[arg(long, value_name = "FP")]
    pub key: Option<String>,
}
