//! A database that stops taking writes (a full disk) stops the gateway
//! with exit status 1, before anything leaves that depends on a lost write;
//! the service manager then restarts it from what the database holds.
//!
//! The real binary runs with every file it writes capped (`ulimit -f`,
//! SIGXFSZ ignored, so that a write past the cap fails as on a full disk)
//! while a real client has the echo network send bursts; each echo it
//! receives must have its row in the id map afterwards.

use std::time::Duration;

use gatehouse_tests::c2s::{CLIENT, User, chat_body, logged_in};
use gatehouse_tests::process::GatewayProcess;
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET};

/// Room left for the database's files past their size at the restart.
const ROOM_KIB: u64 = 512;

#[test]
fn a_full_disk_stops_the_gateway_and_loses_nothing_it_let_out() {
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    // The c2s client logs in with its local part as the password.
    prosody.register_user("romeo", "romeo");
    let mut gateway = GatewayProcess::start_plugin(&prosody.component_address(), "echo");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let server = format!("127.0.0.1:{}", prosody.c2s_port);
    let mut romeo = runtime.block_on(async {
        let mut romeo = User::connect(&server, "romeo")
            .await
            .expect("romeo logs in");
        romeo
            .send_registration(GATEWAY, "romeo", 1)
            .await
            .expect("register");
        romeo
            .wait_for(|s| logged_in(s, GATEWAY))
            .await
            .expect("the session logs in");
        romeo
    });

    // The database's files may grow by ROOM_KIB from now on.
    let used: u64 = ["gatehouse.db", "gatehouse.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(gateway.database_path().with_file_name(f)).ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0);
    gateway.restart_with_file_limit(used / 1024 + ROOM_KIB);

    // Bursts of echoes until the gateway stops.
    let mut received = Vec::new();
    let status = runtime.block_on(async {
        for round in 0..400 {
            if let Some(status) = gateway.wait_exit(Duration::from_millis(1)) {
                return status;
            }
            romeo
                .send_chat(&format!("c0@{GATEWAY}"), format!("b{round}"), "/burst 100")
                .await
                .expect("send");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while let Ok(Some(stanza)) = tokio::time::timeout_at(deadline, romeo.next()).await {
                if stanza.is("message", CLIENT)
                    && let Some(body) = chat_body(&stanza, GATEWAY)
                    && body.starts_with("burst ")
                {
                    received.push(stanza.attr("id").unwrap_or_default().to_owned());
                    if body == "burst 100" {
                        break;
                    }
                }
            }
        }
        gateway
            .wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("400 bursts and still running:\n{}", gateway.log()))
    });
    let log = gateway.log();
    assert_eq!(status.code(), Some(1), "exit {status}:\n{log}");
    assert!(log.contains("lost writes"), "{log}");
    assert!(
        !received.is_empty(),
        "no echo before the disk filled:\n{log}"
    );

    // Every echo that left has its row: nothing left before its commit.
    let db = rusqlite::Connection::open(gateway.database_path()).expect("the database");
    let missing: Vec<&String> = received
        .iter()
        .filter(|id| {
            db.query_row(
                "SELECT COUNT(*) FROM messages WHERE xmpp_id = ?1",
                [id.as_str()],
                |row| row.get::<_, i64>(0),
            )
            .expect("query")
                == 0
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} echoes left without their row: {:?}",
        missing.len(),
        received.len(),
        &missing[..missing.len().min(5)]
    );
    drop(db);

    // Restarted without the cap (as the service manager would), it serves
    // the user again from what the database holds.
    gateway.start_again();
    runtime.block_on(async {
        romeo
            .send_chat(
                &format!("c0@{GATEWAY}"),
                "again".into(),
                "after the restart",
            )
            .await
            .expect("send");
        romeo
            .wait_for(|s| chat_body(s, GATEWAY).as_deref() == Some("after the restart"))
            .await
            .expect("the echo after the restart");
    });
}
