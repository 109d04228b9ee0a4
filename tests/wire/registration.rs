//! XEP-0077 registration with the plugin's form, and unregistration.

use gatehouse_tests::{GATEWAY, Wire, child_text, register_iq};
use minidom::Element;

use crate::{NS, ROMEO};

const REGISTER: &str = "jabber:iq:register";
const DATA: &str = "jabber:x:data";

fn form_fields(query: &Element) -> Vec<(String, Option<String>, bool, Vec<String>)> {
    let x = query.get_child("x", DATA).expect("a data form");
    assert_eq!(x.attr("type"), Some("form"));
    x.children()
        .filter(|f| f.name() == "field")
        .map(|f| {
            (
                f.attr("var").unwrap_or_default().to_owned(),
                // XEP-0004: a field without a type is text-single.
                Some(f.attr("type").unwrap_or("text-single").to_owned()),
                f.has_child("required", DATA),
                f.children()
                    .filter(|v| v.name() == "value")
                    .map(Element::text)
                    .collect(),
            )
        })
        .collect()
}

async fn get_form(w: &mut Wire, id: &str) -> Element {
    w.link
        .send(&format!(
            "<iq type='get' id='{id}' from='{ROMEO}/pc' to='{GATEWAY}'><query xmlns='{REGISTER}'/></iq>"
        ))
        .await;
    let reply = w
        .link
        .recv_until("the form", |e| e.is("iq", NS) && e.attr("id") == Some(id))
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    reply
        .get_child("query", REGISTER)
        .expect("a register query")
        .clone()
}

#[tokio::test]
async fn the_form_is_the_plugins() {
    let mut w = Wire::start(true).await;
    let query = get_form(&mut w, "f1").await;
    assert!(!query.has_child("registered", REGISTER));
    assert!(
        query.has_child("username", REGISTER),
        "legacy username field"
    );
    let fields = form_fields(&query);
    assert_eq!(
        fields,
        vec![
            (
                "FORM_TYPE".into(),
                Some("hidden".into()),
                false,
                vec![REGISTER.into()]
            ),
            ("username".into(), Some("text-single".into()), true, vec![]),
            (
                "contacts".into(),
                Some("text-single".into()),
                false,
                vec!["3".into()]
            ),
            (
                "groups".into(),
                Some("text-single".into()),
                false,
                vec!["1".into()]
            ),
        ]
    );
    let x = query.get_child("x", DATA).unwrap();
    assert_eq!(
        child_text(x, "title", DATA).as_deref(),
        Some("Registration to Echo network")
    );
}

#[tokio::test]
async fn registering_stores_the_user_subscribes_and_logs_in() {
    let mut w = Wire::start(true).await;
    w.link.send(&register_iq(ROMEO, "r1", "romeo", "0")).await;
    let result = w.link.recv().await;
    assert!(result.is("iq", NS));
    assert_eq!(result.attr("type"), Some("result"));
    assert_eq!(result.attr("id"), Some("r1"));
    assert_eq!(result.attr("to"), Some("romeo@localhost/test"));
    let subscribe = w.link.recv().await;
    assert!(subscribe.is("presence", NS));
    assert_eq!(subscribe.attr("type"), Some("subscribe"));
    assert_eq!(subscribe.attr("from"), Some(GATEWAY));
    assert_eq!(subscribe.attr("to"), Some(ROMEO));
    let logging_in = w.link.recv().await;
    assert_eq!(child_text(&logging_in, "show", NS).as_deref(), Some("dnd"));
    assert_eq!(
        child_text(&logging_in, "status", NS).as_deref(),
        Some("Logging in…")
    );
    let status = w.link.recv().await;
    assert!(status.is("presence", NS));
    assert_eq!(status.attr("from"), Some(GATEWAY));
    assert_eq!(status.attr("to"), Some(ROMEO));
    assert_eq!(status.attr("type"), None);
    assert_eq!(child_text(&status, "show", NS), None);
    assert_eq!(
        child_text(&status, "status", NS).as_deref(),
        Some("Echo network: logged in as romeo")
    );

    let query = get_form(&mut w, "f2").await;
    assert!(query.has_child("registered", REGISTER));
    assert_eq!(
        child_text(&query, "username", REGISTER).as_deref(),
        Some("romeo")
    );
    let fields = form_fields(&query);
    assert_eq!(fields[1].3, vec!["romeo".to_owned()]);
    assert_eq!(fields[2].3, vec!["0".to_owned()]);
}

async fn refused(w: &mut Wire, username: &str, contacts: &str) -> Element {
    w.link
        .send(&register_iq(ROMEO, "bad", username, contacts))
        .await;
    let reply = w.link.recv().await;
    assert!(reply.is("iq", NS));
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(reply.attr("id"), Some("bad"));
    let error = reply.get_child("error", NS).expect("an error").clone();
    assert_eq!(error.attr("type"), Some("modify"));
    assert!(error.has_child("not-acceptable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
    error
}

#[tokio::test]
async fn the_plugin_refuses_bad_forms_with_its_text() {
    let mut w = Wire::start(true).await;
    let error = refused(&mut w, "fail", "3").await;
    assert_eq!(
        child_text(&error, "text", "urn:ietf:params:xml:ns:xmpp-stanzas").as_deref(),
        Some("username refused by the echo network")
    );
    let error = refused(&mut w, "romeo", "lots").await;
    let text =
        child_text(&error, "text", "urn:ietf:params:xml:ns:xmpp-stanzas").unwrap_or_default();
    assert!(text.contains("contacts must be a whole number"), "{text}");
    let error = refused(&mut w, "romeo", "100001").await;
    assert!(child_text(&error, "text", "urn:ietf:params:xml:ns:xmpp-stanzas").is_some());
    let error = refused(&mut w, "", "3").await;
    assert_eq!(
        child_text(&error, "text", "urn:ietf:params:xml:ns:xmpp-stanzas").as_deref(),
        Some("missing field: User name")
    );
    // Nothing was stored: the form is still blank.
    let query = get_form(&mut w, "f3").await;
    assert!(!query.has_child("registered", REGISTER));
}

#[tokio::test]
async fn unregistering_removes_contacts_and_the_user() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 2).await;
    w.link
        .send(&format!(
            "<iq type='set' id='u1' from='{ROMEO}/pc' to='{GATEWAY}'><query xmlns='{REGISTER}'><remove/></query></iq>"
        ))
        .await;
    let mut removed = Vec::new();
    let mut gateway_presences = Vec::new();
    loop {
        let el = w.link.recv().await;
        if el.is("iq", NS) && el.attr("id") == Some("u1") {
            assert_eq!(el.attr("type"), Some("result"));
            break;
        }
        if el.is("iq", NS) && el.attr("type") == Some("set") {
            let item = el
                .get_child("query", "jabber:iq:roster")
                .and_then(|q| q.get_child("item", "jabber:iq:roster"))
                .expect("a roster item");
            assert_eq!(item.attr("subscription"), Some("remove"));
            removed.push(item.attr("jid").unwrap_or_default().to_owned());
        } else if el.is("presence", NS) && el.attr("from") == Some(GATEWAY) {
            gateway_presences.push(el.attr("type").unwrap_or("available").to_owned());
        }
    }
    removed.sort();
    assert_eq!(removed, ["c0@echo.localhost", "c1@echo.localhost"]);
    assert!(
        gateway_presences.ends_with(&[
            "unsubscribe".into(),
            "unsubscribed".into(),
            "unavailable".into()
        ]),
        "{gateway_presences:?}"
    );
    // The user is gone: puppets refuse them, the form is blank again.
    w.link
        .send(&format!("<message type='chat' id='m1' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>hi</body></message>"))
        .await;
    let error = w
        .link
        .recv_until("the error", |e| e.is("message", NS))
        .await;
    assert_eq!(error.attr("type"), Some("error"));
    assert!(error.get_child("error", NS).is_some_and(|e| e.has_child(
        "registration-required",
        "urn:ietf:params:xml:ns:xmpp-stanzas"
    )));
    let query = get_form(&mut w, "f4").await;
    assert!(!query.has_child("registered", REGISTER));
}

/// Each registration form is checked on an instance of its own: what one
/// registrant's check left in the plugin's memory (the probe remembers the
/// last name it checked) is not there for the next one.
#[tokio::test]
async fn each_registration_is_checked_on_a_fresh_instance() {
    let mut w = Wire::start_with(true, "probe", "").await;
    w.link
        .send(&register_iq("alice@localhost", "a1", "alice", "0"))
        .await;
    w.link
        .recv_until("alice's registration", |e| e.attr("id") == Some("a1"))
        .await;
    w.link
        .send(&register_iq(ROMEO, "w1", "whos-first", "0"))
        .await;
    let reply = w
        .link
        .recv_until("the refusal", |e| e.attr("id") == Some("w1"))
        .await;
    assert_eq!(reply.attr("type"), Some("error"));
    let error = reply.get_child("error", NS).expect("an error");
    assert!(error.has_child("not-acceptable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
    assert_eq!(
        child_text(error, "text", "urn:ietf:params:xml:ns:xmpp-stanzas").as_deref(),
        Some("checked before you: nobody")
    );
}

/// A registration runs off the router: while one user's form takes four
/// seconds to check, another user's messages are answered; what the
/// registrant writes meanwhile waits for the session it starts (not
/// refused); a user's registrations run in the order they came.
#[tokio::test]
async fn a_slow_registration_holds_up_nobody_else() {
    const SLOW: &str = "slow@localhost";
    let mut w = crate::sandbox::probe_session("").await;
    w.link
        .send(&register_iq(SLOW, "s1", "slow-4000", "0"))
        .await;
    w.link
        .send(&format!(
            "<message type='chat' id='held' from='{SLOW}/test' to='a@{GATEWAY}'><body>env HOME</body></message>"
        ))
        .await;
    // Romeo is answered while the slow check runs: before its result.
    w.link
        .send(&format!(
            "<message type='chat' id='q' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>env HOME</body></message>"
        ))
        .await;
    loop {
        let el = w.link.recv().await;
        assert_ne!(
            el.attr("id"),
            Some("s1"),
            "the slow registration was done before romeo was answered"
        );
        if el.attr("to") == Some(ROMEO)
            && let Some(body) = child_text(&el, "body", NS)
        {
            assert_eq!(
                el.attr("from"),
                Some(format!("a@{GATEWAY}/gatehouse").as_str())
            );
            assert!(body.starts_with("env refused"), "{body}");
            break;
        }
    }
    // Then the registration's result, then the held message's answer from
    // the new session.
    let result = w
        .link
        .recv_until("the result", |e| e.attr("id") == Some("s1"))
        .await;
    assert_eq!(result.attr("type"), Some("result"));
    let from_a = format!("a@{GATEWAY}/gatehouse");
    let held = w
        .link
        .recv_until("the held message's answer", |e| {
            e.name() == "message" && e.attr("from") == Some(&from_a) || e.attr("id") == Some("held")
        })
        .await;
    assert_eq!(held.attr("type"), Some("chat"), "not refused: {held:?}");
    assert_eq!(held.attr("to"), Some(SLOW));
    let body = child_text(&held, "body", NS).unwrap_or_default();
    assert!(body.starts_with("env refused"), "{body}");
    // A slow registration then a `<remove/>`: the removal waits for it, so
    // the user ends unregistered.
    w.link
        .send(&register_iq(SLOW, "s2", "slow-2000", "0"))
        .await;
    w.link
        .send(&format!(
            "<iq type='set' id='s3' from='{SLOW}/test' to='{GATEWAY}'><query xmlns='jabber:iq:register'><remove/></query></iq>"
        ))
        .await;
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let el = w.link.recv().await;
        if let Some(id @ ("s2" | "s3")) = el.attr("id") {
            assert_eq!(el.attr("type"), Some("result"), "{el:?}");
            answers.push(id.to_owned());
        }
    }
    assert_eq!(answers, ["s2", "s3"]);
    w.link
        .send(&format!(
            "<message type='chat' id='after' from='{SLOW}/test' to='a@{GATEWAY}'><body>env HOME</body></message>"
        ))
        .await;
    let refused = w
        .link
        .recv_until("the refusal", |e| e.attr("id") == Some("after"))
        .await;
    assert_eq!(refused.attr("type"), Some("error"));
    let error = refused.get_child("error", NS).expect("an error");
    assert!(error.has_child(
        "registration-required",
        "urn:ietf:params:xml:ns:xmpp-stanzas"
    ));
}
