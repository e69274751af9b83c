//! The CloudHSM CLI simulator: the MFA parts of cloudhsm-cli, faithful enough to test against.
//!
//! Same command lines as the real CLI (see [`args`]), configured through `CLOUDHSM_SIM_*`
//! environment variables (see [`config`]), users kept in a JSON state file (see [`state`]),
//! every password given written to a log (see [`record`]); `mgmt-util` is cloudhsm_mgmt_util's
//! 2FA commands (see [`mgmt`]).

pub mod args;
pub mod authdata;
pub mod commands;
pub mod config;
pub mod editor;
pub mod fixture;
pub mod mgmt;
pub mod record;
pub mod state;
pub mod term;
pub mod tokens;

use clap::error::ErrorKind;
use clap::Parser;

use args::{ChangeMfaStrategy, Cli, Command, KeyCommand, UserCommand};
use commands::{Context, Outcome};
use config::Config;
use term::Terminal;

/// Whether to keep reading commands.
enum Flow {
    Continue,
    Quit,
}

/// Runs one command line (or the interactive shell); returns the exit status.
pub fn run(config: Config, command: Command) -> i32 {
    let term = Terminal::new(&config);
    let mut ctx = Context {
        config,
        term,
        logged_in: None,
    };
    match command {
        Command::Interactive => {
            shell(&mut ctx);
            0
        }
        Command::MgmtUtil => {
            mgmt::shell(&mut ctx);
            0
        }
        command => match execute(&mut ctx, command) {
            (_, true) => 0,
            (_, false) => 1,
        },
    }
}

/// Runs one command and prints its result; returns whether to go on and whether it succeeded.
fn execute(ctx: &mut Context, command: Command) -> (Flow, bool) {
    let result = match command {
        Command::Quit | Command::Exit => return (Flow::Quit, true),
        Command::Interactive | Command::MgmtUtil => {
            Ok(Outcome::Failure("already in interactive mode".into()))
        }
        Command::Login(args) => commands::login(ctx, args),
        Command::Logout => commands::logout(ctx),
        Command::User { command } => match command {
            UserCommand::Create(args) => commands::create_user(ctx, args),
            UserCommand::ChangePassword(args) => commands::change_password(ctx, args),
            UserCommand::ChangeMfa {
                strategy: ChangeMfaStrategy::TokenSign(args),
            } => commands::change_mfa(ctx, args),
        },
        Command::AddUser(args) => commands::add_user(ctx, args),
        Command::Key {
            command: KeyCommand::List,
        } => commands::key_list(ctx),
    };
    let outcome = result.unwrap_or_else(|e| Outcome::Failure(format!("{e:#}")));
    report(ctx, &outcome);
    (Flow::Continue, outcome.is_success())
}

fn report(ctx: &mut Context, outcome: &Outcome) {
    // Nowhere left to report a failure to write the result: the reader has gone.
    let _ = ctx.term.print_json(&outcome.to_json());
}

/// The interactive shell: `aws-cloudhsm > `, one command per line, until quit or end of input.
fn shell(ctx: &mut Context) {
    loop {
        let line = match ctx.term.read_command() {
            Ok(Some(line)) => line,
            Ok(None) | Err(_) => return,
        };
        let Some(words) = args::split_line(&line) else {
            report(ctx, &Outcome::Failure("unterminated quote".into()));
            continue;
        };
        if words.is_empty() {
            continue;
        }
        let argv = std::iter::once("cloudhsm-cli".to_owned()).chain(words);
        match Cli::try_parse_from(argv) {
            Ok(cli) => {
                if let (Flow::Quit, _) = execute(ctx, cli.command) {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
                let _ = ctx.term.print(&e.to_string());
            }
            Err(e) => {
                let message = e.to_string();
                let first = message.lines().next().unwrap_or_default();
                let first = first.trim_start_matches("error: ").to_owned();
                report(ctx, &Outcome::Failure(first));
            }
        }
    }
}
