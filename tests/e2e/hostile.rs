//! A hostile plugin against real Prosody: while one user's plugin instance
//! makes every attack of the probe (oversized ids and errors, a presence
//! flood, a message flood, a wait in the host, a loop, a memory hog, a
//! trap), another user's stream of messages arrives whole and in order,
//! the component link never drops, the attacker's session comes back, and
//! the gateway still stops cleanly; and a SIGTERM while a call blocks in
//! the host ends the process within the shutdown's bound.

use std::time::Duration;

use gatehouse_tests::process::{GatewayProcess, run_script};
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET};

#[test]
fn a_hostile_plugin_hurts_only_its_own_user() {
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    prosody.register_user("romeo", "pass");
    prosody.register_user("juliet", "pass");
    let mut gateway = GatewayProcess::start_gateway(
        &prosody.component_address(),
        GATEWAY,
        "probe",
        "call_timeout_ms = 3000\nmemory_mb = 32",
    );
    let attacks = [
        "bigid 600000",
        "bigerror 600000",
        "presences 50000",
        "flood 500",
        "block 60000",
        "spin",
        "hog",
        "crash",
    ];
    let mut args = vec![
        "--server".to_owned(),
        format!("127.0.0.1:{}", prosody.c2s_port),
        "--gateway".to_owned(),
        GATEWAY.to_owned(),
    ];
    for attack in attacks {
        args.extend(["--attack".to_owned(), attack.to_owned()]);
    }
    let out = run_script("hostile.py", &args);
    let log = gateway.log();

    // The victim's stream, whole, in order, once each, no error: it went
    // on for as long as the attacks did.
    let sent = out["victim_sent"].as_u64().expect("victim_sent") as usize;
    let answers: Vec<String> = out["victim_answers"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: Vec<String> = (1..=sent).map(|k| k.to_string()).collect();
    assert_eq!(answers, expected, "the victim's answers\n{log}");
    assert_eq!(out["victim_errors"], serde_json::json!([]), "{log}");

    // Each attack ended for the attacker alone, as it should.
    let outcome = |attack: &str| {
        out["attacks"]
            .as_array()
            .and_then(|all| all.iter().find(|o| o["attack"] == attack))
            .unwrap_or_else(|| panic!("no outcome for {attack}: {out}"))
            .clone()
    };
    let answer = |attack: &str| {
        let got = outcome(attack);
        assert!(got["error"].is_null(), "{attack}: {got}");
        got["answer"]["body"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        answer("bigid 600000").starts_with("bigid refused: limit-exceeded: "),
        "{}",
        outcome("bigid 600000")
    );
    let refused = outcome("bigerror 600000");
    let text = refused["error"]["body"].as_str().expect("an error reply");
    assert!(
        text.len() <= 1024 + "…".len() && text.starts_with("eee"),
        "the reason, cut: {} bytes",
        text.len()
    );
    assert_eq!(answer("presences 50000"), "50000 presences set");
    assert_eq!(answer("flood 500"), "flooded 500, 0 refused");
    for (attack, told) in [
        (
            "block 60000",
            "ran past its 3000 ms time limit during a message",
        ),
        ("spin", "ran past its 3000 ms time limit during a message"),
        (
            "hog",
            "used more than its 32 MiB of memory during a message",
        ),
        ("crash", "crashed during a message"),
    ] {
        let got = outcome(attack);
        let notice = got["notice"]["body"].as_str().unwrap_or_default();
        assert!(notice.contains(told), "{attack}: {got}");
        assert_eq!(
            got["error"]["condition"], "internal-server-error",
            "{attack}: {got}"
        );
    }
    // Back within the deadline plus a restart, with wide room for a
    // loaded machine.
    let back = out["back_seconds"].as_f64().expect("back_seconds");
    assert!(back < 30.0, "the attacker waited {back} s\n{log}");

    // The link never dropped: one handshake, no reconnection.
    assert_eq!(log.matches("component link up").count(), 1, "{log}");
    assert!(!log.contains("component link lost"), "{log}");

    // And the gateway stops cleanly.
    gateway.signal("TERM");
    let status = gateway
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("still running 30 s after SIGTERM:\n{}", gateway.log()));
    assert!(status.success(), "exit {status}:\n{}", gateway.log());
    assert!(gateway.log().contains("shut down; database committed"));
}

#[test]
fn sigterm_ends_the_gateway_in_bounded_time_while_a_plugin_call_blocks() {
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    prosody.register_user("romeo", "pass");
    // A call may last ten minutes: the shutdown must not wait for it.
    let mut gateway = GatewayProcess::start_gateway(
        &prosody.component_address(),
        GATEWAY,
        "probe",
        "call_timeout_ms = 600000",
    );
    let args = [
        "--server".to_owned(),
        format!("127.0.0.1:{}", prosody.c2s_port),
        "--gateway".to_owned(),
        GATEWAY.to_owned(),
        "--attack".to_owned(),
        "block 600000".to_owned(),
        "--and-leave".to_owned(),
    ];
    run_script("hostile.py", &args);
    let signalled = std::time::Instant::now();
    gateway.signal("TERM");
    // The session's 8 s, the flush, the runtime's 2 s: inside the unit's
    // TimeoutStopSec (30 s), with room for a loaded machine.
    let status = gateway
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("still running 30 s after SIGTERM:\n{}", gateway.log()));
    let took = signalled.elapsed();
    let log = gateway.log();
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(
        log.contains("the session did not end in time: aborted"),
        "{log}"
    );
    assert!(
        log.contains("sessions ended"),
        "the gateway still went offline: {log}"
    );
    assert!(log.contains("shut down; database committed"), "{log}");
    assert!(
        took >= Duration::from_secs(6),
        "it waited for the session first: {took:?}"
    );
    assert!(took < Duration::from_secs(25), "{took:?}");
}
