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

/// The stanza corpus's inputs that are not a stanza at all (malformed
/// XML, not UTF-8), fed to the link as bytes: each costs a reconnection,
/// so a spread of at most 40 of them, always the same ones.
#[test]
fn malformed_input_breaks_only_the_link() {
    let broken: Vec<_> = inputs("stanza")
        .into_iter()
        .filter(|(_, data)| !fuzz::is_stanza_text(data))
        .collect();
    assert!(
        !broken.is_empty(),
        "the stanza corpus has no malformed input"
    );
    let step = broken.len().div_ceil(40);
    let chosen: Vec<_> = broken.iter().step_by(step).collect();
    for (path, data) in &chosen {
        let outcome = std::panic::catch_unwind(|| fuzz::raw(data));
        assert!(outcome.is_ok(), "{} fails on the link", path.display());
    }
    eprintln!(
        "raw: {} of {} malformed inputs fed to the link",
        chosen.len(),
        broken.len()
    );
}

#[test]
fn imports() {
    replay("imports", fuzz::imports);
}

#[test]
fn group_imports() {
    replay("group_imports", fuzz::group_imports);
}
