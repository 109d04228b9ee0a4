//! Every echo command through the real chain: slixmpp ⇄ Prosody ⇄ the
//! gateway binary, with a kill -9 and restart of the gateway in the middle.

use gatehouse_tests::process::{GatewayProcess, run_script};
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET};

/// Run for each build of the echo network (`echo_suite!`).
pub fn each_command_shows_on_the_client_and_ids_survive_a_restart(plugin: &str) {
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    prosody.register_user("romeo", "pass");
    let mut gateway = GatewayProcess::start_plugin(&prosody.component_address(), plugin);
    let args = |phase: &str| {
        vec![
            "--server".to_owned(),
            format!("127.0.0.1:{}", prosody.c2s_port),
            "--gateway".to_owned(),
            GATEWAY.to_owned(),
            "--phase".to_owned(),
            phase.to_owned(),
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
    assert_eq!(
        before["carbons"][0],
        "typed on my phone",
        "{}",
        prosody.log()
    );
    assert_eq!(
        before["avatar"]["id"], before["avatar"]["sha1"],
        "the fetched bytes hash to the id"
    );
    assert_eq!(before["vcard_fn"], "Contact 0");
    assert_eq!(before["avatar_removed"], true);
    assert_eq!(before["nick"], true, "/nick renames in the client's roster");
    assert_eq!(before["presence"], true, "/presence shows away");
    assert_eq!(before["contact"], true, "/contact adds an escaped puppet");
    assert_eq!(before["burst"][2], "burst 3");
    assert_eq!(
        before["unfriend"],
        true,
        "/unfriend removes from the roster:\n{}\n{}",
        gateway.log(),
        prosody.log()
    );
    assert_eq!(before["saw_composing"], "saw composing");

    gateway.kill_and_restart();
    let after = run_script("commands.py", &args("after"));
    assert_eq!(
        after["saw"],
        "saw correction u1: hello again",
        "{}",
        gateway.log()
    );
    assert_eq!(after["pushes_after_restart"], 0, "nothing is pushed again");
}
