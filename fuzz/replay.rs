//! The corpus replay both stable test crates share (proto/tests/corpus.rs,
//! wrapper/tests/corpus.rs): every committed input of a fuzz target through its entry point.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Feeds every file of one target's corpus to `entry`; names each file that panicked.
pub fn replay(target: &str, entry: fn(&[u8])) {
    let files = corpus(target);
    // A corpus that moved or emptied would otherwise pass by checking nothing.
    assert!(
        files.len() >= 5,
        "fuzz/corpus/{target} holds only {} files",
        files.len()
    );
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let bytes = fs::read(path).expect("read corpus file");
            panic::catch_unwind(|| entry(&bytes)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} panicked on: {failed:#?}");
}
