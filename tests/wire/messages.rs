//! Messages both ways: the user's text reaches `on-text`, the plugin's
//! `send-text` reaches the user; puppets answer disco and pings.

use gatehouse_tests::{GATEWAY, Wire, child_text};

use crate::{NS, ROMEO, receipt_then_echo};

#[tokio::test]
async fn a_message_to_a_puppet_is_echoed_from_its_full_jid() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 2).await;
    w.link
        .send(&format!(
            "<message type='chat' id='client-1' from='{ROMEO}/pc' to='c1@{GATEWAY}'>\
             <body xml:lang='en'>hello &lt;echo&gt; ✓</body></message>"
        ))
        .await;
    let echo = receipt_then_echo(&mut w.link, "c1@echo.localhost", "client-1").await;
    assert!(echo.is("message", NS));
    assert_eq!(echo.attr("type"), Some("chat"));
    assert_eq!(echo.attr("from"), Some("c1@echo.localhost/gatehouse"));
    assert_eq!(echo.attr("to"), Some(ROMEO));
    assert_eq!(echo.attr("id"), Some("e1"), "the legacy id is the XMPP id");
    assert_eq!(
        child_text(&echo, "body", NS).as_deref(),
        Some("hello <echo> ✓")
    );
    assert!(echo.has_child("markable", "urn:xmpp:chat-markers:0"));
    assert!(echo.has_child("store", "urn:xmpp:hints"));
    assert!(!echo.has_child("delay", "urn:xmpp:delay"));
    // Legacy ids count on.
    w.link
        .send(&format!(
            "<message type='chat' id='client-2' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>again</body></message>"
        ))
        .await;
    let echo = receipt_then_echo(&mut w.link, "c0@echo.localhost", "client-2").await;
    assert_eq!(echo.attr("id"), Some("e2"));
    assert_eq!(echo.attr("from"), Some("c0@echo.localhost/gatehouse"));
}

#[tokio::test]
async fn burst_sends_in_order() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    w.link
        .send(&format!(
            "<message type='chat' id='b' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>/burst 50</body></message>"
        ))
        .await;
    for i in 1..=50 {
        let m = w.link.recv().await;
        assert_eq!(child_text(&m, "body", NS), Some(format!("burst {i}")));
        assert_eq!(m.attr("id"), Some(format!("e{i}").as_str()));
    }
}

#[tokio::test]
async fn legacy_ids_continue_across_restarts() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    let send = |n: u32| {
        format!(
            "<message type='chat' id='k{n}' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>n{n}</body></message>"
        )
    };
    w.link.send(&send(1)).await;
    let echo = receipt_then_echo(&mut w.link, "c0@echo.localhost", "k1").await;
    assert_eq!(echo.attr("id"), Some("e1"));
    w.gateway.restart();
    let mut link = Wire::connect(&w.server, true).await;
    link.recv_until("the status", |e| {
        child_text(e, "status", NS).as_deref() == Some("Echo network: logged in as romeo")
    })
    .await;
    link.send(&send(2)).await;
    let echo = receipt_then_echo(&mut link, "c0@echo.localhost", "k2").await;
    assert_eq!(child_text(&echo, "body", NS).as_deref(), Some("n2"));
    assert_eq!(echo.attr("id"), Some("e2"));
}

#[tokio::test]
async fn puppets_answer_disco_and_ping() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    w.link
        .send(&format!(
            "<iq type='get' id='d1' from='{ROMEO}/pc' to='c0@{GATEWAY}/gatehouse'>\
             <query xmlns='http://jabber.org/protocol/disco#info' node='https://gatehouse.invalid/caps#x'/></iq>"
        ))
        .await;
    let info = w.link.recv().await;
    assert_eq!(info.attr("type"), Some("result"));
    assert_eq!(info.attr("from"), Some("c0@echo.localhost/gatehouse"));
    let query = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("a disco#info query");
    assert_eq!(query.attr("node"), Some("https://gatehouse.invalid/caps#x"));
    let identity = query
        .get_child("identity", "http://jabber.org/protocol/disco#info")
        .expect("an identity");
    assert_eq!(identity.attr("category"), Some("client"));
    assert_eq!(identity.attr("type"), Some("pc"));
    let features: Vec<_> = query.children().filter_map(|c| c.attr("var")).collect();
    for feature in [
        "http://jabber.org/protocol/chatstates",
        "urn:xmpp:receipts",
        "urn:xmpp:chat-markers:0",
        "urn:xmpp:message-correct:0",
        "urn:xmpp:message-retract:1",
        "urn:xmpp:reactions:0",
        "urn:xmpp:reply:0",
    ] {
        assert!(
            features.contains(&feature),
            "{feature} missing from {features:?}"
        );
    }
    w.link
        .send(&format!(
            "<iq type='get' id='p1' from='{ROMEO}/pc' to='c0@{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    let pong = w.link.recv().await;
    assert_eq!(pong.attr("type"), Some("result"));
    assert_eq!(pong.attr("id"), Some("p1"));
    assert_eq!(pong.attr("from"), Some("c0@echo.localhost"));
}

#[tokio::test]
async fn two_users_have_separate_rosters_and_messages() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    w.register("juliet@localhost", "juliet", 1).await;
    for user in [ROMEO, "juliet@localhost"] {
        w.link
            .send(&format!(
                "<message type='chat' id='m' from='{user}/pc' to='c0@{GATEWAY}'><body>from {user}</body></message>"
            ))
            .await;
        let echo = receipt_then_echo(&mut w.link, "c0@echo.localhost", "m").await;
        assert_eq!(echo.attr("to"), Some(user));
        assert_eq!(child_text(&echo, "body", NS), Some(format!("from {user}")));
        assert_eq!(
            echo.attr("id"),
            Some("e1"),
            "each user has their own counters"
        );
    }
}
