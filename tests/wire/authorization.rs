//! Who reaches what: `allow_users` decides who may register and keep a
//! session; everyone else is refused with a stanza error.

use gatehouse_tests::{GATEWAY, Wire, register_iq};

use crate::errors::assert_error;
use crate::{NS, ROMEO};

const STRANGER: &str = "eve@elsewhere.example";

async fn ask_form(w: &mut Wire, user: &str, id: &str) -> minidom::Element {
    w.link
        .send(&format!(
            "<iq type='get' id='{id}' from='{user}/pc' to='{GATEWAY}'><query xmlns='jabber:iq:register'/></iq>"
        ))
        .await;
    w.link
        .recv_until("the answer", |e| e.is("iq", NS) && e.attr("id") == Some(id))
        .await
}

async fn submit(w: &mut Wire, user: &str, id: &str) -> minidom::Element {
    w.link.send(&register_iq(user, id, "eve", "1")).await;
    w.link
        .recv_until("the answer", |e| e.is("iq", NS) && e.attr("id") == Some(id))
        .await
}

async fn message_to_puppet(w: &mut Wire, user: &str, id: &str) -> minidom::Element {
    w.link
        .send(&format!(
            "<message type='chat' id='{id}' from='{user}/pc' to='c0@{GATEWAY}'><body>hi</body></message>"
        ))
        .await;
    w.link
        .recv_until("the answer", |e| {
            e.is("message", NS) && e.attr("id") == Some(id)
        })
        .await
}

#[tokio::test]
async fn by_default_only_the_servers_own_users_may_register() {
    let mut w = Wire::start(true).await;
    let reply = ask_form(&mut w, STRANGER, "f1").await;
    assert_error(&reply, "iq", "cancel", "not-allowed");
    assert_eq!(reply.attr("to"), Some("eve@elsewhere.example/pc"));
    assert_eq!(reply.attr("from"), Some(GATEWAY));
    let reply = submit(&mut w, STRANGER, "r1").await;
    assert_error(&reply, "iq", "cancel", "not-allowed");
    // Refused means no session: the puppets still ask them to register.
    let reply = message_to_puppet(&mut w, STRANGER, "m1").await;
    assert_error(&reply, "message", "auth", "registration-required");
    // Unregistering is never refused; there is simply nothing to remove.
    w.link
        .send(&format!(
            "<iq type='set' id='u1' from='{STRANGER}/pc' to='{GATEWAY}'><query xmlns='jabber:iq:register'><remove/></query></iq>"
        ))
        .await;
    let reply = w
        .link
        .recv_until("the answer", |e| {
            e.is("iq", NS) && e.attr("id") == Some("u1")
        })
        .await;
    assert_error(&reply, "iq", "auth", "registration-required");
    // The server's own users are served.
    w.register(ROMEO, "romeo", 1).await;
}

#[tokio::test]
async fn allow_users_admits_a_domain_and_single_users() {
    let mut w = Wire::start_with(
        true,
        "echo",
        "allow_users = [\"*@Elsewhere.example\", \"romeo@localhost\"]",
    )
    .await;
    w.register(STRANGER, "eve", 1).await;
    w.register(ROMEO, "romeo", 1).await;
    let reply = submit(&mut w, "juliet@localhost", "r2").await;
    assert_error(&reply, "iq", "cancel", "not-allowed");
}

#[tokio::test]
async fn a_user_taken_off_the_list_gets_no_session_after_a_restart() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    let mut config = std::fs::read_to_string(w.gateway.config_path()).unwrap();
    config.push_str("allow_users = [\"juliet@localhost\"]\n");
    std::fs::write(w.gateway.config_path(), config).unwrap();
    w.gateway.restart();
    w.link = Wire::connect(&w.server, true).await;
    // Juliet logs in; Romeo's session is not started again.
    w.register("juliet@localhost", "juliet", 1).await;
    let reply = message_to_puppet(&mut w, ROMEO, "m2").await;
    assert_error(&reply, "message", "auth", "registration-required");
}
