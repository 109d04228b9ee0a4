//! End to end: a real XMPP server (Prosody, ejabberd), the real `gatehouse` binary with the echo
//! plugin, and a real XMPP client (slixmpp).
//!
//! The echo suite runs against each build of the echo network (Rust,
//! JavaScript, Python) on Prosody, and the Rust build on ejabberd: every
//! test below is one function of the plugin's name and the server, and
//! `echo_suite!` makes one `#[test]` per pair.

mod adhoc;
mod authoring;
mod cli;
mod commands;
mod durability;
mod fail_stop;
mod groups;
mod hostile;
mod irc;
mod operating;

use gatehouse_tests::process::{GatewayProcess, run_client};
use gatehouse_tests::server::{Server, ServerKind};
use gatehouse_tests::{GATEWAY, SECRET};
use serde_json::Value;

/// One `#[test]` per build of the echo network for each test function.
macro_rules! echo_suite {
    ($($test:ident),* $(,)?) => {
        mod rust {
            $(#[test] fn $test() { super::$test("echo", super::ServerKind::Prosody) })*
        }
        mod javascript {
            $(#[test] fn $test() { super::$test("echo-js", super::ServerKind::Prosody) })*
        }
        mod python {
            $(#[test] fn $test() { super::$test("echo-py", super::ServerKind::Prosody) })*
        }
        mod ejabberd {
            $(#[test] fn $test() { super::$test("echo", super::ServerKind::Ejabberd) })*
        }
    };
}

echo_suite!(
    two_users_register_get_their_rosters_and_echoes,
    a_thousand_contacts_fill_the_roster,
    the_gateway_reconnects_when_the_server_restarts,
    sigusr1_reloads_the_plugin_and_the_sessions_move_to_it,
    each_command_shows_on_the_client_and_ids_survive_a_restart,
);

use commands::each_command_shows_on_the_client_and_ids_survive_a_restart;

fn setup(plugin: &str, kind: ServerKind, users: &[&str]) -> (Server, GatewayProcess) {
    let server = Server::start(kind, &[(GATEWAY, SECRET)]);
    for user in users {
        server.register_user(user, "pass");
    }
    let gateway = GatewayProcess::start_plugin(&server.component_address(), plugin);
    (server, gateway)
}

fn client_args(server: &Server, users: &[(&str, u32)]) -> Vec<String> {
    let mut args = vec![
        "--server".to_owned(),
        format!("127.0.0.1:{}", server.c2s_port()),
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

fn two_users_register_get_their_rosters_and_echoes(plugin: &str, kind: ServerKind) {
    let (server, gateway) = setup(plugin, kind, &["romeo", "juliet"]);
    let result = run_client(&client_args(&server, &[("romeo", 3), ("juliet", 2)]));
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
    drop(server);
}

fn a_thousand_contacts_fill_the_roster(plugin: &str, kind: ServerKind) {
    let (server, gateway) = setup(plugin, kind, &["romeo"]);
    let result = run_client(&client_args(&server, &[("romeo", 1000)]));
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

fn the_gateway_reconnects_when_the_server_restarts(plugin: &str, kind: ServerKind) {
    let (mut server, gateway) = setup(plugin, kind, &["romeo"]);
    let first = run_client(&client_args(&server, &[("romeo", 2)]));
    assert_eq!(first["romeo"]["echo"]["id"], "e1");

    server.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while gateway.log().matches("component link up").count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no reconnection:\n{}",
            gateway.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // The same user, who does not register again: the session kept across
    // the restart serves the echo, the roster is still there, the plugin's
    // counters survived (its key-value store), and there was one
    // registration and one login in all.
    let mut args = client_args(&server, &[("romeo", 2)]);
    args.push("--no-register".into());
    let second = run_client(&args);
    let log = gateway.log();
    assert_eq!(log.matches("registration: registered").count(), 1, "{log}");
    assert_eq!(log.matches("login: logged in").count(), 1, "{log}");
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

fn sigusr1_reloads_the_plugin_and_the_sessions_move_to_it(plugin: &str, kind: ServerKind) {
    let (server, gateway) = setup(plugin, kind, &["romeo"]);
    let first = run_client(&client_args(&server, &[("romeo", 1)]));
    assert_eq!(first["romeo"]["echo"]["id"], "e1");
    gateway.signal("USR1");
    gateway.wait_log("plugin reloaded", 1);
    gateway.wait_log("sessions moving to the reloaded plugin", 1);
    // Still serving, with the plugin's counters intact.
    let second = run_client(&client_args(&server, &[("romeo", 1)]));
    assert_eq!(second["romeo"]["echo"]["id"], "e2", "{}", gateway.log());
}
