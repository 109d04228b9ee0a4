//! Every echo command through the real chain: slixmpp ⇄ Prosody or ejabberd ⇄ the
//! gateway binary, with a kill -9 and restart of the gateway in the middle.

use gatehouse_tests::process::{GatewayProcess, run_script};
use gatehouse_tests::server::{Server, ServerKind};
use gatehouse_tests::{GATEWAY, SECRET};

/// Run for each build of the echo network (`echo_suite!`).
pub fn each_command_shows_on_the_client_and_ids_survive_a_restart(plugin: &str, kind: ServerKind) {
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
            "--carbon-wait".to_owned(),
            match kind {
                ServerKind::Prosody => "120",
                ServerKind::Ejabberd => "3",
            }
            .to_owned(),
        ]
    };
    let before = run_script("commands.py", &args("before"));
    let log = gateway.log();
    assert_eq!(before["receipt"], "m1", "{log}");
    assert_eq!(before["echo"]["id"], "e1");
    assert_eq!(before["echo"]["from"], format!("c0@{GATEWAY}/gatehouse"));
    assert_eq!(before["read"], "m1", "/read marks the message before it");
    assert_eq!(before["react"]["id"], "m2", "{log}");
    assert_eq!(before["react"]["emojis"][0], "👍");
    assert_eq!(before["reply"]["reply"], "m3");
    assert_eq!(before["reply"]["body"], "indeed");
    // The contact's last message is now its reply, e2.
    assert_eq!(before["correct"]["replace"], "e2");
    assert_eq!(before["correct"]["body"], "hello, corrected");
    assert_eq!(before["retract"], "e2");
    assert_eq!(before["typing"][0], "composing");
    assert_eq!(before["typing"][1], "paused");
    match kind {
        ServerKind::Prosody => assert_eq!(
            before["carbons"][0],
            "typed on my phone",
            "{}",
            server.log()
        ),
        // ejabberd routes a privileged message past the c2s hooks that
        // make carbons: the user's clients never see it (docs/operating.md).
        ServerKind::Ejabberd => assert_eq!(before["carbons"], serde_json::json!([])),
    }
    assert_eq!(
        before["avatar"]["id"], before["avatar"]["sha1"],
        "the fetched bytes hash to the id"
    );
    assert_eq!(before["vcard_fn"], "Contact 0");
    assert_eq!(before["avatar_removed"], true);
    // A rename reaches the user's roster only by a roster push, which
    // ejabberd 23.01 refuses (the contact then asked to subscribe).
    assert_eq!(
        before["nick"],
        kind == ServerKind::Prosody,
        "/nick renames in the client's roster"
    );
    assert_eq!(before["presence"], true, "/presence shows away");
    assert_eq!(before["contact"], true, "/contact adds an escaped puppet");
    assert_eq!(before["burst"][2], "burst 3");
    assert_eq!(
        before["unfriend"],
        true,
        "/unfriend removes from the roster:\n{}\n{}",
        gateway.log(),
        server.log()
    );
    assert_eq!(before["saw_composing"], "saw composing");

    // The `after` client is online before the kill and through the
    // restart: a push made again would reach it.
    let mut script = std::process::Command::new(gatehouse_tests::process::python())
        .arg(gatehouse_tests::workspace().join("tests/e2e/commands.py"))
        .args(args("after"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run commands.py");
    let mut to_script = script.stdin.take().expect("stdin");
    let mut report = None;
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        script.stdout.take().expect("stdout"),
    ));
    for line in lines {
        let line = line.expect("the script's output");
        if line == "READY" {
            gateway.kill_and_restart();
            gateway.wait_log("login: logged in", 2);
            std::io::Write::write_all(&mut to_script, b"done\n").expect("answer the script");
        } else {
            report = Some(line);
        }
    }
    assert!(
        script.wait().expect("commands.py ends").success(),
        "{}",
        gateway.log()
    );
    let after: serde_json::Value = serde_json::from_str(&report.unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {}", gateway.log()));
    assert_eq!(
        after["saw"],
        "saw correction u1: hello again",
        "{}",
        gateway.log()
    );
    // No push only repeats what the roster held before the kill (both
    // servers). Those that change it are the plugin's: its fill after the
    // restart names c0 "Contact 0" again (after `/nick`) and adds back c1
    // (after `/unfriend`), which ejabberd, without working pushes, shows
    // as a new subscription.
    assert_eq!(
        after["repeated_pushes"],
        serde_json::json!([]),
        "pushed again: {}\n{}",
        after["pushes_after_restart"],
        gateway.log()
    );
    let pushed = after["pushes_after_restart"].as_array().expect("pushes");
    let expected = [format!("c0@{GATEWAY}"), format!("c1@{GATEWAY}")];
    assert!(
        pushed.iter().all(|jid| expected.iter().any(|e| e == jid)),
        "pushed: {pushed:?}\n{}",
        gateway.log()
    );
}
