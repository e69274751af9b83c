//! Tests of the safe open: the walk, links, shared folders, the rewrite and append files.

use super::*;
use crate::sys::Replacement;
use std::fs;
use std::io::Read;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::os::unix::fs::PermissionsExt;

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    chmod(dir.path(), 0o700);
    dir
}

#[test]
fn a_file_of_ours_in_a_private_folder_is_read_through_links_among_its_folders() {
    let dir = private_dir();
    fs::create_dir(dir.path().join("real")).expect("mkdir");
    fs::write(dir.path().join("real/t.json"), b"tokens").expect("write");
    chmod(&dir.path().join("real/t.json"), 0o644);
    symlink("real", dir.path().join("via")).expect("ln");
    let mut own = open_own(&dir.path().join("via/../via/t.json")).expect("open");
    let mut text = String::new();
    own.file.read_to_string(&mut text).expect("read");
    assert_eq!(text, "tokens");
    assert_eq!(own.mode(), 0o644);
}

#[test]
fn links_shared_folders_and_writable_files_are_refused() {
    let dir = private_dir();
    let file = dir.path().join("t.json");
    fs::write(&file, b"x").expect("write");
    chmod(&file, 0o600);
    symlink(&file, dir.path().join("link")).expect("ln");
    assert!(matches!(
        open_own(&dir.path().join("link")),
        Err(Unsafe::Link { .. })
    ));
    chmod(&file, 0o620);
    assert!(matches!(
        open_own(&file),
        Err(Unsafe::OthersMayWrite { mode: 0o620, .. })
    ));
    chmod(&file, 0o600);
    fs::hard_link(&file, dir.path().join("second")).expect("ln");
    assert!(matches!(
        open_own(&file),
        Err(Unsafe::HardLinked { links: 2, .. })
    ));
    fs::remove_file(dir.path().join("second")).expect("rm");
    chmod(dir.path(), 0o770);
    assert!(matches!(
        open_own(&file),
        Err(Unsafe::SharedFolder { mode: 0o770, .. })
    ));
    chmod(dir.path(), 0o1777);
    open_own(&file).expect("our own file in a sticky folder");
    chmod(dir.path(), 0o700);
    assert!(matches!(
        open_own(dir.path()),
        Err(Unsafe::NotRegular { .. })
    ));
}

#[test]
fn a_rewrite_replaces_the_file_it_read_and_nothing_else() {
    let dir = private_dir();
    let file = dir.path().join("t.json");
    fs::write(&file, b"old").expect("write");
    chmod(&file, 0o640);
    let own = open_own(&file).expect("open");
    own.begin_replace()
        .expect("begin")
        .commit(b"new", true)
        .expect("commit");
    assert_eq!(fs::read(&file).expect("read"), b"new");
    assert_eq!(fs::metadata(&file).expect("stat").mode() & 0o777, 0o640);

    // Swapped between the read and the rename: refused, and the swapped-in file kept.
    let own = open_own(&file).expect("open");
    let pending = own.begin_replace().expect("begin");
    fs::remove_file(&file).expect("rm");
    fs::write(&file, b"theirs").expect("write");
    assert!(matches!(
        pending.commit(b"signed", false),
        Err(Unsafe::Replaced { .. })
    ));
    assert_eq!(fs::read(&file).expect("read"), b"theirs");

    // An abandoned rewrite leaves no temporary file; a new output is 0600.
    drop(
        open_own(&file)
            .expect("open")
            .begin_replace()
            .expect("begin"),
    );
    let out = dir.path().join("out.json");
    Replacement::create_or_replace(&out)
        .expect("begin")
        .commit(b"x", false)
        .expect("commit");
    assert_eq!(fs::metadata(&out).expect("stat").mode() & 0o777, 0o600);
    let names = fs::read_dir(dir.path()).expect("ls").count();
    assert_eq!(names, 2);
}

#[test]
fn an_append_file_is_created_private_and_an_existing_one_must_be() {
    let dir = private_dir();
    let log = dir.path().join("log");
    writeln!(open_private_append(&log).expect("create"), "one").expect("write");
    assert_eq!(fs::metadata(&log).expect("stat").mode() & 0o777, 0o600);
    writeln!(open_private_append(&log).expect("append"), "two").expect("write");
    assert_eq!(fs::read_to_string(&log).expect("read"), "one\ntwo\n");
    chmod(&log, 0o644);
    assert!(matches!(
        open_private_append(&log),
        Err(Unsafe::OthersMayRead { .. })
    ));
    symlink(&log, dir.path().join("link")).expect("ln");
    assert!(matches!(
        open_private_append(&dir.path().join("link")),
        Err(Unsafe::Link { .. })
    ));
    assert!(matches!(
        open_private_append(&dir.path().join("missing/log")),
        Err(Unsafe::Io { .. })
    ));
}
