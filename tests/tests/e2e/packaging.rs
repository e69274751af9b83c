//! The packages `packaging/build.sh` makes from the dev build: the .deb, unpacked with
//! `dpkg-deb -x` into a fresh folder, runs each program's `--help` and `--version` from
//! there and holds every file where Debian looks for it (man pages, the overview page in
//! section 7, bash/zsh/fish
//! completions, the systemd user units); the .rpm lists the same with `rpm -qlp`, zsh's in
//! Fedora's folder. Each check is skipped, saying why, where its tool is not installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cloudhsm_mfa_tests::harness::bins::bin;
use cloudhsm_mfa_tests::harness::output::text;
use cloudhsm_mfa_tests::harness::skip;
use cloudhsm_mfa_tests::harness::workdir::WorkDir;

const PROGRAMS: [&str; 5] = [
    "mfa-agent",
    "mfa-add",
    "mfa-login",
    "mfa-sign",
    "mfa-doctor",
];
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
    let program = program.as_ref();
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program:?}: {e}"))
}

/// The one file in `dir` whose name ends with `suffix`.
fn built(dir: &Path, suffix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read the output folder")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
}

/// Runs build.sh over the binaries the tests run, into a fresh folder; never installs tools.
fn build_packages(out: &Path) -> Output {
    let bins = bin("mfa-agent");
    let bin_dir = bins.parent().expect("bin dir");
    let out_arg = out.to_str().expect("UTF-8 path");
    let bin_arg = bin_dir.to_str().expect("UTF-8 path");
    let script = workspace().join("packaging/build.sh");
    let args = [
        "--debug",
        "--no-install",
        "--bin-dir",
        bin_arg,
        "--out",
        out_arg,
    ];
    let output = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("run packaging/build.sh");
    assert!(
        output.status.success(),
        "build.sh failed ({}):\n{}{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

#[test]
fn the_deb_unpacks_into_a_folder_that_runs_and_holds_every_file_and_the_rpm_lists_them() {
    if !has("dpkg-deb") {
        skip("dpkg-deb is not installed (apt-get install dpkg)");
        return;
    }
    let dir = WorkDir::new();
    let out = dir.join("out");
    build_packages(&out);
    let deb = built(&out, ".deb").expect("build.sh made no .deb");
    let name = deb
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&format!("cloudhsm-mfa_{VERSION}_")),
        "{name}"
    );

    let fields = text(
        &run(
            "dpkg-deb",
            &["-f", deb.to_str().expect("path"), "Package", "Depends"],
        )
        .stdout,
    );
    assert!(fields.contains("Package: cloudhsm-mfa"), "{fields}");
    // The agent signs through OpenSSL, linked dynamically: the package must pull it in.
    assert!(fields.contains("libssl"), "{fields}");

    let root = dir.join("root");
    let unpacked = run(
        "dpkg-deb",
        &[
            "-x",
            deb.to_str().expect("path"),
            root.to_str().expect("path"),
        ],
    );
    assert!(
        unpacked.status.success(),
        "dpkg-deb -x: {}",
        text(&unpacked.stderr)
    );
    for program in PROGRAMS {
        let exe = root.join("usr/bin").join(program);
        let help = run(&exe, &["--help"]);
        assert!(
            help.status.success(),
            "{program} --help: {}",
            text(&help.stderr)
        );
        assert!(
            text(&help.stdout).contains(&format!("Usage: {program}")),
            "{}",
            text(&help.stdout)
        );
        let version = text(&run(&exe, &["--version"]).stdout);
        assert!(
            version.starts_with(&format!("{program} {VERSION} (")),
            "{version}"
        );
        assert_deb_files(&root, program);
    }
    assert_gzipped_page(&root, "man7/cloudhsm-mfa.7");
    assert_doc_links_resolve(&root.join("usr/share/doc/cloudhsm-mfa"));
    // mfa-agent and mfa-add name the agent crate's crypto backend, mfa-login and mfa-sign
    // say the agent signs.
    let agent = text(&run(root.join("usr/bin/mfa-agent"), &["--version"]).stdout);
    assert!(agent.contains(" (crypto: "), "{agent}");

    let units = root.join("usr/lib/systemd/user");
    let service =
        std::fs::read_to_string(units.join("mfa-agent.service")).expect("the service unit");
    assert!(
        service.contains(
            "\nExecStart=/usr/bin/mfa-agent -D --log syslog -a %t/mfa-agent/agent.sock\n"
        ),
        "{service}"
    );
    let socket = std::fs::read_to_string(units.join("mfa-agent.socket")).expect("the socket unit");
    assert!(
        socket.contains("\nListenStream=%t/mfa-agent/agent.sock\n"),
        "{socket}"
    );
    // `systemctl --user help mfa-agent` opens our pages, not ssh-agent's.
    for unit in [&service, &socket] {
        assert!(
            unit.contains("\nDocumentation=man:mfa-agent(1) man:cloudhsm-mfa(7)\n"),
            "{unit}"
        );
    }

    check_rpm(&out);
}

/// Every relative link in the packaged Markdown names a file the package holds: the README,
/// agent/ and wrapper/ READMEs and docs/ keep the source's layout, so what works in the source
/// works installed.
fn assert_doc_links_resolve(doc: &Path) {
    let mut pages = vec![
        doc.join("README.md"),
        doc.join("agent/README.md"),
        doc.join("wrapper/README.md"),
    ];
    let docs = std::fs::read_dir(doc.join("docs")).expect("docs/ in the package");
    pages.extend(docs.map(|e| e.expect("entry").path()));
    assert!(pages.len() > 3, "no docs/*.md in the package");
    let mut links = 0;
    for page in &pages {
        let markdown =
            std::fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        for target in markdown
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            let file = target.split('#').next().unwrap_or_default();
            if file.is_empty() || target.contains("://") {
                continue;
            }
            let folder = page.parent().expect("folder");
            assert!(
                folder.join(file).is_file(),
                "{}: the link {target} names no file of the package",
                page.display()
            );
            links += 1;
        }
    }
    assert!(links > 0, "no relative links checked");
}

/// The man page `usr/share/man/{page}.gz` is the committed `packaging/man/` file, gzipped.
fn assert_gzipped_page(root: &Path, page: &str) {
    let installed = root.join(format!("usr/share/man/{page}.gz"));
    let unzipped = run("gzip", &["-dc", installed.to_str().expect("path")]);
    assert!(
        unzipped.status.success(),
        "{}: {}",
        installed.display(),
        text(&unzipped.stderr)
    );
    let name = Path::new(page).file_name().expect("name");
    let committed = workspace().join("packaging/man").join(name);
    assert_eq!(
        unzipped.stdout,
        std::fs::read(&committed).expect("the committed page"),
        "{page}"
    );
}

/// Man page, completions: in Debian's folders, and the very files packaging/ keeps.
fn assert_deb_files(root: &Path, program: &str) {
    assert_gzipped_page(root, &format!("man1/{program}.1"));
    let packaging = workspace().join("packaging");
    let committed = |path: &str| std::fs::read(packaging.join(path)).expect(path);
    for (installed, source) in [
        (
            format!("usr/share/bash-completion/completions/{program}"),
            format!("completions/bash/{program}"),
        ),
        (
            format!("usr/share/zsh/vendor-completions/_{program}"),
            format!("completions/zsh/_{program}"),
        ),
        (
            format!("usr/share/fish/vendor_completions.d/{program}.fish"),
            format!("completions/fish/{program}.fish"),
        ),
    ] {
        let bytes =
            std::fs::read(root.join(&installed)).unwrap_or_else(|e| panic!("{installed}: {e}"));
        assert_eq!(bytes, committed(&source), "{installed}");
    }
}

fn check_rpm(out: &Path) {
    let Some(rpm) = built(out, ".rpm") else {
        skip("the .rpm check: rpmbuild is not installed (apt-get install rpm)");
        return;
    };
    if !has("rpm") {
        skip("the .rpm check: rpm is not installed");
        return;
    }
    let listed = run("rpm", &["-qlp", rpm.to_str().expect("path")]);
    assert!(
        listed.status.success(),
        "rpm -qlp: {}",
        text(&listed.stderr)
    );
    let files = text(&listed.stdout);
    let files: Vec<&str> = files.lines().collect();
    let mut wanted = vec![
        "/usr/lib/systemd/user/mfa-agent.service".to_owned(),
        "/usr/lib/systemd/user/mfa-agent.socket".to_owned(),
        "/usr/share/man/man7/cloudhsm-mfa.7.gz".to_owned(),
    ];
    for p in PROGRAMS {
        wanted.push(format!("/usr/bin/{p}"));
        wanted.push(format!("/usr/share/man/man1/{p}.1.gz"));
        wanted.push(format!("/usr/share/bash-completion/completions/{p}"));
        wanted.push(format!("/usr/share/zsh/site-functions/_{p}"));
        wanted.push(format!("/usr/share/fish/vendor_completions.d/{p}.fish"));
    }
    for path in &wanted {
        assert!(
            files.contains(&path.as_str()),
            "{path} is not in the .rpm: {files:#?}"
        );
    }
    let requires = text(&run("rpm", &["-qRp", rpm.to_str().expect("path")]).stdout);
    assert!(requires.contains("libssl.so.3"), "{requires}");
}
