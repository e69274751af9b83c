//! The man pages and shell completions of mfa-agent, mfa-add, mfa-login, mfa-sign and
//! mfa-doctor, rendered
//! from the very clap definitions the programs parse with, so they cannot drift from `--help`,
//! and the overview page cloudhsm-mfa(7). What clap does not know (a page's ENVIRONMENT,
//! FILES and EXAMPLES, the overview's walkthrough) is written by hand in `pages/` (`man`,
//! `markup`).
//!
//! Each program's `cli.rs` is compiled into this crate through `#[path]`, unchanged: no option
//! is written down twice. `cargo run -p cloudhsm-mfa-docgen` writes the files under
//! `packaging/` (committed, so packaging needs no Rust build of its own); `tests/fresh.rs`
//! renders them in memory and fails when a committed file differs from what the definitions
//! give today.

use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

pub mod man;
pub mod markup;

// Only `Args` is used here; the rest of each file serves its own program.
#[allow(dead_code)]
#[path = "../../../agent/src/bin/mfa-add/cli.rs"]
mod mfa_add;
#[allow(dead_code)]
#[path = "../../../agent/src/bin/mfa-agent/cli.rs"]
mod mfa_agent;
#[path = "../../../wrapper/src/bin/mfa-doctor/cli.rs"]
mod mfa_doctor;
#[allow(dead_code)]
#[path = "../../../wrapper/src/bin/mfa-login/cli.rs"]
mod mfa_login;
#[allow(dead_code)]
#[path = "../../../wrapper/src/bin/mfa-sign/cli.rs"]
mod mfa_sign;

/// The shells whose completions are shipped, with the file name each one looks for.
pub const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "bash/{}"),
    (Shell::Zsh, "zsh/_{}"),
    (Shell::Fish, "fish/{}.fish"),
];

/// One generated file: its path relative to `packaging/`, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// The programs' names and command lines, as clap builds them for `--help`.
pub fn programs() -> Vec<(&'static str, clap::Command)> {
    vec![
        ("mfa-agent", mfa_agent::Args::command()),
        ("mfa-add", mfa_add::Args::command()),
        ("mfa-login", mfa_login::Args::command()),
        ("mfa-sign", mfa_sign::Args::command()),
        ("mfa-doctor", mfa_doctor::Args::command()),
    ]
}

/// Every generated file, in a fixed order: `man/NAME.1`, then each shell's completion, for
/// each program; last the overview page `man/cloudhsm-mfa.7`.
pub fn render() -> io::Result<Vec<Generated>> {
    let mut files = Vec::new();
    let names: Vec<&str> = programs().into_iter().map(|(name, _)| name).collect();
    for (name, command) in programs() {
        // The page names the package version only: `--version` also names the crypto backend,
        // which may be read from the OpenSSL a build links, and a page that changed with it
        // would be stale on one machine and fresh on the next.
        let command = command.version(env!("CARGO_PKG_VERSION"));
        files.push(Generated {
            path: PathBuf::from(format!("man/{name}.1")),
            contents: man::program_page(name, &command, &names),
        });
        let mut shown = without_hidden_options(name, &command);
        for (shell, pattern) in SHELLS {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut shown, name, &mut script);
            if shell == Shell::Bash && runs_a_command(&command) {
                script = complete_the_command_after_dashes(script, name);
            }
            script = complete_keys_from_the_agent(script, shell);
            files.push(Generated {
                path: Path::new("completions").join(pattern.replace("{}", name)),
                contents: script,
            });
        }
    }
    let (overview, section) = man::OVERVIEW;
    files.push(Generated {
        path: PathBuf::from(format!("man/{overview}.{section}")),
        contents: man::overview_page(&programs()),
    });
    Ok(files)
}

/// What lists the agent's key fingerprints for a completion: `mfa-add -l`'s second field.
const AGENT_KEYS: &str = "mfa-add -l 2>/dev/null | cut -d' ' -f2";

/// `--key FP` and `--new-key FP` complete with the fingerprints of the keys in the agent
/// (`mfa-add -l`), not file names: bash's and fish's scripts are rewritten where clap put
/// its default. zsh keeps clap's default.
fn complete_keys_from_the_agent(script: Vec<u8>, shell: Shell) -> Vec<u8> {
    let text = String::from_utf8_lossy(&script).into_owned();
    let text = match shell {
        Shell::Bash => {
            let mut out = String::new();
            let mut in_key_case = false;
            for line in text.split_inclusive('\n') {
                let trimmed = line.trim();
                if trimmed == "--key)" || trimmed == "--new-key)" {
                    in_key_case = true;
                } else if in_key_case && trimmed == "COMPREPLY=($(compgen -f \"${cur}\"))" {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    out.push_str(&format!(
                        "{indent}COMPREPLY=($(compgen -W \"$({AGENT_KEYS})\" -- \"${{cur}}\"))\n"
                    ));
                    in_key_case = false;
                    continue;
                } else if trimmed.ends_with(')') {
                    in_key_case = false;
                }
                out.push_str(line);
            }
            out
        }
        Shell::Fish => {
            text.lines()
                .map(|line| {
                    if line.contains(" -l key ") || line.contains(" -l new-key ") {
                        format!("{line} -f -a \"({AGENT_KEYS})\"")
                    } else {
                        line.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }
        _ => text,
    };
    text.into_bytes()
}

/// Whether the program's last argument is a command to run (`mfa-login -- COMMAND`).
fn runs_a_command(command: &clap::Command) -> bool {
    command
        .get_arguments()
        .any(|a| a.get_value_hint() == clap::ValueHint::CommandWithArguments)
}

/// clap's bash script completes options only, also after `--` (its bash generator ignores
/// `ValueHint::CommandWithArguments`, which zsh's and fish's follow). This wraps clap's
/// function so that after `--` the command being run and its own arguments complete, as in
/// sudo's completion: through bash-completion's `_command_offset` where it is loaded, else
/// command names, then file names.
fn complete_the_command_after_dashes(script: Vec<u8>, name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(&script).into_owned();
    let Some(clap_function) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("complete -F "))
        .and_then(|rest| rest.split_whitespace().next())
    else {
        return script;
    };
    let ours = format!("_{}_command", name.replace('-', "_"));
    let wrapper = format!(
        r#"
# Added by mfa-docgen: after `--`, complete the command {name} runs, then its arguments.
{ours}() {{
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ "${{COMP_WORDS[i]}}" == "--" ]]; then
            if declare -F _command_offset >/dev/null; then
                _command_offset $((i + 1))
            elif ((i + 1 == COMP_CWORD)); then
                COMPREPLY=( $(compgen -c -- "${{COMP_WORDS[COMP_CWORD]}}") )
            else
                COMPREPLY=( $(compgen -f -- "${{COMP_WORDS[COMP_CWORD]}}") )
            fi
            return 0
        fi
    done
    {clap_function} "$@"
}}
complete -F {ours} -o bashdefault -o default {name}
"#
    );
    (text + &wrapper).into_bytes()
}

/// `command` without its hidden options: clap_complete offers hidden options too (mfa-agent's
/// internal `--detached` would complete), and clap has no way to remove an argument, so the
/// completions are made from a copy that never had them. Completions need only the names,
/// the options and their groups.
fn without_hidden_options(name: &'static str, command: &clap::Command) -> clap::Command {
    let mut shown = clap::Command::new(name).version(env!("CARGO_PKG_VERSION"));
    if let Some(about) = command.get_about() {
        shown = shown.about(about.clone());
    }
    let visible = command.get_arguments().filter(|arg| !arg.is_hide_set());
    shown = shown.args(visible.cloned());
    // A group naming a hidden option (the derive's own `Args` group names them all) would
    // name an option the copy lacks; completions do not use groups' rules anyway.
    let hidden = |id: &clap::Id| {
        command
            .get_arguments()
            .any(|a| a.get_id() == id && a.is_hide_set())
    };
    let groups = command.get_groups().filter(|g| !g.get_args().any(hidden));
    shown.groups(groups.cloned())
}

/// `packaging/`, where the generated files are kept.
pub fn packaging_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("packaging"), Path::to_path_buf)
}

/// The files under `dir` that differ from `files` (or are missing), and the files under the
/// generated folders that nothing generates any more (a renamed program's leftovers).
pub fn stale(dir: &Path, files: &[Generated]) -> io::Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    for file in files {
        match std::fs::read(dir.join(&file.path)) {
            Ok(bytes) if bytes == file.contents => {}
            Ok(_) => stale.push(file.path.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => stale.push(file.path.clone()),
            Err(e) => return Err(e),
        }
    }
    for folder in [
        "man",
        "completions/bash",
        "completions/zsh",
        "completions/fish",
    ] {
        let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
            continue;
        };
        for entry in entries {
            let path = Path::new(folder).join(entry?.file_name());
            if !files.iter().any(|f| f.path == path) {
                stale.push(path);
            }
        }
    }
    Ok(stale)
}

/// Writes `files` under `dir`, creating folders, and removes leftovers that [`stale`] finds.
pub fn write(dir: &Path, files: &[Generated]) -> io::Result<()> {
    for path in stale(dir, files)? {
        if let Some(file) = files.iter().find(|f| f.path == path) {
            let target = dir.join(&file.path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(target, &file.contents)?;
        } else {
            std::fs::remove_file(dir.join(path))?;
        }
    }
    Ok(())
}
