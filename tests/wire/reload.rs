//! Hot reload: the plugin file is replaced while messages flow; every
//! message is answered once, in order, and the answers switch to the new
//! code at one point. A broken file is refused and the old code serves on.

use std::path::Path;
use std::time::Duration;

use gatehouse_tests::{GATEWAY, Wire, child_text, plugin};

use crate::{NS, ROMEO};

/// Replaces a file the way deployments should: write, then rename.
fn replace(path: &Path, bytes: &[u8]) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).expect("write the new plugin");
    std::fs::rename(&partial, path).expect("rename it into place");
}

fn chat(id: &str, body: &str) -> String {
    format!(
        "<message type='chat' id='{id}' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>{body}</body></message>"
    )
}

/// The next echo body (skipping receipts).
async fn next_echo(w: &mut Wire) -> String {
    loop {
        let el = w.link.recv().await;
        if let Some(body) = child_text(&el, "body", NS) {
            return body;
        }
    }
}

#[tokio::test]
async fn a_reload_under_load_answers_every_message_once_in_order() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    let path = w.gateway.plugin_path();
    let mut sent = Vec::new();
    for n in 1..=40 {
        if n == 10 {
            replace(&path, &std::fs::read(plugin("echo-v2")).unwrap());
        }
        let body = format!("message {n}");
        w.link.send(&chat(&format!("m{n}"), &body)).await;
        sent.push(body);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut answers = Vec::new();
    for _ in 0..sent.len() {
        answers.push(next_echo(&mut w).await);
    }
    // If the new code was not in yet, keep going until it is.
    let mut n = 0;
    while !answers.last().is_some_and(|a| a.starts_with("v2: ")) {
        n += 1;
        assert!(n < 100, "the reload never took effect: {answers:?}");
        let body = format!("late {n}");
        w.link.send(&chat(&format!("late{n}"), &body)).await;
        sent.push(body);
        answers.push(next_echo(&mut w).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let switch = answers
        .iter()
        .position(|a| a.starts_with("v2: "))
        .expect("a switch");
    for (i, (answer, body)) in answers.iter().zip(&sent).enumerate() {
        let expected = if i < switch {
            body.clone()
        } else {
            format!("v2: {body}")
        };
        assert_eq!(answer, &expected, "answer {i}: once, in order, one switch");
    }

    // A broken file is refused (the watcher counts a failed reload; this
    // is the only test that writes one); the running code serves on.
    let failed = || {
        gatehouse::metrics::METRICS
            .reloads
            .get_or_create(&vec![("outcome", "failed".to_owned())])
            .get()
    };
    let before = failed();
    replace(&path, b"not a component");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while failed() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the broken file was never looked at"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.link.send(&chat("after", "after the broken file")).await;
    assert_eq!(next_echo(&mut w).await, "v2: after the broken file");
    // And the watcher goes on: a good file after it loads.
    replace(
        &path,
        &std::fs::read(plugin("echo")).expect("the echo build"),
    );
    let mut n = 0;
    loop {
        n += 1;
        assert!(n < 100, "the good file after the broken one never loaded");
        w.link.send(&chat(&format!("good{n}"), "good again")).await;
        match next_echo(&mut w).await.as_str() {
            "good again" => break,
            "v2: good again" => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("unexpected answer {other:?}"),
        }
    }
}

/// A file copied over in place (`cp`: no rename, the file truncated and
/// written) is read once the copy is closed: the new code answers.
#[tokio::test]
async fn a_plugin_copied_over_in_place_is_reloaded() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    std::fs::copy(plugin("echo-v2"), w.gateway.plugin_path()).expect("copy over the plugin");
    let mut n = 0;
    loop {
        n += 1;
        assert!(n < 100, "the copied plugin was never loaded");
        w.link.send(&chat(&format!("c{n}"), "after the copy")).await;
        match next_echo(&mut w).await.as_str() {
            "v2: after the copy" => break,
            "after the copy" => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("unexpected answer {other:?}"),
        }
    }
}
