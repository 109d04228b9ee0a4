//! Who reaches what: `allow_users` decides who may register and keep a
//! session; everyone else is refused with a stanza error.

use gatehouse_tests::{GATEWAY, Wire, register_iq};

use crate::errors::assert_error;
use crate::{NS, ROMEO};

const STRANGER: &str = "eve@elsewhere.example";

/// Sends an iq get from `user` to `to`; its answer.
async fn iq_get(w: &mut Wire, user: &str, to: &str, id: &str, payload: &str) -> minidom::Element {
    w.link
        .send(&format!(
            "<iq type='get' id='{id}' from='{user}/pc' to='{to}'>{payload}</iq>"
        ))
        .await;
    answer(w, id).await
}

/// The gateway's answer to iq `id`.
async fn answer(w: &mut Wire, id: &str) -> minidom::Element {
    w.link
        .recv_until("the answer", |e| e.is("iq", NS) && e.attr("id") == Some(id))
        .await
}

async fn submit(w: &mut Wire, user: &str, id: &str) -> minidom::Element {
    w.link.send(&register_iq(user, id, "eve", "1")).await;
    answer(w, id).await
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
    let reply = iq_get(
        &mut w,
        STRANGER,
        GATEWAY,
        "f1",
        "<query xmlns='jabber:iq:register'/>",
    )
    .await;
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
    let reply = answer(&mut w, "u1").await;
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

const JULIET: &str = "juliet@localhost";

/// Taken off the list, a user keeps the registration and may still
/// unregister; put back on it, the user registers again and is served.
#[tokio::test]
async fn a_user_off_the_list_may_unregister_and_register_again_once_back() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    let open = std::fs::read_to_string(w.gateway.config_path()).unwrap();
    std::fs::write(
        w.gateway.config_path(),
        format!("{open}allow_users = [\"juliet@localhost\"]\n"),
    )
    .unwrap();
    w.gateway.restart();
    w.link = Wire::connect(&w.server, true).await;
    w.link
        .send(&format!(
            "<iq type='set' id='u1' from='{ROMEO}/pc' to='{GATEWAY}'><query xmlns='jabber:iq:register'><remove/></query></iq>"
        ))
        .await;
    assert_eq!(answer(&mut w, "u1").await.attr("type"), Some("result"));
    // Still off the list: a new registration is refused.
    let refused = submit(&mut w, ROMEO, "r2").await;
    assert_error(&refused, "iq", "cancel", "not-allowed");
    // Back on it (the default: the server's own users).
    std::fs::write(w.gateway.config_path(), open).unwrap();
    w.gateway.restart();
    w.link = Wire::connect(&w.server, true).await;
    w.register(ROMEO, "romeo", 1).await;
    to_c0(&mut w, ROMEO, "back", "<body>back again</body>").await;
    assert_eq!(c0_says_to(&mut w, ROMEO).await, "back again");
}

/// The first element named `name` under `element`, at any depth.
fn find<'a>(element: &'a minidom::Element, name: &str) -> Option<&'a minidom::Element> {
    element.children().find_map(|child| {
        (child.name() == name)
            .then_some(child)
            .or_else(|| find(child, name))
    })
}

/// Sends `payload` as a chat message from `user` to their `c0`.
async fn to_c0(w: &mut Wire, user: &str, id: &str, payload: &str) {
    w.link
        .send(&format!(
            "<message type='chat' id='{id}' from='{user}/pc' to='c0@{GATEWAY}'>{payload}</message>"
        ))
        .await;
}

/// The next body `c0` says to `user`; every stanza before it must be for
/// `user` too.
async fn c0_says_to(w: &mut Wire, user: &str) -> String {
    loop {
        let stanza = w.link.recv().await;
        let to = stanza.attr("to").unwrap_or_default();
        assert!(
            to == user || to.starts_with(&format!("{user}/")),
            "a stanza of {user}'s session went to {to}: {}",
            String::from(&stanza)
        );
        if stanza.attr("from").is_some_and(|f| f.starts_with("c0@"))
            && let Some(body) = gatehouse_tests::child_text(&stanza, "body", NS)
        {
            return body;
        }
    }
}

/// Two users with a contact of the same legacy id (`c0`, so the same puppet
/// JID): nothing one of them does through it reaches or shows to the other.
#[tokio::test]
async fn users_with_the_same_puppet_see_nothing_of_each_other() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    w.register(JULIET, "juliet", 1).await;

    // The plugin's key-value store is per user.
    to_c0(&mut w, ROMEO, "s1", "<body>/store secret for-romeo</body>").await;
    to_c0(&mut w, ROMEO, "s2", "<body>/load secret</body>").await;
    assert_eq!(c0_says_to(&mut w, ROMEO).await, "for-romeo");
    to_c0(&mut w, JULIET, "s3", "<body>/load secret</body>").await;
    assert_eq!(c0_says_to(&mut w, JULIET).await, "(none)");

    // Message ids map per user: Juliet correcting Romeo's message id finds
    // nothing of his.
    to_c0(&mut w, ROMEO, "romeo-1", "<body>hello</body>").await;
    assert_eq!(c0_says_to(&mut w, ROMEO).await, "hello");
    to_c0(
        &mut w,
        JULIET,
        "j2",
        "<body>hijack</body><replace xmlns='urn:xmpp:message-correct:0' id='romeo-1'/>",
    )
    .await;
    // (An id the map does not know reaches the plugin as it is.)
    assert_eq!(
        c0_says_to(&mut w, JULIET).await,
        "saw correction romeo-1: hijack"
    );

    // Avatars: Romeo's c0 gets one; Juliet's c0 has none, even asked by id.
    to_c0(&mut w, ROMEO, "a1", "<body>/avatar</body>").await;
    let event = w
        .link
        .recv_until("the avatar event", |e| e.attr("type") == Some("headline"))
        .await;
    assert_eq!(event.attr("to"), Some(ROMEO));
    let hash = find(&event, "info")
        .and_then(|info| info.attr("id"))
        .expect("an avatar id")
        .to_owned();
    let data = iq_get(
        &mut w,
        JULIET,
        &format!("c0@{GATEWAY}"),
        "d1",
        &format!(
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'>\
             <item id='{hash}'/></items></pubsub>"
        ),
    )
    .await;
    assert_eq!(data.attr("type"), Some("error"), "{}", String::from(&data));
    assert_eq!(data.attr("to"), Some("juliet@localhost/pc"));
    let vcard = iq_get(
        &mut w,
        JULIET,
        &format!("c0@{GATEWAY}"),
        "v1",
        "<vCard xmlns='vcard-temp'/>",
    )
    .await;
    assert!(find(&vcard, "PHOTO").is_none(), "{}", String::from(&vcard));
}

/// Nothing in the contract names a recipient: a plugin asked to make a
/// contact whose legacy id is another user's JID makes a puppet of
/// Romeo's, escaped, and everything it says goes to Romeo.
#[tokio::test]
async fn a_plugin_can_address_only_its_own_user() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    w.register(JULIET, "juliet", 1).await;
    to_c0(
        &mut w,
        ROMEO,
        "h1",
        "<body>/contact juliet@localhost</body>",
    )
    .await;
    // Everything that comes is Romeo's, up to the push of the new contact.
    let push = loop {
        let el = w.link.recv().await;
        assert!(
            el.attr("to").is_some_and(|to| to.starts_with(ROMEO)),
            "{el:?}"
        );
        if el.is("iq", NS) && el.attr("type") == Some("set") {
            break el;
        }
    };
    let item = find(&push, "item").expect("an item");
    assert_eq!(item.attr("jid"), Some("juliet\\40localhost@echo.localhost"));
    // The new contact talks: to Romeo, and everything else is his too.
    w.link
        .send(&format!(
            "<message type='chat' id='h2' from='{ROMEO}/pc' to='juliet\\40localhost@{GATEWAY}'><body>who are you</body></message>"
        ))
        .await;
    let echo = loop {
        let el = w.link.recv().await;
        assert!(
            el.attr("to").is_some_and(|to| to.starts_with(ROMEO)),
            "{el:?}"
        );
        if gatehouse_tests::child_text(&el, "body", NS).as_deref() == Some("who are you") {
            break el;
        }
    };
    assert_eq!(
        echo.attr("from"),
        Some("juliet\\40localhost@echo.localhost/gatehouse")
    );
    // And nothing at all reached Juliet: the first stanza to her is the
    // answer to her own ping, sent after all of the above.
    w.link
        .send(&format!(
            "<iq type='get' id='barrier' from='{JULIET}/pc' to='{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    loop {
        let el = w.link.recv().await;
        if el.attr("to").is_some_and(|to| to.starts_with(JULIET)) {
            assert_eq!(el.attr("id"), Some("barrier"), "{el:?}");
            assert_eq!(el.attr("type"), Some("result"));
            break;
        }
    }
}
