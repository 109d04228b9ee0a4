//! The roster: fill, pushes with and without XEP-0356, names, presences,
//! hostile legacy ids, removal, and no re-push after a restart.

use std::time::Duration;

use gatehouse_tests::{GATEWAY, Wire, child_text};
use minidom::Element;

use crate::{NS, ROMEO};

const ROSTER: &str = "jabber:iq:roster";

fn pushed_item(el: &Element) -> Option<&Element> {
    if !el.is("iq", NS) || el.attr("type") != Some("set") {
        return None;
    }
    el.get_child("query", ROSTER)?.get_child("item", ROSTER)
}

fn assert_online_echo(presence: &Element, puppet: &str) {
    assert!(presence.is("presence", NS));
    assert_eq!(
        presence.attr("from"),
        Some(format!("{puppet}/gatehouse").as_str())
    );
    assert_eq!(presence.attr("to"), Some(ROMEO));
    assert_eq!(presence.attr("type"), None);
    assert_eq!(child_text(presence, "status", NS).as_deref(), Some("echo"));
    let caps = presence
        .get_child("c", "http://jabber.org/protocol/caps")
        .expect("caps");
    assert_eq!(caps.attr("hash"), Some("sha-1"));
    assert!(caps.attr("ver").is_some_and(|v| !v.is_empty()));
}

async fn message(w: &mut Wire, to: &str, body: &str) {
    w.link
        .send(&format!(
            "<message type='chat' id='m1' from='{ROMEO}/pc' to='{to}'><body>{body}</body></message>"
        ))
        .await;
}

#[tokio::test]
async fn fill_roster_pushes_each_contact_then_its_presence() {
    let mut w = Wire::start(true).await;
    w.link
        .send(&gatehouse_tests::register_iq(ROMEO, "r1", "romeo", "3"))
        .await;
    w.link
        .recv_until("Logging in", |e| {
            child_text(e, "status", NS).as_deref() == Some("Logging in…")
        })
        .await;
    for i in 0..3 {
        let push = w.link.recv().await;
        assert_eq!(push.attr("from"), Some(GATEWAY));
        assert_eq!(push.attr("to"), Some(ROMEO));
        let item = pushed_item(&push)
            .unwrap_or_else(|| panic!("a roster push, got {}", String::from(&push)));
        let puppet = format!("c{i}@{GATEWAY}");
        assert_eq!(item.attr("jid"), Some(puppet.as_str()));
        assert_eq!(item.attr("name"), Some(format!("Contact {i}").as_str()));
        assert_eq!(item.attr("subscription"), Some("both"));
        assert_eq!(
            child_text(item, "group", ROSTER).as_deref(),
            Some("Echo network")
        );
        let id = push.attr("id").expect("an id").to_owned();
        w.link
            .send(&format!(
                "<iq type='result' id='{id}' from='{ROMEO}' to='{GATEWAY}'/>"
            ))
            .await;
        assert_online_echo(&w.link.recv().await, &puppet);
    }
    let status = w.link.recv().await;
    assert_eq!(status.attr("from"), Some(GATEWAY));
    assert_eq!(
        child_text(&status, "status", NS).as_deref(),
        Some("Echo network: logged in as romeo")
    );
}

#[tokio::test]
async fn without_the_privilege_contacts_ask_to_subscribe() {
    let mut w = Wire::start(false).await;
    w.link
        .send(&gatehouse_tests::register_iq(ROMEO, "r1", "romeo", "1"))
        .await;
    let subscribe = w
        .link
        .recv_until("a contact's subscription request", |e| {
            e.is("presence", NS) && e.attr("from") == Some("c0@echo.localhost")
        })
        .await;
    assert_eq!(subscribe.attr("type"), Some("subscribe"));
    assert_eq!(subscribe.attr("to"), Some(ROMEO));
    assert_eq!(
        child_text(&subscribe, "nick", "http://jabber.org/protocol/nick").as_deref(),
        Some("Contact 0")
    );
    w.logged_in(ROMEO).await;
    // The user accepts: the contact's presence follows.
    w.link
        .send(&format!(
            "<presence type='subscribed' from='{ROMEO}' to='c0@{GATEWAY}'/>"
        ))
        .await;
    assert_online_echo(&w.link.recv().await, &format!("c0@{GATEWAY}"));
    // The user subscribes back: approved, then the presence.
    w.link
        .send(&format!(
            "<presence type='subscribe' from='{ROMEO}' to='c0@{GATEWAY}'/>"
        ))
        .await;
    let approved = w.link.recv().await;
    assert_eq!(approved.attr("type"), Some("subscribed"));
    assert_eq!(approved.attr("from"), Some("c0@echo.localhost"));
    assert_online_echo(&w.link.recv().await, &format!("c0@{GATEWAY}"));
}

#[tokio::test]
async fn nick_renames_in_the_roster() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    message(&mut w, &format!("c0@{GATEWAY}"), "/nick Juliet C.").await;
    let push = w.link.recv().await;
    let item = pushed_item(&push).expect("a roster push");
    assert_eq!(item.attr("jid"), Some("c0@echo.localhost"));
    assert_eq!(item.attr("name"), Some("Juliet C."));
    assert_eq!(item.attr("subscription"), Some("both"));
    // And a PEP nick event (XEP-0172) from the puppet.
    let event = w.link.recv().await;
    assert_eq!(event.attr("type"), Some("headline"));
    assert_eq!(event.attr("from"), Some("c0@echo.localhost"));
    let items = event
        .get_child("event", "http://jabber.org/protocol/pubsub#event")
        .and_then(|e| e.get_child("items", "http://jabber.org/protocol/pubsub#event"))
        .expect("a pubsub event");
    assert_eq!(items.attr("node"), Some("http://jabber.org/protocol/nick"));
    let nick = items
        .get_child("item", "http://jabber.org/protocol/pubsub#event")
        .and_then(|i| i.get_child("nick", "http://jabber.org/protocol/nick"))
        .map(Element::text);
    assert_eq!(nick.as_deref(), Some("Juliet C."));
}

#[tokio::test]
async fn a_contact_out_of_the_roster_says_its_name_in_messages() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    message(&mut w, &format!("c0@{GATEWAY}"), "/unfriend").await;
    w.link.recv().await;
    w.link.recv().await;
    w.link
        .send(&format!(
            "<message type='chat' id='n1' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>still there?</body></message>"
        ))
        .await;
    let echo = crate::receipt_then_echo(&mut w.link, "c0@echo.localhost", "n1").await;
    assert_eq!(
        child_text(&echo, "nick", "http://jabber.org/protocol/nick").as_deref(),
        Some("Contact 0")
    );
}

#[tokio::test]
async fn presence_sets_show_and_status_and_probes_get_it() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    message(
        &mut w,
        &format!("c0@{GATEWAY}"),
        "/presence away out for lunch",
    )
    .await;
    let away = w.link.recv().await;
    assert!(away.is("presence", NS));
    assert_eq!(away.attr("from"), Some("c0@echo.localhost/gatehouse"));
    assert_eq!(child_text(&away, "show", NS).as_deref(), Some("away"));
    assert_eq!(
        child_text(&away, "status", NS).as_deref(),
        Some("out for lunch")
    );
    w.link
        .send(&format!(
            "<presence type='probe' from='{ROMEO}' to='c0@{GATEWAY}'/>"
        ))
        .await;
    let answer = w.link.recv().await;
    assert_eq!(answer, away, "a probe gets the last presence");
    message(&mut w, &format!("c0@{GATEWAY}"), "/presence offline").await;
    let offline = w.link.recv().await;
    assert_eq!(offline.attr("type"), Some("unavailable"));
    assert_eq!(offline.attr("from"), Some("c0@echo.localhost/gatehouse"));
    // Setting the same presence again sends nothing.
    message(&mut w, &format!("c0@{GATEWAY}"), "/presence offline").await;
    w.link.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn hostile_legacy_ids_become_escaped_puppets_and_stay_singletons() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    let id = "Ann O'Neil@work/home\\x 🦀";
    let escaped = "ann\\20o\\27neil\\40work\\2fhome\\5cx\\20\\u1f980;";
    message(&mut w, &format!("c0@{GATEWAY}"), &format!("/contact {id}")).await;
    let push = w.link.recv().await;
    let item = pushed_item(&push).expect("a roster push");
    let puppet = format!("{escaped}@{GATEWAY}");
    assert_eq!(item.attr("jid"), Some(puppet.as_str()));
    assert_eq!(item.attr("name"), Some(id));
    assert_online_echo(&w.link.recv().await, &puppet);
    // The same contact again: no second push, it is the same contact.
    message(&mut w, &format!("c0@{GATEWAY}"), &format!("/contact {id}")).await;
    w.link.expect_silence(Duration::from_millis(300)).await;
    // It echoes from the escaped puppet.
    w.link
        .send(&format!(
            "<message type='chat' id='x1' from='{ROMEO}/pc' to='{puppet}'><body>hello</body></message>"
        ))
        .await;
    let echo = crate::receipt_then_echo(&mut w.link, &puppet, "x1").await;
    assert_eq!(
        echo.attr("from"),
        Some(format!("{puppet}/gatehouse").as_str())
    );
    assert_eq!(child_text(&echo, "body", NS).as_deref(), Some("hello"));
}

#[tokio::test]
async fn unfriend_removes_from_the_roster() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    message(&mut w, &format!("c0@{GATEWAY}"), "/unfriend").await;
    let push = w.link.recv().await;
    let item = pushed_item(&push).expect("a roster push");
    assert_eq!(item.attr("jid"), Some("c0@echo.localhost"));
    assert_eq!(item.attr("subscription"), Some("remove"));
    let gone = w.link.recv().await;
    assert_eq!(gone.attr("type"), Some("unavailable"));
    assert_eq!(gone.attr("from"), Some("c0@echo.localhost/gatehouse"));
}

#[tokio::test]
async fn a_restart_does_not_push_the_roster_again() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 2).await;
    w.link.expect_silence(Duration::from_millis(200)).await;
    w.gateway.restart();
    let mut link = Wire::connect(&w.server, true).await;
    let mut seen = Vec::new();
    loop {
        let el = link.recv().await;
        assert!(
            pushed_item(&el).is_none(),
            "pushed again: {}",
            String::from(&el)
        );
        let is_status = el.attr("from") == Some(GATEWAY)
            && child_text(&el, "status", NS).as_deref() == Some("Echo network: logged in as romeo");
        seen.push(el);
        if is_status {
            break;
        }
    }
    // The contacts' presences are sent again: the user's clients need them.
    let presences = seen
        .iter()
        .filter(|e| {
            e.attr("from")
                .is_some_and(|f| f.ends_with("@echo.localhost/gatehouse"))
        })
        .count();
    assert_eq!(presences, 2);
}

#[tokio::test]
async fn update_contact_info_runs_once_per_new_contact_after_the_call_that_made_it() {
    let mut w = Wire::start_plugin(true, "probe").await;
    w.link
        .send(&format!(
            "<iq type='set' id='r1' from='{ROMEO}/pc' to='{GATEWAY}'><query xmlns='jabber:iq:register'>\
             <username>romeo</username></query></iq>"
        ))
        .await;
    // fill-roster pushes both contacts without names; only then does the
    // host call update-contact-info, once each, which names them.
    let mut names = Vec::new();
    while names.len() < 4 {
        let el = w.link.recv().await;
        if let Some(item) = pushed_item(&el) {
            names.push((
                item.attr("jid").unwrap_or_default().to_owned(),
                item.attr("name").map(str::to_owned),
            ));
        }
    }
    assert_eq!(
        names,
        [
            ("a@echo.localhost".to_owned(), None),
            ("b@echo.localhost".to_owned(), None),
            (
                "a@echo.localhost".to_owned(),
                Some("a updated 1".to_owned())
            ),
            (
                "b@echo.localhost".to_owned(),
                Some("b updated 1".to_owned())
            ),
        ]
    );
    // Known contacts are not new after a restart: no second call.
    w.gateway.restart();
    let mut link = Wire::connect(&w.server, true).await;
    link.recv_until("the status", |e| {
        child_text(e, "status", NS).as_deref() == Some("probing")
    })
    .await;
    link.expect_silence(Duration::from_millis(500)).await;
}

/// ejabberd before 23.10 grants the roster privilege and refuses every push
/// (`internal-server-error`): the refused contact is offered as a
/// subscription request with its nickname, and later contacts are not
/// pushed at all.
#[tokio::test]
async fn a_refused_push_falls_back_to_a_subscription_request() {
    let mut w = Wire::start(true).await;
    w.link
        .send(&gatehouse_tests::register_iq(ROMEO, "r1", "romeo", "2"))
        .await;
    let first = w
        .link
        .recv_until("the first push", |e| pushed_item(e).is_some())
        .await;
    let id = first.attr("id").expect("an id").to_owned();
    w.link
        .send(&format!(
            "<iq type='error' id='{id}' from='{ROMEO}' to='{GATEWAY}'><error type='wait'>\
             <internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ))
        .await;
    // The second contact was pushed before the refusal came back: refused too.
    let second = w
        .link
        .recv_until("the second push", |e| pushed_item(e).is_some())
        .await;
    let second_id = second.attr("id").expect("an id").to_owned();
    w.link
        .send(&format!(
            "<iq type='error' id='{second_id}' from='{ROMEO}' to='{GATEWAY}'><error type='wait'>\
             <internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ))
        .await;
    for i in 0..2 {
        let puppet = format!("c{i}@{GATEWAY}");
        let request = w
            .link
            .recv_until("a subscription request", |e| {
                e.is("presence", NS)
                    && e.attr("type") == Some("subscribe")
                    && e.attr("from") == Some(puppet.as_str())
            })
            .await;
        assert_eq!(request.attr("to"), Some(ROMEO));
        assert_eq!(
            child_text(&request, "nick", "http://jabber.org/protocol/nick").as_deref(),
            Some(format!("Contact {i}").as_str())
        );
    }
    // A contact added now is asked for, not pushed.
    message(&mut w, &format!("c0@{GATEWAY}"), "/contact newbie").await;
    let added = w
        .link
        .recv_until("newbie's request", |e| {
            pushed_item(e).is_some()
                || (e.is("presence", NS) && e.attr("type") == Some("subscribe"))
        })
        .await;
    assert!(
        added.is("presence", NS),
        "pushed again: {}",
        String::from(&added)
    );
    assert_eq!(
        added.attr("from"),
        Some(format!("newbie@{GATEWAY}").as_str())
    );
}

/// A push the server never answered (a kill may have come between its
/// commit and its write) is checked at the next login against the user's
/// roster, asked of the server (XEP-0356 roster get): only what the server
/// lacks is pushed again, and once answered nothing is asked any more.
#[tokio::test]
async fn unanswered_pushes_are_checked_against_the_server_roster_after_a_restart() {
    let mut w = Wire::start(true).await;
    // The pushes of c0 and c1 go unanswered.
    w.register(ROMEO, "romeo", 2).await;
    w.link.expect_silence(Duration::from_millis(200)).await;
    w.gateway.restart();
    let mut link = Wire::connect(&w.server, true).await;
    let get = link
        .recv_until("the roster request", |e| {
            e.is("iq", NS) && e.attr("type") == Some("get")
        })
        .await;
    assert_eq!(get.attr("from"), Some(GATEWAY));
    assert_eq!(get.attr("to"), Some(ROMEO));
    let query = get.get_child("query", ROSTER).expect("a roster query");
    assert_eq!(query.children().count(), 0);
    let id = get.attr("id").expect("an id").to_owned();
    // The server has c0 only.
    link.send(&format!(
        "<iq type='result' id='{id}' from='{ROMEO}' to='{GATEWAY}'><query xmlns='{ROSTER}'>\
         <item jid='c0@{GATEWAY}' subscription='both' name='Contact 0'/></query></iq>"
    ))
    .await;
    let push = link
        .recv_until("the push of what the server lacks", |e| {
            pushed_item(e).is_some()
        })
        .await;
    let item = pushed_item(&push).expect("an item");
    assert_eq!(item.attr("jid"), Some(format!("c1@{GATEWAY}").as_str()));
    assert_eq!(item.attr("name"), Some("Contact 1"));
    let push_id = push.attr("id").expect("an id").to_owned();
    link.send(&format!(
        "<iq type='result' id='{push_id}' from='{ROMEO}' to='{GATEWAY}'/>"
    ))
    .await;
    link.expect_silence(Duration::from_millis(300)).await;

    // Everything is confirmed now: the next start asks nothing.
    w.gateway.restart();
    let mut link = Wire::connect(&w.server, true).await;
    loop {
        let el = link.recv().await;
        assert!(
            !(el.is("iq", NS) && el.has_child("query", ROSTER)),
            "asked or pushed again: {}",
            String::from(&el)
        );
        if el.attr("from") == Some(GATEWAY)
            && child_text(&el, "status", NS).as_deref() == Some("Echo network: logged in as romeo")
        {
            break;
        }
    }
}

/// The plugin's `legacy-id-to-jid-username` names a new contact's puppet
/// (the probe maps `@bob` to `at-bob`); an id it leaves alone keeps the
/// XEP-0106 escape; the user's answer to the mapped puppet reaches the
/// same contact.
#[tokio::test]
async fn the_plugins_id_mapping_names_new_puppets() {
    let mut w = crate::sandbox::probe_session("").await;
    let mut from = async |id: &str, expected_puppet: String| {
        w.link
            .send(&format!(
                "<message type='chat' id='q' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>from {id} hi</body></message>"
            ))
            .await;
        let message = w
            .link
            .recv_until("the new contact's message", |e| {
                e.is("message", NS) && child_text(e, "body", NS).as_deref() == Some("hi")
            })
            .await;
        assert_eq!(
            message.attr("from"),
            Some(format!("{expected_puppet}/gatehouse").as_str())
        );
        assert_eq!(message.attr("to"), Some(ROMEO));
        assert_eq!(message.attr("type"), Some("chat"));
    };
    from("@Bob", format!("at-bob@{GATEWAY}")).await;
    from("x/y", format!("x\\2fy@{GATEWAY}")).await;
    // The mapped puppet is the same contact when the user writes to it.
    w.link
        .send(&format!(
            "<message type='chat' id='q2' from='{ROMEO}/pc' to='at-bob@{GATEWAY}'><body>env X</body></message>"
        ))
        .await;
    let answer = w
        .link
        .recv_until("the mapped contact's answer", |e| {
            e.attr("from") == Some(format!("at-bob@{GATEWAY}/gatehouse").as_str())
                && child_text(e, "body", NS).is_some()
        })
        .await;
    assert!(
        child_text(&answer, "body", NS)
            .unwrap_or_default()
            .starts_with("env refused:"),
        "{answer:?}"
    );
}

/// Only the user's own server answers for the user: a refusal of Romeo's
/// push sent by someone else (Juliet, or a client of Romeo's own, who saw
/// the push's id) is not taken for the server's, so pushes stay on for the domain; Romeo's own
/// server's answer still settles the push.
#[tokio::test]
async fn a_push_answer_from_someone_else_is_ignored() {
    let mut w = Wire::start(true).await;
    w.link
        .send(&gatehouse_tests::register_iq(ROMEO, "r1", "romeo", "1"))
        .await;
    let first = w
        .link
        .recv_until("the push", |e| pushed_item(e).is_some())
        .await;
    let id = first.attr("id").expect("an id").to_owned();
    assert_eq!(id.len(), "gh-".len() + 32, "an unguessable id: {id}");
    // Juliet, and Romeo's own client (a full JID): neither is his server.
    for forger in ["juliet@localhost/pc", "romeo@localhost/pc"] {
        w.link
            .send(&format!(
                "<iq type='error' id='{id}' from='{forger}' to='{GATEWAY}'><error type='wait'>\
                 <internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            ))
            .await;
    }
    w.link
        .send(&format!(
            "<iq type='result' id='{id}' from='{ROMEO}' to='{GATEWAY}'/>"
        ))
        .await;
    // A contact added now is still pushed, not asked for.
    message(&mut w, &format!("c0@{GATEWAY}"), "/contact newbie").await;
    let added = w
        .link
        .recv_until("newbie's push or request", |e| {
            pushed_item(e).is_some()
                || (e.is("presence", NS) && e.attr("type") == Some("subscribe"))
        })
        .await;
    let item = pushed_item(&added).expect("pushed, not a subscription request");
    assert_eq!(item.attr("jid"), Some(format!("newbie@{GATEWAY}").as_str()));
}
