//! Groups through the real chain: slixmpp ⇄ Prosody (with the `iq`
//! privilege for the user's PEP) ⇄ the gateway binary, and a kill -9 and
//! restart of the gateway that keeps rooms, participants and archive.

use gatehouse_tests::process::{GatewayProcess, run_script};
use gatehouse_tests::server::{Server, ServerKind};
use gatehouse_tests::{GATEWAY, SECRET};

/// One `#[test]` per build of the echo network against Prosody, and the
/// Rust one against ejabberd 23.01 (which grants no `iq` privilege: the
/// group comes as an invitation).
macro_rules! each_build {
    ($test:ident) => {
        mod $test {
            use gatehouse_tests::server::ServerKind;
            #[test]
            fn rust() {
                super::$test("echo", ServerKind::Prosody)
            }
            #[test]
            fn javascript() {
                super::$test("echo-js", ServerKind::Prosody)
            }
            #[test]
            fn python() {
                super::$test("echo-py", ServerKind::Prosody)
            }
            #[test]
            fn ejabberd() {
                super::$test("echo", ServerKind::Ejabberd)
            }
        }
    };
}

each_build!(a_group_is_bookmarked_joined_talked_in_and_kept_across_a_restart);

fn a_group_is_bookmarked_joined_talked_in_and_kept_across_a_restart(
    plugin: &str,
    kind: ServerKind,
) {
    let server = Server::start(kind, &[(GATEWAY, SECRET)]);
    server.register_user("romeo", "pass");
    let mut gateway = GatewayProcess::start_plugin(&server.component_address(), plugin);
    let args = |phase: &str| {
        vec![
            "--server".to_owned(),
            format!("127.0.0.1:{}", server.c2s_port()),
            "--gateway".to_owned(),
            GATEWAY.to_owned(),
            "--phase".to_owned(),
            phase.to_owned(),
            "--bookmarks".to_owned(),
            match kind {
                ServerKind::Prosody => "pep",
                ServerKind::Ejabberd => "invitation",
            }
            .to_owned(),
        ]
    };
    let room = format!("g0@{GATEWAY}");
    let before = run_script("groups.py", &args("before"));
    let log = gateway.log();
    match kind {
        // The bookmark, read back from the user's PEP on Prosody.
        ServerKind::Prosody => {
            assert_eq!(before["bookmarks"][0]["jid"], room, "{log}");
            assert_eq!(before["bookmarks"][0]["name"], "Group 0");
            assert_eq!(before["bookmarks"][0]["autojoin"], "true");
            assert_eq!(before["bookmarks"][0]["nick"], "romeo");
        }
        // ejabberd 23.01: no `iq` privilege, so a XEP-0249 invitation.
        ServerKind::Ejabberd => {
            assert_eq!(before["invitation"]["jid"], room, "{log}");
            assert_eq!(before["invitation"]["from"], GATEWAY);
            assert_eq!(before["invitation"]["reason"], "Group 0");
        }
    }
    // The join: the participants, the self-presence, the subject.
    let join = &before["join"];
    assert_eq!(join["own"]["from"], format!("{room}/romeo"));
    assert_eq!(join["own"]["codes"], serde_json::json!(["100", "110"]));
    assert_eq!(
        join["participants"],
        serde_json::json!(["Contact 0", "Contact 1"])
    );
    assert_eq!(join["subject"]["subject"], "Echo group 0");
    assert_eq!(join["subject"]["from"], format!("{room}/Contact 0"));
    // Talking both ways.
    assert_eq!(before["reflected"]["from"], format!("{room}/romeo"));
    assert_eq!(before["heard"], format!("{room}/Contact 0"));
    // The group commands.
    assert_eq!(before["ann"], "available");
    assert_eq!(
        before["away"],
        serde_json::json!({"show": "away", "status": "at lunch", "available": true})
    );
    assert_eq!(before["kick"]["codes"], serde_json::json!(["307"]));
    assert_eq!(before["kick"]["reason"], "echo kick");
    assert_eq!(before["subject"], format!("{room}/Contact 0"));
    // The archive, paged: every message once, in order, dated.
    let archived = [
        "hello room",
        "heard: hello room",
        "/join Ann",
        "/away Ann at lunch",
        "/join Bob",
        "/kick Bob",
        "/subject Topic of the day",
        "burst 1",
        "burst 2",
        "burst 3",
        "burst 4",
        "burst 5",
        "/burst 5",
    ];
    let first = &before["archive"]["first"];
    assert_eq!(first["bodies"], serde_json::json!(archived[..4]), "{first}");
    assert_eq!(first["complete"], false);
    assert_eq!(first["dated"], true);
    let second = &before["archive"]["second"];
    assert_eq!(second["bodies"], serde_json::json!(archived[4..]));
    assert_eq!(second["complete"], true);
    // /avatar: the room's presence, its vCard and its disco#info agree.
    let avatar = &before["avatar"];
    let hash = avatar["presence"].as_str().unwrap_or_default().to_owned();
    assert_eq!(hash.len(), 40, "a SHA-1: {avatar}");
    assert_eq!(avatar["vcard"], hash.as_str(), "{avatar}");
    assert_eq!(avatar["disco"], serde_json::json!([hash]), "{avatar}");

    gateway.kill_and_restart();
    gateway.wait_log("login: logged in", 2);
    let after = run_script("groups.py", &args("after"));
    let log = gateway.log();
    assert_eq!(
        after["join"]["participants"],
        serde_json::json!(["Ann", "Contact 0", "Contact 1"]),
        "participants survive the kill: {log}"
    );
    assert_eq!(after["join"]["subject"]["subject"], "Topic of the day");
    assert_eq!(
        after["avatar"], before["avatar"],
        "the room's avatar survives the kill"
    );
    let mut archived = archived.to_vec();
    archived.push("/avatar");
    assert_eq!(
        after["archive"]["bodies"],
        serde_json::json!(archived),
        "{log}"
    );
    assert_eq!(after["archive"]["complete"], true);
    assert_eq!(after["heard"], format!("{room}/Contact 0"));
}
