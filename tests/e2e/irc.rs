//! The IRC gateway against a real IRC server: slixmpp ⇄ Prosody ⇄ the
//! gateway with the IRC plugin ⇄ ngircd ⇄ an IRC client (the `irc`
//! package). Nothing is mocked.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use gatehouse_tests::irc::IrcServer;
use gatehouse_tests::process::{GatewayProcess, python};
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{SECRET, workspace};
use serde_json::Value;

const IRC_GATEWAY: &str = "irc.localhost";

#[test]
fn an_xmpp_user_and_an_irc_user_talk_and_see_each_other() {
    let mut irc = IrcServer::start();
    let prosody = Prosody::start(&[(IRC_GATEWAY, SECRET)]);
    prosody.register_user("romeo", "pass");
    let gateway = GatewayProcess::start_gateway(
        &prosody.component_address(),
        IRC_GATEWAY,
        "irc",
        &format!("allow = [\"127.0.0.1:{}\"]", irc.port),
    );

    // The script asks for the IRC server to be stopped and started again
    // (a line on its stdout), and prints its report last.
    let mut script = Command::new(python())
        .arg(workspace().join("tests/e2e/irc_chat.py"))
        .args(["--server", &format!("127.0.0.1:{}", prosody.c2s_port)])
        .args(["--gateway", IRC_GATEWAY])
        .args(["--irc", &irc.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run irc_chat.py");
    let mut to_script = script.stdin.take().expect("stdin");
    let mut report = None;
    for line in BufReader::new(script.stdout.take().expect("stdout")).lines() {
        let line = line.expect("the script's output");
        match line.as_str() {
            "STOP-IRC" => irc.stop(),
            "START-IRC" => irc.start_again(),
            _ => {
                report = Some(line);
                continue;
            }
        }
        writeln!(to_script, "done").expect("answer the script");
    }
    let status = script.wait().expect("irc_chat.py ends");
    let log = || format!("{}\n--- ngircd ---\n{}", gateway.log(), irc.log());
    assert!(status.success(), "irc_chat.py failed: {}", log());
    let report: Value = serde_json::from_str(&report.unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {}", log()));
    let bob = format!("bob@{IRC_GATEWAY}");

    // One contact for `bob` and `Bob`, named as the user wrote it.
    let roster = report["roster"].as_object().expect("a roster");
    assert_eq!(roster.len(), 1, "{roster:?}");
    assert_eq!(roster[&bob]["name"], "bob");
    assert_eq!(report["online"]["type"], "available");

    assert_eq!(report["to_irc"]["from"], "romeo");
    assert_eq!(report["to_irc"]["text"], "héllo Bob ✓ <&>");
    assert_eq!(report["to_xmpp"]["body"], "hi Romeo — ünïcode 🎉");
    assert_eq!(report["action"], "/me waves");
    assert_eq!(report["formatted"], "bold and red text");
    // Nothing came of the CTCP VERSION request.
    let bodies: Vec<&str> = report["bodies"]
        .as_array()
        .expect("bodies")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        bodies,
        [
            "hi Romeo — ünïcode 🎉",
            "/me waves",
            "bold and red text",
            "after the ctcp"
        ]
    );

    assert_eq!(report["long_whole"], true, "{}", log());
    assert!(report["long_pieces"].as_u64().unwrap_or(0) >= 2);
    assert_eq!(report["irc_action"]["text"], "dances");

    assert_eq!(report["away"]["show"], "away");
    assert_eq!(report["away"]["status"], "gone fishing");
    assert_eq!(report["back"]["show"], "");
    assert_eq!(report["gone"]["type"], "unavailable");

    assert!(
        report["disconnected"]
            .as_str()
            .is_some_and(|b| b.contains("reconnecting in")),
        "{report}"
    );
    assert_eq!(
        report["reconnected"],
        "Reconnected to the IRC server as romeo."
    );
    assert_eq!(report["after_restart"]["from"], "romeo");
}

#[test]
fn an_irc_channel_is_a_group_joined_by_its_room_jid() {
    let irc = IrcServer::start();
    let prosody = Prosody::start(&[(IRC_GATEWAY, SECRET)]);
    prosody.register_user("romeo", "pass");
    let gateway = GatewayProcess::start_gateway(
        &prosody.component_address(),
        IRC_GATEWAY,
        "irc",
        &format!("allow = [\"127.0.0.1:{}\"]", irc.port),
    );
    let output = Command::new(python())
        .arg(workspace().join("tests/e2e/irc_channel.py"))
        .args(["--server", &format!("127.0.0.1:{}", prosody.c2s_port)])
        .args(["--gateway", IRC_GATEWAY])
        .args(["--irc", &irc.port.to_string()])
        .output()
        .expect("run irc_channel.py");
    let log = || format!("{}\n--- ngircd ---\n{}", gateway.log(), irc.log());
    assert!(
        output.status.success(),
        "irc_channel.py failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        log()
    );
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", log()));
    assert_eq!(report["own"]["nick"], "romeo", "{report}");
    assert_eq!(
        report["own"]["codes"],
        serde_json::json!(["110"]),
        "a channel: no 100"
    );
    assert_eq!(
        report["bob"]["role"], "moderator",
        "the channel's creator is its operator"
    );
    assert_eq!(report["topic"]["subject"], "All about gateways");
    assert_eq!(report["to_xmpp"]["body"], "hello from IRC ✓");
    assert_eq!(report["to_irc"]["from"], "romeo");
    assert_eq!(report["to_irc"]["args"][0], "hello from XMPP <&>");
    assert_eq!(report["reflected"]["body"], "hello from XMPP <&>");
    assert_eq!(report["action"], "/me waves");
    assert_eq!(report["renamed"]["nick"], "Bob");
    assert_eq!(report["renamed"]["new_nick"], "Robert");
    assert_eq!(report["left"]["type"], "unavailable");
}
