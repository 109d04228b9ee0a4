//! Error replies: unregistered senders, unknown puppets, unparseable or
//! unsupported stanzas. None of them may crash the gateway.

use gatehouse_tests::{GATEWAY, Wire, child_text};
use minidom::Element;

use crate::{NS, ROMEO};

const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// Whether an error reply carries this defined condition.
pub(crate) fn has_condition(reply: &Element, condition: &str) -> bool {
    reply
        .get_child("error", NS)
        .is_some_and(|e| e.has_child(condition, STANZAS))
}

/// An error reply's text, or nothing.
pub(crate) fn error_text(reply: &Element) -> String {
    reply
        .get_child("error", NS)
        .and_then(|e| child_text(e, "text", STANZAS))
        .unwrap_or_default()
}

pub(crate) fn assert_error(reply: &Element, kind: &str, type_: &str, condition: &str) {
    assert!(reply.is(kind, NS), "{}", String::from(reply));
    assert_eq!(reply.attr("type"), Some("error"));
    let error = reply.get_child("error", NS).expect("an error child");
    assert_eq!(error.attr("type"), Some(type_));
    assert!(
        error.has_child(condition, STANZAS),
        "{}",
        String::from(reply)
    );
}

#[tokio::test]
async fn unregistered_users_are_told_to_register() {
    let mut w = Wire::start(true).await;
    w.link
        .send(&format!(
            "<message type='chat' id='m1' from='eve@localhost/x' to='c0@{GATEWAY}'><body>hi</body></message>"
        ))
        .await;
    let reply = w.link.recv().await;
    assert_error(&reply, "message", "auth", "registration-required");
    assert_eq!(reply.attr("id"), Some("m1"));
    assert_eq!(reply.attr("to"), Some("eve@localhost/x"));
    assert_eq!(reply.attr("from"), Some("c0@echo.localhost"));
    w.link
        .send(&format!(
            "<iq type='get' id='i1' from='eve@localhost/x' to='c0@{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    let reply = w.link.recv().await;
    assert_error(&reply, "iq", "auth", "registration-required");
    assert_eq!(reply.attr("id"), Some("i1"));
}

#[tokio::test]
async fn unknown_puppets_are_not_found() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 2).await;
    w.link
        .send(&format!(
            "<message type='chat' id='m2' from='{ROMEO}/pc' to='c7@{GATEWAY}'><body>anyone?</body></message>"
        ))
        .await;
    let reply = w.link.recv().await;
    assert_error(&reply, "message", "cancel", "item-not-found");
    assert_eq!(reply.attr("id"), Some("m2"));
    assert_eq!(
        child_text(reply.get_child("error", NS).unwrap(), "text", STANZAS).as_deref(),
        Some("c7 is not a contact on the echo network")
    );
}

#[tokio::test]
async fn unparseable_stanzas_get_bad_request_and_the_link_stays_up() {
    let mut w = Wire::start(true).await;
    // An iq get without a payload, a message of an unknown type, a presence
    // with a bogus show: well-formed XML, invalid stanzas.
    w.link
        .send(&format!(
            "<iq type='get' id='bad1' from='{ROMEO}/pc' to='{GATEWAY}'/>"
        ))
        .await;
    assert_error(&w.link.recv().await, "iq", "modify", "bad-request");
    w.link
        .send(&format!(
            "<message type='bogus' id='bad2' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>x</body></message>"
        ))
        .await;
    let reply = w.link.recv().await;
    assert_error(&reply, "message", "modify", "bad-request");
    assert_eq!(reply.attr("id"), Some("bad2"));
    w.link
        .send(&format!(
            "<presence id='bad3' from='{ROMEO}/pc' to='{GATEWAY}'><show>sleepy</show></presence>"
        ))
        .await;
    assert_error(&w.link.recv().await, "presence", "modify", "bad-request");
    // An error is never answered.
    w.link
        .send(&format!(
            "<iq type='error' id='bad4' from='{ROMEO}/pc' to='{GATEWAY}'/>"
        ))
        .await;
    // Same connection, still served.
    w.link
        .send(&format!(
            "<iq type='get' id='ok' from='{ROMEO}/pc' to='{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    let pong = w.link.recv().await;
    assert_eq!(pong.attr("id"), Some("ok"));
    assert_eq!(pong.attr("type"), Some("result"));
}

#[tokio::test]
async fn unsupported_requests_are_not_implemented() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    for to in [GATEWAY.to_owned(), format!("c0@{GATEWAY}")] {
        w.link
            .send(&format!(
                "<iq type='get' id='v' from='{ROMEO}/pc' to='{to}'><query xmlns='jabber:iq:version'/></iq>"
            ))
            .await;
        let reply = w.link.recv().await;
        assert_error(&reply, "iq", "cancel", "feature-not-implemented");
        assert_eq!(reply.attr("to"), Some("romeo@localhost/pc"));
    }
    w.link
        .send(&format!(
            "<message type='chat' id='g' from='{ROMEO}/pc' to='{GATEWAY}'><body>help</body></message>"
        ))
        .await;
    assert_error(
        &w.link.recv().await,
        "message",
        "cancel",
        "feature-not-implemented",
    );
}

#[tokio::test]
async fn a_servers_requests_are_answered() {
    let mut w = Wire::start(true).await;
    // The server checking on its component: a ping from its domain.
    w.link
        .send(&format!(
            "<iq type='get' id='srv-ping' from='localhost' to='{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    let pong = w.link.recv().await;
    assert_eq!(pong.attr("id"), Some("srv-ping"));
    assert_eq!(pong.attr("type"), Some("result"));
    assert_eq!(pong.attr("to"), Some("localhost"));
    assert_eq!(pong.attr("from"), Some(GATEWAY));
    // Anything else it asks the gateway (found by fuzzing: it went
    // unanswered) is answered as anyone's.
    w.link
        .send(&format!(
            "<iq type='set' id='r3' from='romeomeot/pc' to='{GATEWAY}'><query xmlns='jabber:i:qregister'/></iq>"
        ))
        .await;
    let refused = w.link.recv().await;
    assert_eq!(refused.attr("id"), Some("r3"));
    assert_eq!(refused.attr("type"), Some("error"));
    assert_eq!(refused.attr("to"), Some("romeomeot/pc"));
    assert!(
        has_condition(&refused, "feature-not-implemented"),
        "{}",
        String::from(&refused)
    );
    // To a puppet, which serves users: refused.
    w.link
        .send(&format!(
            "<iq type='get' id='r4' from='localhost' to='c0@{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    let refused = w.link.recv().await;
    assert_eq!(refused.attr("id"), Some("r4"));
    assert!(
        has_condition(&refused, "service-unavailable"),
        "{}",
        String::from(&refused)
    );
}
