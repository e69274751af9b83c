//! The committed man pages and completions are what the clap definitions give today, and they
//! cover every option `--help` shows (and none that it hides).

use cloudhsm_mfa_docgen::{packaging_dir, programs, render, stale};

#[test]
fn committed_man_pages_and_completions_match_the_clap_definitions() {
    let files = render().expect("render");
    let stale = stale(&packaging_dir(), &files).expect("compare");
    assert!(
        stale.is_empty(),
        "stale generated files under packaging/: {stale:?}\n\
         regenerate them with: cargo run -p cloudhsm-mfa-docgen"
    );
}

#[test]
fn every_shown_option_is_in_the_man_page_and_every_completion() {
    let files = render().expect("render");
    for (name, mut command) in programs() {
        assert_eq!(command.get_name(), name);
        // Adds --help and --version, as parsing does.
        command.build();
        let file = |path: &str| {
            let found = files.iter().find(|f| f.path.to_str() == Some(path));
            String::from_utf8(found.expect(path).contents.clone()).expect("utf-8")
        };
        let page = file(&format!("man/{name}.1"));
        let bash = file(&format!("completions/bash/{name}"));
        let zsh = file(&format!("completions/zsh/_{name}"));
        let fish = file(&format!("completions/fish/{name}.fish"));
        let mut longs = 0;
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            // roff escapes each '-' of an option as '\-'.
            let in_page = page.contains(&format!("\\-\\-{}", long.replace('-', "\\-")));
            let in_bash = bash.contains(&format!("--{long}"));
            let in_zsh = zsh.contains(&format!("--{long}"));
            let in_fish = fish.contains(&format!("-l {long}"));
            let everywhere = in_page && in_bash && in_zsh && in_fish;
            if arg.is_hide_set() {
                assert!(
                    !in_page && !in_bash,
                    "{name}: hidden --{long} is documented"
                );
            } else {
                assert!(
                    everywhere,
                    "{name}: --{long} page {in_page} bash {in_bash} zsh {in_zsh} fish {in_fish}"
                );
                longs += 1;
            }
        }
        // --help and --version at least, so the loop above looked at something.
        assert!(longs >= 2, "{name}: only {longs} long options");
    }
}

#[test]
fn the_agent_page_leaves_out_the_internal_options() {
    let files = render().expect("render");
    let page = files
        .iter()
        .find(|f| f.path.ends_with("mfa-agent.1"))
        .map(|f| String::from_utf8_lossy(&f.contents).into_owned())
        .expect("mfa-agent.1");
    assert!(page.contains("\\-\\-log\\-file"));
    for internal in [
        "detached",
        "owns\\-dir",
        "exit\\-with\\-parent",
        "max\\-connections",
    ] {
        assert!(!page.contains(internal), "{internal} is in the man page");
    }
}

#[test]
fn bash_completes_the_command_after_dashes_only_for_programs_that_run_one() {
    let files = render().expect("render");
    let bash = |name: &str| {
        let path = format!("completions/bash/{name}");
        let found = files
            .iter()
            .find(|f| f.path.to_str() == Some(path.as_str()));
        String::from_utf8_lossy(&found.expect("bash completion").contents).into_owned()
    };
    for runs in ["mfa-login", "mfa-agent"] {
        let script = bash(runs);
        assert!(script.contains("_command_offset $((i + 1))"), "{runs}");
        let ours = format!("complete -F _{}_command ", runs.replace('-', "_"));
        // Ours is the last `complete`, so it replaces clap's for the program.
        assert!(
            script
                .trim_end()
                .lines()
                .last()
                .is_some_and(|l| l.starts_with(&ours)),
            "{runs}"
        );
    }
    for runs_none in ["mfa-add", "mfa-sign"] {
        assert!(!bash(runs_none).contains("_command_offset"), "{runs_none}");
    }
}
