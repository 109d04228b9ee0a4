//! Replays what fuzzing kept: each target's corpus (`fuzz/corpus/<target>`)
//! and every crash it found (`fuzz/regressions/<target>`), through the same
//! bodies the fuzzer runs (`gatehouse_tests::fuzz`), on stable, in CI.

use std::path::PathBuf;

use gatehouse_tests::{fuzz, workspace};

/// The kept inputs of a target: its corpus and its regressions.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = workspace().join("fuzz").join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                let data = std::fs::read(&path).expect("read an input");
                inputs.push((path, data));
            }
        }
    }
    inputs.sort();
    inputs
}

fn replay(target: &str, body: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "fuzz/corpus/{target} is empty");
    for (path, data) in &inputs {
        let outcome = std::panic::catch_unwind(|| body(data));
        assert!(outcome.is_ok(), "{} fails again", path.display());
    }
    eprintln!("{target}: {} inputs replayed", inputs.len());
}

#[test]
fn escaping() {
    replay("escaping", fuzz::escaping);
}

#[test]
fn config() {
    replay("config", fuzz::config);
}

#[test]
fn registration() {
    replay("registration", fuzz::registration);
}

#[test]
fn stanza() {
    replay("stanza", fuzz::stanza);
}

#[test]
fn imports() {
    replay("imports", fuzz::imports);
}
