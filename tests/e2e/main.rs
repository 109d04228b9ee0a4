//! End to end: a real Prosody, the real `gatehouse` binary with the echo
//! plugin, and a real XMPP client (slixmpp).
//!
//! The echo suite runs against each build of the echo network (Rust,
//! JavaScript, Python): every test below is one function of the plugin's
//! name, and `echo_suite!` makes one `#[test]` per build of it.

mod adhoc;
mod authoring;
mod cli;
mod commands;
mod durability;
mod irc;
mod operating;

use gatehouse_tests::process::{GatewayProcess, run_client};
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET};
use serde_json::Value;

/// One `#[test]` per build of the echo network for each test function.
macro_rules! echo_suite {
    ($($test:ident),* $(,)?) => {
        mod rust {
            $(#[test] fn $test() { super::$test("echo") })*
        }
        mod javascript {
            $(#[test] fn $test() { super::$test("echo-js") })*
        }
        mod python {
            $(#[test] fn $test() { super::$test("echo-py") })*
        }
    };
}

echo_suite!(
    two_users_register_get_their_rosters_and_echoes,
    a_thousand_contacts_fill_the_roster,
    the_gateway_reconnects_when_prosody_restarts,
    sigusr1_reloads_the_plugin_and_the_sessions_move_to_it,
    each_command_shows_on_the_client_and_ids_survive_a_restart,
);

use commands::each_command_shows_on_the_client_and_ids_survive_a_restart;

fn setup(plugin: &str, users: &[&str]) -> (Prosody, GatewayProcess) {
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    for user in users {
        prosody.register_user(user, "pass");
    }
    let gateway = GatewayProcess::start_plugin(&prosody.component_address(), plugin);
    (prosody, gateway)
}

fn client_args(prosody: &Prosody, users: &[(&str, u32)]) -> Vec<String> {
    let mut args = vec![
        "--server".to_owned(),
        format!("127.0.0.1:{}", prosody.c2s_port),
        "--gateway".to_owned(),
        GATEWAY.to_owned(),
    ];
    for (user, contacts) in users {
        args.push("--user".to_owned());
        args.push(format!("{user}:pass:{user}:{contacts}"));
    }
    args
}

fn assert_roster(result: &Value, contacts: u32) {
    let roster = result["roster"].as_object().expect("a roster");
    assert_eq!(roster.len(), contacts as usize, "roster: {roster:?}");
    for i in 0..contacts {
        let item = &roster[&format!("c{i}@{GATEWAY}")];
        assert_eq!(item["name"], format!("Contact {i}"));
        assert_eq!(item["subscription"], "both");
    }
}

fn two_users_register_get_their_rosters_and_echoes(plugin: &str) {
    let (prosody, gateway) = setup(plugin, &["romeo", "juliet"]);
    let result = run_client(&client_args(&prosody, &[("romeo", 3), ("juliet", 2)]));
    for (user, contacts) in [("romeo", 3), ("juliet", 2)] {
        let mine = &result[user];
        assert_roster(mine, contacts);
        let echo = &mine["echo"];
        assert_eq!(
            echo["body"],
            format!("hello from {user} ✓ <&>"),
            "{}",
            gateway.log()
        );
        assert_eq!(echo["from"], format!("c0@{GATEWAY}/gatehouse"));
        assert_eq!(echo["type"], "chat");
        assert_eq!(echo["id"], "e1");
        // Every chat message this user got from a puppet is their own echo.
        for m in mine["messages"].as_array().expect("messages") {
            let has_body = m["body"].as_str().is_some_and(|b| !b.is_empty());
            if has_body && m["from"].as_str().is_some_and(|f| f.starts_with("c")) {
                assert_eq!(m["body"], format!("hello from {user} ✓ <&>"), "{m}");
            }
        }
    }
    drop(prosody);
}

fn a_thousand_contacts_fill_the_roster(plugin: &str) {
    let (prosody, gateway) = setup(plugin, &["romeo"]);
    let result = run_client(&client_args(&prosody, &[("romeo", 1000)]));
    let romeo = &result["romeo"];
    assert_roster(romeo, 1000);
    assert_eq!(
        romeo["echo"]["body"],
        "hello from romeo ✓ <&>",
        "{}",
        gateway.log()
    );
    eprintln!(
        "{plugin}: 1000-contact roster: registration answered in {:.3} s, full roster in {:.3} s",
        romeo["register_seconds"], romeo["roster_seconds"]
    );
}

fn the_gateway_reconnects_when_prosody_restarts(plugin: &str) {
    let (mut prosody, gateway) = setup(plugin, &["romeo"]);
    let first = run_client(&client_args(&prosody, &[("romeo", 2)]));
    assert_eq!(first["romeo"]["echo"]["id"], "e1");

    prosody.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while gateway.log().matches("component link up").count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no reconnection:\n{}",
            gateway.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // Same user again (registering again is harmless): the roster is still
    // there, and the plugin's counters survived (its key-value store).
    let second = run_client(&client_args(&prosody, &[("romeo", 2)]));
    let romeo = &second["romeo"];
    assert_roster(romeo, 2);
    assert_eq!(
        romeo["echo"]["body"],
        "hello from romeo ✓ <&>",
        "{}",
        gateway.log()
    );
    assert_eq!(romeo["echo"]["id"], "e2");
}

fn sigusr1_reloads_the_plugin_and_the_sessions_move_to_it(plugin: &str) {
    let (prosody, gateway) = setup(plugin, &["romeo"]);
    let first = run_client(&client_args(&prosody, &[("romeo", 1)]));
    assert_eq!(first["romeo"]["echo"]["id"], "e1");
    gateway.signal("USR1");
    gateway.wait_log("plugin reloaded", 1);
    gateway.wait_log("sessions moving to the reloaded plugin", 1);
    // Still serving, with the plugin's counters intact.
    let second = run_client(&client_args(&prosody, &[("romeo", 1)]));
    assert_eq!(second["romeo"]["echo"]["id"], "e2", "{}", gateway.log());
}
