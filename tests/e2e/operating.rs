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
    // Paced at 10 a second (bursts of 20): most of the burst below still
    // waits in the queue when the signal comes, and must be written.
    let mut gateway = GatewayProcess::start_gateway(
        &prosody.component_address(),
        GATEWAY,
        "echo",
        "messages_per_second = 10",
    );
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
    // The queue was written: the whole burst, in order, before the gateway
    // left; no message refused; the session logged out of the network.
    let burst: Vec<String> = (1..=50).map(|k| format!("burst {k}")).collect();
    assert_eq!(out["burst_before_gateway_left"], serde_json::json!(burst));
    assert_eq!(out["errors_after_term"], serde_json::json!([]));
    assert_eq!(log.matches("login: logged out").count(), 1, "{log}");

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
    // And the write just before the signal is there.
    let kept: Vec<u8> = db
        .query_row(
            "SELECT value FROM kv JOIN users ON users.id = kv.user_id
             WHERE users.jid = 'romeo@localhost' AND kv.key = 'user:lastword'",
            [],
            |r| r.get(0),
        )
        .expect("the key written before the signal");
    assert_eq!(kept, b"kept");
    drop(db);

    // And a restart picks up from it: the session logs in again.
    gateway.start_again();
    gateway.wait_log("login: logged in", 2);
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

/// One scrape of the metrics endpoint: each sample line's name and labels
/// (as written) to its value.
fn scrape(port: u16) -> std::collections::BTreeMap<String, f64> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("send the request");
    let mut response = String::new();
    tcp.read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn the_metrics_endpoint_counts_what_flows_and_logs_can_be_json() {
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    prosody.register_user("romeo", "pass");
    let port = gatehouse_tests::free_port();
    let gateway = GatewayProcess::start_gateway(
        &prosody.component_address(),
        GATEWAY,
        "echo",
        &format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[log]\nformat = \"json\"\n"),
    );
    let before = scrape(port);
    let value =
        |m: &std::collections::BTreeMap<String, f64>, key: &str| m.get(key).copied().unwrap_or(0.0);
    let stanzas_in =
        format!("gatehouse_stanzas_in_total{{gateway=\"{GATEWAY}\",kind=\"message\"}}");
    let stanzas_out = format!("gatehouse_stanzas_out_total{{gateway=\"{GATEWAY}\"}}");
    let on_text = "gatehouse_plugin_calls_total{export=\"on_text\"}";
    let logged_in = format!("gatehouse_sessions{{gateway=\"{GATEWAY}\",state=\"logged-in\"}}");
    assert_eq!(value(&before, on_text), 0.0);
    assert_eq!(value(&before, &logged_in), 0.0);
    assert_eq!(
        value(
            &before,
            &format!("gatehouse_link_connects_total{{gateway=\"{GATEWAY}\"}}")
        ),
        1.0
    );

    let args = [
        "--server".to_owned(),
        format!("127.0.0.1:{}", prosody.c2s_port),
        "--gateway".to_owned(),
        GATEWAY.to_owned(),
        "--user".to_owned(),
        "romeo:pass:romeo:2".to_owned(),
    ];
    run_client(&args);
    let after = scrape(port);
    let log = gateway.log();
    assert!(value(&after, &stanzas_in) >= 1.0, "{after:?}");
    assert!(
        value(&after, &stanzas_out) > value(&before, &stanzas_out),
        "{after:?}"
    );
    assert_eq!(value(&after, on_text), 1.0, "{after:?}\n{log}");
    assert_eq!(
        value(
            &after,
            "gatehouse_plugin_call_seconds_count{export=\"on_text\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&after, "gatehouse_plugin_calls_total{export=\"login\"}"),
        1.0
    );
    assert_eq!(value(&after, &logged_in), 1.0, "{after:?}");
    assert_eq!(
        value(
            &after,
            &format!("gatehouse_queue_depth{{gateway=\"{GATEWAY}\"}}")
        ),
        0.0
    );

    // The counters go on moving with the next messages.
    run_client(&args);
    let again = scrape(port);
    assert!(
        value(&again, &stanzas_in) > value(&after, &stanzas_in),
        "{again:?}"
    );
    assert_eq!(value(&again, on_text), 2.0, "{again:?}");
    assert_eq!(
        value(&again, &logged_in),
        1.0,
        "one session still: {again:?}"
    );

    // Every log line is a JSON object; the session's carry its span.
    let mut in_session = 0;
    for line in log.lines() {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            entry["timestamp"].is_string() && entry["level"].is_string(),
            "{line}"
        );
        if entry["span"]["name"] == "session" {
            assert_eq!(entry["span"]["user"], "romeo@localhost", "{line}");
            in_session += 1;
        }
    }
    assert!(in_session > 0, "no line from a session span:\n{log}");
}
