//! What follows a message, both ways: receipts, read markers, chat states,
//! corrections, retractions, reactions, replies, and messages the user sent
//! from another client (carbons, XEP-0356), all through the id map.

use std::time::Duration;

use gatehouse_tests::{GATEWAY, Wire, child_text};
use minidom::Element;

use crate::{NS, ROMEO, receipt_then_echo};

const C0: &str = "c0@echo.localhost";

/// Sends a chat message from the user's client to c0.
async fn say(w: &mut Wire, id: &str, body: &str) {
    w.link
        .send(&format!(
            "<message type='chat' id='{id}' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>{body}</body></message>"
        ))
        .await;
}

/// Sends a plain message and reads its receipt and echo.
async fn say_and_echo(w: &mut Wire, id: &str, body: &str) -> Element {
    say(w, id, body).await;
    receipt_then_echo(&mut w.link, C0, id).await
}

/// Sends any payload from the user's client to c0.
async fn send_payload(w: &mut Wire, id: &str, payload: &str) {
    w.link
        .send(&format!(
            "<message type='chat' id='{id}' from='{ROMEO}/pc' to='c0@{GATEWAY}'>{payload}</message>"
        ))
        .await;
}

/// The body of the next message, which must come from c0.
async fn next_body(w: &mut Wire) -> String {
    let m = w.link.recv().await;
    assert_eq!(m.attr("from"), Some(format!("{C0}/gatehouse").as_str()));
    child_text(&m, "body", NS).unwrap_or_else(|| panic!("a body in {}", String::from(&m)))
}

async fn registered(privileged: bool) -> Wire {
    let mut w = Wire::start(privileged).await;
    w.register(ROMEO, "romeo", 1).await;
    w
}

#[tokio::test]
async fn read_marks_the_users_previous_message() {
    let mut w = registered(true).await;
    say_and_echo(&mut w, "client-1", "hi").await;
    say(&mut w, "client-2", "/read").await;
    let marker = w.link.recv().await;
    assert_eq!(
        marker.attr("from"),
        Some(format!("{C0}/gatehouse").as_str())
    );
    assert_eq!(marker.attr("to"), Some(ROMEO));
    assert_eq!(
        marker
            .get_child("displayed", "urn:xmpp:chat-markers:0")
            .and_then(|d| d.attr("id")),
        Some("client-1")
    );
    assert!(marker.get_child("body", NS).is_none());
}

#[tokio::test]
async fn reactions_name_the_users_message() {
    let mut w = registered(true).await;
    say_and_echo(&mut w, "client-1", "hi").await;
    say(&mut w, "client-2", "/react 👍 🦀 👍").await;
    let reaction = w.link.recv().await;
    let reactions = reaction
        .get_child("reactions", "urn:xmpp:reactions:0")
        .expect("reactions");
    assert_eq!(reactions.attr("id"), Some("client-1"));
    let emojis: Vec<String> = reactions.children().map(Element::text).collect();
    assert_eq!(emojis, ["👍", "🦀"]);
    assert!(reaction.has_child("store", "urn:xmpp:hints"));
    // None removes them.
    say(&mut w, "client-3", "/react").await;
    let removal = w.link.recv().await;
    let reactions = removal
        .get_child("reactions", "urn:xmpp:reactions:0")
        .expect("reactions");
    assert_eq!(
        reactions.attr("id"),
        Some("client-2"),
        "the previous message is now the first /react"
    );
    assert_eq!(reactions.children().count(), 0);
}

#[tokio::test]
async fn a_reply_references_the_users_message() {
    let mut w = registered(true).await;
    say_and_echo(&mut w, "client-1", "question?").await;
    say(&mut w, "client-2", "/reply answer!").await;
    let answer = w.link.recv().await;
    assert_eq!(child_text(&answer, "body", NS).as_deref(), Some("answer!"));
    let reply = answer
        .get_child("reply", "urn:xmpp:reply:0")
        .expect("a reply");
    assert_eq!(reply.attr("id"), Some("client-1"));
    assert_eq!(reply.attr("to"), Some(ROMEO));
}

#[tokio::test]
async fn the_contact_corrects_and_retracts_its_last_message() {
    let mut w = registered(true).await;
    let echo = say_and_echo(&mut w, "client-1", "tpyo").await;
    assert_eq!(echo.attr("id"), Some("e1"));
    say(&mut w, "client-2", "/correct typo ✓").await;
    let correction = w.link.recv().await;
    assert_eq!(
        child_text(&correction, "body", NS).as_deref(),
        Some("typo ✓")
    );
    assert_eq!(
        correction
            .get_child("replace", "urn:xmpp:message-correct:0")
            .and_then(|r| r.attr("id")),
        Some("e1")
    );
    assert_ne!(
        correction.attr("id"),
        Some("e1"),
        "a correction has an id of its own"
    );
    say(&mut w, "client-3", "/retract").await;
    let retraction = w.link.recv().await;
    assert_eq!(
        retraction
            .get_child("retract", "urn:xmpp:message-retract:1")
            .and_then(|r| r.attr("id")),
        Some("e1")
    );
    assert_eq!(
        retraction
            .get_child("fallback", "urn:xmpp:fallback:0")
            .and_then(|f| f.attr("for")),
        Some("urn:xmpp:message-retract:1")
    );
    assert!(retraction.has_child("store", "urn:xmpp:hints"));
}

#[tokio::test]
async fn a_carbon_is_sent_as_the_user_and_its_reflection_ignored() {
    let mut w = registered(true).await;
    say(&mut w, "client-1", "/carbon sent from my phone 📱").await;
    let outer = w.link.recv().await;
    assert!(outer.is("message", NS));
    assert_eq!(outer.attr("from"), Some(GATEWAY));
    assert_eq!(outer.attr("to"), Some("localhost"));
    let inner = outer
        .get_child("privilege", "urn:xmpp:privilege:2")
        .and_then(|p| p.get_child("forwarded", "urn:xmpp:forward:0"))
        .and_then(|f| f.get_child("message", "jabber:client"))
        .expect("privilege/forwarded/message");
    assert_eq!(inner.attr("from"), Some(ROMEO));
    assert_eq!(inner.attr("to"), Some(C0));
    assert_eq!(inner.attr("type"), Some("chat"));
    assert_eq!(inner.attr("id"), Some("u2"));
    assert_eq!(
        child_text(inner, "body", "jabber:client").as_deref(),
        Some("sent from my phone 📱")
    );
    // The server routes it back to the puppet, from the user's bare JID.
    w.link
        .send(&format!(
            "<message type='chat' id='u2' from='{ROMEO}' to='{C0}'><body>sent from my phone 📱</body></message>"
        ))
        .await;
    w.link.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn without_the_message_privilege_a_carbon_is_shown_from_the_contact() {
    let mut w = registered(false).await;
    say(&mut w, "client-1", "/carbon sent elsewhere").await;
    let shown = w.link.recv().await;
    assert_eq!(shown.attr("from"), Some(format!("{C0}/gatehouse").as_str()));
    assert_eq!(shown.attr("to"), Some(ROMEO));
    assert_eq!(
        child_text(&shown, "body", NS).as_deref(),
        Some("[you, from another client] sent elsewhere")
    );
}

#[tokio::test]
async fn the_users_chat_states_reach_the_plugin() {
    let mut w = registered(true).await;
    send_payload(
        &mut w,
        "s1",
        "<composing xmlns='http://jabber.org/protocol/chatstates'/>",
    )
    .await;
    assert_eq!(next_body(&mut w).await, "saw composing");
    send_payload(
        &mut w,
        "s2",
        "<paused xmlns='http://jabber.org/protocol/chatstates'/>",
    )
    .await;
    assert_eq!(next_body(&mut w).await, "saw paused");
}

#[tokio::test]
async fn read_markers_give_every_unread_message_once() {
    let mut w = registered(true).await;
    say_and_echo(&mut w, "client-1", "one").await;
    say_and_echo(&mut w, "client-2", "two").await;
    send_payload(
        &mut w,
        "d1",
        "<displayed xmlns='urn:xmpp:chat-markers:0' id='e2'/>",
    )
    .await;
    assert_eq!(next_body(&mut w).await, "saw displayed e1 e2");
    // Already read: nothing reaches the plugin.
    send_payload(
        &mut w,
        "d2",
        "<displayed xmlns='urn:xmpp:chat-markers:0' id='e1'/>",
    )
    .await;
    w.link.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn the_users_corrections_retractions_and_reactions_use_legacy_ids() {
    let mut w = registered(true).await;
    say_and_echo(&mut w, "client-1", "helo").await;
    send_payload(
        &mut w,
        "client-1b",
        "<body>hello</body><replace xmlns='urn:xmpp:message-correct:0' id='client-1'/>",
    )
    .await;
    assert_eq!(next_body(&mut w).await, "saw correction u1: hello");
    send_payload(
        &mut w,
        "r1",
        "<body>/me retracted a message</body><retract xmlns='urn:xmpp:message-retract:1' id='client-1'/>\
         <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>",
    )
    .await;
    assert_eq!(next_body(&mut w).await, "saw retraction u1");
    send_payload(
        &mut w,
        "x1",
        "<reactions xmlns='urn:xmpp:reactions:0' id='e1'><reaction>👍</reaction><reaction>🦀</reaction></reactions>",
    )
    .await;
    assert_eq!(next_body(&mut w).await, "saw reactions e1: 👍 🦀");
}

#[tokio::test]
async fn a_replys_quote_is_stripped_before_the_plugin_sees_it() {
    let mut w = registered(true).await;
    say_and_echo(&mut w, "client-1", "question").await;
    send_payload(
        &mut w,
        "client-2",
        "<body>&gt; question\nanswer</body><reply xmlns='urn:xmpp:reply:0' id='e1' to='c0@echo.localhost'/>\
         <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='11'/></fallback>",
    )
    .await;
    let echo = receipt_then_echo(&mut w.link, C0, "client-2").await;
    assert_eq!(child_text(&echo, "body", NS).as_deref(), Some("answer"));
}

#[tokio::test]
async fn ids_still_map_after_a_restart() {
    let mut w = registered(true).await;
    say_and_echo(&mut w, "client-1", "before").await;
    w.gateway.restart();
    let mut link = Wire::connect(&w.server, true).await;
    link.recv_until("the status", |e| {
        child_text(e, "status", NS).as_deref() == Some("Echo network: logged in as romeo")
    })
    .await;
    link.send(&format!(
        "<message type='chat' id='client-1b' from='{ROMEO}/pc' to='c0@{GATEWAY}'>\
         <body>after</body><replace xmlns='urn:xmpp:message-correct:0' id='client-1'/></message>"
    ))
    .await;
    let m = link.recv().await;
    assert_eq!(
        child_text(&m, "body", NS).as_deref(),
        Some("saw correction u1: after")
    );
}
