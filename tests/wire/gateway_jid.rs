//! The gateway JID itself: disco, ping, the users' presences.

use gatehouse_tests::{GATEWAY, Wire, child_text};

use crate::{NS, ROMEO};

#[tokio::test]
async fn disco_info_describes_a_gateway_with_registration() {
    let mut w = Wire::start(true).await;
    w.link
        .send(&format!(
            "<iq type='get' id='d1' from='{ROMEO}/pc' to='{GATEWAY}'>\
             <query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ))
        .await;
    let reply = w.link.recv().await;
    assert!(reply.is("iq", NS));
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(reply.attr("id"), Some("d1"));
    assert_eq!(reply.attr("from"), Some(GATEWAY));
    assert_eq!(reply.attr("to"), Some("romeo@localhost/pc"));
    let query = reply
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("a disco#info query");
    let identity = query
        .get_child("identity", "http://jabber.org/protocol/disco#info")
        .expect("an identity");
    assert_eq!(identity.attr("category"), Some("gateway"));
    assert_eq!(identity.attr("type"), Some("echo"));
    assert_eq!(identity.attr("name"), Some("Echo network"));
    let features: Vec<_> = query.children().filter_map(|c| c.attr("var")).collect();
    for feature in [
        "jabber:iq:register",
        "urn:xmpp:ping",
        "http://jabber.org/protocol/disco#info",
    ] {
        assert!(
            features.contains(&feature),
            "{feature} missing from {features:?}"
        );
    }
}

#[tokio::test]
async fn ping_gets_a_result() {
    let mut w = Wire::start(true).await;
    w.link
        .send(&format!(
            "<iq type='get' id='p1' from='{ROMEO}/pc' to='{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    let reply = w.link.recv().await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(reply.attr("id"), Some("p1"));
    assert_eq!(reply.attr("to"), Some("romeo@localhost/pc"));
    assert_eq!(reply.children().count(), 0);
}

#[tokio::test]
async fn a_users_available_presence_gets_the_login_status() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 0).await;
    w.link
        .send(&format!("<presence from='{ROMEO}/phone' to='{GATEWAY}'/>"))
        .await;
    let status = w
        .link
        .recv_until("the status presence", |e| {
            e.is("presence", NS) && e.attr("to") == Some("romeo@localhost/phone")
        })
        .await;
    assert_eq!(status.attr("from"), Some(GATEWAY));
    assert_eq!(status.attr("type"), None);
    assert_eq!(
        child_text(&status, "status", NS).as_deref(),
        Some("Echo network: logged in as romeo")
    );
}

#[tokio::test]
async fn a_failed_login_is_told_and_retried() {
    let mut w = Wire::start(true).await;
    w.link
        .send(&gatehouse_tests::register_iq(
            ROMEO,
            "r1",
            "crashlogin",
            "0",
        ))
        .await;
    let told = w
        .link
        .recv_until("the login failure message", |e| e.is("message", NS))
        .await;
    assert_eq!(told.attr("from"), Some(GATEWAY));
    assert_eq!(told.attr("type"), Some("chat"));
    let body = child_text(&told, "body", NS).unwrap_or_default();
    assert!(
        body.starts_with("The gateway's plugin crashed during login"),
        "{body}"
    );
    let failed = w
        .link
        .recv_until("the login failure message", |e| e.is("message", NS))
        .await;
    let body = child_text(&failed, "body", NS).unwrap_or_default();
    assert!(
        body.starts_with("Could not log in: the plugin crashed. Retrying in 5 s"),
        "{body}"
    );
    let status = w
        .link
        .recv_until("the failed status", |e| {
            e.is("presence", NS)
                && e.attr("from") == Some(GATEWAY)
                && child_text(e, "status", NS).is_some_and(|s| s.starts_with("Login failed"))
        })
        .await;
    assert_eq!(child_text(&status, "show", NS).as_deref(), Some("dnd"));
    // The retry comes by itself.
    let retry = w
        .link
        .recv_until("the retry", |e| {
            e.is("presence", NS) && child_text(e, "status", NS).as_deref() == Some("Logging in…")
        })
        .await;
    assert_eq!(retry.attr("to"), Some(ROMEO));
}

/// An ad-hoc command session belongs to whoever started it: another user
/// who learnt its id cannot cancel it (`bad-sessionid`), its owner can.
#[tokio::test]
async fn only_its_requester_cancels_a_command_session() {
    const JULIET: &str = "juliet@localhost";
    const COMMANDS: &str = "http://jabber.org/protocol/commands";
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 0).await;
    w.register(JULIET, "juliet", 0).await;
    w.link
        .send(&format!(
            "<iq type='set' id='x1' from='{ROMEO}/pc' to='{GATEWAY}'>\
             <command xmlns='{COMMANDS}' node='unregister' action='execute'/></iq>"
        ))
        .await;
    let form = w
        .link
        .recv_until("the unregister form", |e| e.attr("id") == Some("x1"))
        .await;
    let session = form
        .get_child("command", COMMANDS)
        .and_then(|c| c.attr("sessionid"))
        .expect("a command session id")
        .to_owned();
    let cancel = |from: &str, id: &str| {
        format!(
            "<iq type='set' id='{id}' from='{from}/pc' to='{GATEWAY}'>\
             <command xmlns='{COMMANDS}' node='unregister' sessionid='{session}' action='cancel'/></iq>"
        )
    };
    w.link.send(&cancel(JULIET, "x2")).await;
    let refused = w
        .link
        .recv_until("juliet's refusal", |e| e.attr("id") == Some("x2"))
        .await;
    assert_eq!(refused.attr("type"), Some("error"));
    let error = refused.get_child("error", NS).expect("an error");
    assert!(error.has_child("bad-request", "urn:ietf:params:xml:ns:xmpp-stanzas"));
    assert!(error.has_child("bad-sessionid", COMMANDS));
    w.link.send(&cancel(ROMEO, "x3")).await;
    let canceled = w
        .link
        .recv_until("romeo's cancel", |e| e.attr("id") == Some("x3"))
        .await;
    assert_eq!(canceled.attr("type"), Some("result"));
    assert_eq!(
        canceled
            .get_child("command", COMMANDS)
            .and_then(|c| c.attr("status")),
        Some("canceled")
    );
}

#[tokio::test]
async fn one_user_cannot_fill_the_table_of_pending_forms() {
    const COMMANDS: &str = "http://jabber.org/protocol/commands";
    const JULIET: &str = "juliet@localhost";
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 0).await;
    w.register(JULIET, "juliet", 0).await;
    let ask = |from: &str, id: &str| {
        format!(
            "<iq type='set' id='{id}' from='{from}/pc' to='{GATEWAY}'>\
             <command xmlns='{COMMANDS}' node='unregister' action='execute'/></iq>"
        )
    };
    // Eight forms wait for romeo; a ninth is refused.
    for n in 0..8 {
        let id = format!("f{n}");
        w.link.send(&ask(ROMEO, &id)).await;
        let form = w
            .link
            .recv_until("a form", |e| e.attr("id") == Some(id.as_str()))
            .await;
        assert_eq!(form.attr("type"), Some("result"), "{}", String::from(&form));
    }
    w.link.send(&ask(ROMEO, "f8")).await;
    let refused = w
        .link
        .recv_until("the refusal", |e| e.attr("id") == Some("f8"))
        .await;
    assert_eq!(refused.attr("type"), Some("error"));
    assert!(
        refused.get_child("error", NS).is_some_and(
            |e| e.has_child("resource-constraint", "urn:ietf:params:xml:ns:xmpp-stanzas")
        ),
        "{}",
        String::from(&refused)
    );
    // Another user is not held up by them.
    w.link.send(&ask(JULIET, "j0")).await;
    let form = w
        .link
        .recv_until("juliet's form", |e| e.attr("id") == Some("j0"))
        .await;
    assert_eq!(form.attr("type"), Some("result"));
}
