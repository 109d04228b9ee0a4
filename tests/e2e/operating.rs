//! What an operator does to a running gateway, through the real binary:
//! SIGTERM (a clean shutdown the users see) and SIGHUP (a new
//! configuration applied while running).

use std::time::Duration;

use gatehouse_tests::process::{GatewayProcess, run_client, run_script};
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET};

#[test]
fn sigterm_logs_everyone_out_and_leaves_the_database_consistent() {
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    prosody.register_user("romeo", "pass");
    let mut gateway = GatewayProcess::start_plugin(&prosody.component_address(), "echo");
    let contacts = 3;
    let out = run_script(
        "shutdown.py",
        &[
            "--server".into(),
            format!("127.0.0.1:{}", prosody.c2s_port),
            "--gateway".into(),
            GATEWAY.into(),
            "--pid".into(),
            gateway.pid().to_string(),
            "--contacts".into(),
            contacts.to_string(),
        ],
    );
    let status = gateway
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("still running 30 s after SIGTERM:\n{}", gateway.log()));
    let log = gateway.log();
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(log.contains("shut down; database committed"), "{log}");
    assert!(log.contains("component link closed"), "{log}");

    // The user saw every contact, then the gateway, go offline.
    let presences = out["after_term"].as_array().expect("presences");
    for i in 0..contacts {
        let puppet = format!("c{i}@{GATEWAY}/gatehouse");
        assert!(
            presences
                .iter()
                .any(|p| p["from"] == puppet && p["type"] == "unavailable"),
            "{puppet} not offline: {presences:?}"
        );
    }
    let last = presences.last().expect("a presence");
    assert_eq!(last["from"], GATEWAY, "{presences:?}");
    assert_eq!(last["type"], "unavailable", "{presences:?}");

    // The database is whole and holds the registration and the roster.
    let db = rusqlite::Connection::open(gateway.database_path()).expect("open the database");
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok");
    let in_roster: i64 = db
        .query_row(
            "SELECT count(*) FROM contacts JOIN users ON users.id = contacts.user_id
             WHERE users.jid = 'romeo@localhost' AND contacts.in_roster",
            [],
            |r| r.get(0),
        )
        .expect("count the contacts");
    assert_eq!(in_roster, contacts);
    drop(db);

    // And a restart picks up from it: the session logs in again.
    gateway.start_again();
    gateway.wait_log("logged in", 2);
}

#[test]
fn sighup_adds_a_gateway_restarts_a_changed_one_and_removes_one() {
    let second = "echo2.localhost";
    let prosody = Prosody::start(&[(GATEWAY, SECRET), (second, SECRET)]);
    prosody.register_user("romeo", "pass");
    let gateway = GatewayProcess::start_plugin(&prosody.component_address(), "echo");
    let original = std::fs::read_to_string(gateway.config_path()).expect("the configuration");
    let plugin = gateway.plugin_path();
    let with_second = format!(
        "{original}\n[[gateway]]\njid = \"{second}\"\nsecret = \"{SECRET}\"\nplugin = \"{}\"\n",
        plugin.display()
    );
    std::fs::write(gateway.config_path(), &with_second).expect("rewrite the configuration");
    gateway.signal("HUP");
    gateway.wait_log("configuration applied added=1 removed=0 restarted=0", 1);
    gateway.wait_log("component link up", 2);

    // The new gateway serves: registration, roster and echo through it.
    let result = run_client(&[
        "--server".into(),
        format!("127.0.0.1:{}", prosody.c2s_port),
        "--gateway".into(),
        second.into(),
        "--user".into(),
        "romeo:pass:romeo:2".into(),
    ]);
    let log = gateway.log();
    assert_eq!(
        result["romeo"]["roster"].as_object().map(|r| r.len()),
        Some(2),
        "{log}"
    );
    assert_eq!(
        result["romeo"]["echo"]["from"],
        format!("c0@{second}/gatehouse")
    );

    // A changed limit restarts only the gateway it belongs to.
    let changed = with_second.replacen(
        &format!("jid = \"{second}\""),
        &format!("jid = \"{second}\"\nmax_contacts = 10"),
        1,
    );
    std::fs::write(gateway.config_path(), &changed).expect("rewrite the configuration");
    gateway.signal("HUP");
    gateway.wait_log("configuration applied added=0 removed=0 restarted=1", 1);
    gateway.wait_log("component link up", 3);
    assert_eq!(gateway.log().matches("gateway stopped").count(), 1);

    // A configuration that does not load changes nothing.
    std::fs::write(gateway.config_path(), "[xmpp]\nserver = 1\n").expect("rewrite");
    gateway.signal("HUP");
    gateway.wait_log(
        "the configuration does not load; keeping the running one",
        1,
    );

    // Removing it stops it.
    std::fs::write(gateway.config_path(), &original).expect("rewrite the configuration");
    gateway.signal("HUP");
    gateway.wait_log("configuration applied added=0 removed=1 restarted=0", 1);
    assert_eq!(gateway.log().matches("gateway stopped").count(), 2);
}
