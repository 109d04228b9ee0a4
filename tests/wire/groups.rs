//! Groups (WIRE.md "Groups"): the echo network's `g0` as a MUC room the
//! gateway serves, stanza by stanza: bookmarks, disco, the join sequence,
//! groupchat both ways with reflection and ids, history, self-ping, and the
//! group commands of ECHO.md.

use gatehouse_tests::{GATEWAY, Wire, child_text, register_iq_with_groups};
use minidom::Element;

use crate::errors::has_condition;
use crate::{NS, ROMEO};

pub(crate) const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub(crate) const SID: &str = "urn:xmpp:sid:0";
pub(crate) const OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
pub(crate) const ROOM: &str = "g0@echo.localhost";
pub(crate) const CLIENT: &str = "romeo@localhost/pc";

/// The grant of Prosody's mod_privilege with the `iq` pubsub permission
/// the bookmarks need.
pub(crate) const PEP_PRIVILEGE: &str = "<message from='localhost' to='echo.localhost'>\
    <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
    <perm access='message' type='outgoing'/>\
    <perm access='iq'><namespace ns='http://jabber.org/protocol/pubsub' type='set'/></perm>\
    </privilege></message>";

/// Registers romeo (2 contacts, 1 group) and returns every stanza up to
/// the logged-in presence.
pub(crate) async fn register(w: &mut Wire) -> Vec<Element> {
    w.link
        .send(&register_iq_with_groups(ROMEO, "reg1", "romeo", "2", "1"))
        .await;
    let mut seen = Vec::new();
    loop {
        let e = w.link.recv().await;
        let done = e.is("presence", NS)
            && e.attr("from") == Some(GATEWAY)
            && e.attr("type").is_none()
            && e.get_child("show", NS).is_none();
        seen.push(e);
        if done {
            return seen;
        }
    }
}

/// The status codes of a presence's `muc#user` payload.
pub(crate) fn codes(e: &Element) -> Vec<String> {
    e.get_child("x", MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.is("status", MUC_USER))
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn item(e: &Element) -> &Element {
    e.get_child("x", MUC_USER)
        .and_then(|x| x.get_child("item", MUC_USER))
        .unwrap_or_else(|| panic!("no muc#user item: {}", String::from(e)))
}

pub(crate) fn occupant_id(e: &Element) -> String {
    e.get_child("occupant-id", OCCUPANT_ID)
        .and_then(|o| o.attr("id"))
        .unwrap_or_else(|| panic!("no occupant-id: {}", String::from(e)))
        .to_owned()
}

/// Joins `g0` as `nick` from [`CLIENT`] and returns the join sequence up
/// to the subject, which ends it.
pub(crate) async fn join(w: &mut Wire, nick: &str) -> Vec<Element> {
    w.link
        .send(&format!(
            "<presence from='{CLIENT}' to='{ROOM}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    let mut seen = Vec::new();
    loop {
        let e = w.link.recv().await;
        let subject = e.is("message", NS) && e.has_child("subject", NS);
        seen.push(e);
        if subject {
            return seen;
        }
    }
}

/// Sends a groupchat message and returns the gateway's first stanza
/// under its id: its reflection, or the error refusing it.
pub(crate) async fn answer_to(w: &mut Wire, id: &str, body: &str) -> Element {
    w.link
        .send(&format!(
            "<message type='groupchat' id='{id}' from='{CLIENT}' to='{ROOM}'><body>{body}</body></message>"
        ))
        .await;
    w.link
        .recv_until("the answer", |e| e.attr("id") == Some(id))
        .await
}

#[tokio::test]
async fn groups_are_bookmarked_in_the_users_pep_when_the_server_grants_it() {
    let mut w = Wire::start(false).await;
    w.link.send(PEP_PRIVILEGE).await;
    let seen = register(&mut w).await;
    let publish = seen
        .iter()
        .find(|e| e.is("iq", NS) && e.has_child("privileged_iq", "urn:xmpp:privilege:2"))
        .unwrap_or_else(|| panic!("no privileged publish: {seen:#?}"));
    assert_eq!(publish.attr("type"), Some("set"));
    assert_eq!(publish.attr("from"), Some(GATEWAY));
    assert_eq!(publish.attr("to"), Some(ROMEO));
    let inner = publish
        .get_child("privileged_iq", "urn:xmpp:privilege:2")
        .and_then(|p| p.get_child("iq", "jabber:client"))
        .expect("the wrapped iq, in jabber:client");
    assert_eq!(inner.attr("type"), Some("set"));
    assert_eq!(inner.attr("from"), Some(ROMEO));
    assert_eq!(inner.attr("to"), Some(ROMEO));
    let pubsub = inner
        .get_child("pubsub", "http://jabber.org/protocol/pubsub")
        .expect("pubsub");
    let item = pubsub
        .get_child("publish", "http://jabber.org/protocol/pubsub")
        .filter(|p| p.attr("node") == Some("urn:xmpp:bookmarks:1"))
        .and_then(|p| p.get_child("item", "http://jabber.org/protocol/pubsub"))
        .expect("a published bookmark item");
    assert_eq!(item.attr("id"), Some(ROOM));
    let conference = item
        .get_child("conference", "urn:xmpp:bookmarks:1")
        .expect("conference");
    assert_eq!(conference.attr("autojoin"), Some("true"));
    assert_eq!(conference.attr("name"), Some("Group 0"));
    assert_eq!(
        child_text(conference, "nick", "urn:xmpp:bookmarks:1").as_deref(),
        Some("romeo")
    );
    assert!(pubsub.has_child("publish-options", "http://jabber.org/protocol/pubsub"));
    assert!(
        !seen.iter().any(|e| e.has_child("x", "jabber:x:conference")),
        "no invitation when the bookmark could be written"
    );
}

#[tokio::test]
async fn without_the_iq_privilege_a_group_comes_as_an_invitation() {
    let mut w = Wire::start(true).await;
    let seen = register(&mut w).await;
    let invitation = seen
        .iter()
        .find(|e| e.is("message", NS) && e.has_child("x", "jabber:x:conference"))
        .unwrap_or_else(|| panic!("no invitation: {seen:#?}"));
    assert_eq!(invitation.attr("from"), Some(GATEWAY));
    assert_eq!(invitation.attr("to"), Some(ROMEO));
    let x = invitation.get_child("x", "jabber:x:conference").unwrap();
    assert_eq!(x.attr("jid"), Some(ROOM));
    assert!(
        !seen
            .iter()
            .any(|e| e.has_child("privileged_iq", "urn:xmpp:privilege:2"))
    );
}

#[tokio::test]
async fn the_gateway_lists_the_rooms_and_a_room_describes_itself() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    w.link
        .send(&format!(
            "<iq type='get' id='items' from='{CLIENT}' to='{GATEWAY}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
        ))
        .await;
    let items = w
        .link
        .recv_until("disco#items", |e| e.attr("id") == Some("items"))
        .await;
    let listed: Vec<(Option<&str>, Option<&str>)> = items
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .expect("query")
        .children()
        .map(|i| (i.attr("jid"), i.attr("name")))
        .collect();
    assert_eq!(listed, [(Some(ROOM), Some("Group 0"))]);
    w.link
        .send(&format!(
            "<iq type='get' id='info' from='{CLIENT}' to='{ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ))
        .await;
    let info = w
        .link
        .recv_until("disco#info", |e| e.attr("id") == Some("info"))
        .await;
    assert_eq!(info.attr("type"), Some("result"), "{}", String::from(&info));
    assert_eq!(info.attr("from"), Some(ROOM));
    let query = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("query");
    let identity = query
        .get_child("identity", "http://jabber.org/protocol/disco#info")
        .expect("identity");
    assert_eq!(identity.attr("category"), Some("conference"));
    assert_eq!(identity.attr("type"), Some("text"));
    assert_eq!(identity.attr("name"), Some("Group 0"));
    let features: Vec<&str> = query
        .children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var"))
        .collect();
    for f in [
        "http://jabber.org/protocol/muc",
        "muc_persistent",
        "muc_membersonly",
        "muc_nonanonymous",
        SID,
        OCCUPANT_ID,
    ] {
        assert!(features.contains(&f), "{f} missing from {features:?}");
    }
    assert!(!features.contains(&"muc_open"));
    let form = query
        .get_child("x", "jabber:x:data")
        .expect("muc#roominfo form");
    let value = |var: &str| {
        form.children()
            .find(|f| f.attr("var") == Some(var))
            .and_then(|f| child_text(f, "value", "jabber:x:data"))
    };
    assert_eq!(
        value("FORM_TYPE").as_deref(),
        Some("http://jabber.org/protocol/muc#roominfo")
    );
    assert_eq!(
        value("muc#roominfo_occupants").as_deref(),
        Some("0"),
        "nobody joined yet"
    );
}

#[tokio::test]
async fn a_join_gets_the_participants_then_itself_then_the_subject() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    let seen = join(&mut w, "romeo").await;
    assert_eq!(seen.len(), 4, "two participants, self, subject: {seen:#?}");
    for (e, nick, contact) in [
        (&seen[0], "Contact 0", "c0@echo.localhost"),
        (&seen[1], "Contact 1", "c1@echo.localhost"),
    ] {
        assert!(e.is("presence", NS));
        assert_eq!(e.attr("type"), None);
        assert_eq!(e.attr("from"), Some(format!("{ROOM}/{nick}").as_str()));
        assert_eq!(e.attr("to"), Some(CLIENT));
        let item = item(e);
        assert_eq!(item.attr("affiliation"), Some("member"));
        assert_eq!(item.attr("role"), Some("participant"));
        assert_eq!(item.attr("jid"), Some(contact), "a group is non-anonymous");
        assert!(codes(e).is_empty());
        assert_eq!(occupant_id(e).len(), 32);
    }
    assert_ne!(occupant_id(&seen[0]), occupant_id(&seen[1]));
    let own = &seen[2];
    assert_eq!(own.attr("from"), Some(format!("{ROOM}/romeo").as_str()));
    assert_eq!(own.attr("to"), Some(CLIENT));
    assert_eq!(item(own).attr("jid"), Some(ROMEO));
    let mut own_codes = codes(own);
    own_codes.sort();
    assert_eq!(
        own_codes,
        ["100", "110"],
        "self, non-anonymous; the nick as asked"
    );
    let subject = &seen[3];
    assert_eq!(subject.attr("type"), Some("groupchat"));
    assert_eq!(
        subject.attr("from"),
        Some(format!("{ROOM}/Contact 0").as_str())
    );
    assert_eq!(subject.attr("to"), Some(CLIENT));
    assert_eq!(
        child_text(subject, "subject", NS).as_deref(),
        Some("Echo group 0")
    );
    assert!(subject.get_child("body", NS).is_none());
}

#[tokio::test]
async fn a_join_under_another_nick_gets_the_networks_and_a_change_is_refused() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    let seen = join(&mut w, "Romy").await;
    let own = seen
        .iter()
        .find(|e| codes(e).contains(&"110".to_owned()))
        .expect("the self-presence");
    assert_eq!(
        own.attr("from"),
        Some(format!("{ROOM}/romeo").as_str()),
        "the network's nick"
    );
    assert!(
        codes(own).contains(&"210".to_owned()),
        "210: the nick was changed"
    );
    // Now joined as romeo: another nick is refused, with a text.
    w.link
        .send(&format!(
            "<presence id='nick' from='{CLIENT}' to='{ROOM}/Other'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    let refused = w
        .link
        .recv_until("the refusal", |e| e.attr("id") == Some("nick"))
        .await;
    assert_eq!(refused.attr("type"), Some("error"));
    assert_eq!(refused.attr("from"), Some(format!("{ROOM}/Other").as_str()));
    let error = refused.get_child("error", NS).expect("error");
    assert!(error.has_child("not-acceptable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
    assert!(
        child_text(error, "text", "urn:ietf:params:xml:ns:xmpp-stanzas")
            .is_some_and(|t| t.contains("romeo")),
        "{}",
        String::from(&refused)
    );
}

#[tokio::test]
async fn a_groupchat_message_is_reflected_archived_and_heard() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    let refused = answer_to(&mut w, "early", "too soon").await;
    assert_eq!(refused.attr("type"), Some("error"));
    assert!(has_condition(&refused, "not-acceptable"));
    let joined = join(&mut w, "romeo").await;
    let own_occupant = occupant_id(&joined[2]);
    w.link
        .send(&format!(
            "<message type='groupchat' id='m1' from='{CLIENT}' to='{ROOM}'><body>hello room</body></message>"
        ))
        .await;
    let reflected = w.link.recv().await;
    assert_eq!(reflected.attr("type"), Some("groupchat"));
    assert_eq!(
        reflected.attr("id"),
        Some("m1"),
        "the client's id comes back"
    );
    assert_eq!(
        reflected.attr("from"),
        Some(format!("{ROOM}/romeo").as_str())
    );
    assert_eq!(reflected.attr("to"), Some(CLIENT));
    assert_eq!(
        child_text(&reflected, "body", NS).as_deref(),
        Some("hello room")
    );
    let sid = reflected.get_child("stanza-id", SID).expect("stanza-id");
    assert_eq!(sid.attr("by"), Some(ROOM));
    assert_eq!(
        sid.attr("id"),
        Some("u1"),
        "the legacy id names it in the archive"
    );
    assert_eq!(occupant_id(&reflected), own_occupant);
    let heard = w.link.recv().await;
    assert_eq!(heard.attr("type"), Some("groupchat"));
    assert_eq!(
        heard.attr("from"),
        Some(format!("{ROOM}/Contact 0").as_str())
    );
    assert_eq!(heard.attr("to"), Some(CLIENT));
    assert_eq!(
        child_text(&heard, "body", NS).as_deref(),
        Some("heard: hello room")
    );
    let id = heard.attr("id").expect("an id").to_owned();
    assert_eq!(
        heard.get_child("stanza-id", SID).and_then(|s| s.attr("id")),
        Some(id.as_str())
    );
    assert_eq!(
        occupant_id(&heard),
        occupant_id(&joined[0]),
        "Contact 0's occupant id"
    );
    // A second client joining gets both from the archive, dated.
    w.link
        .send(&format!(
            "<presence from='romeo@localhost/phone' to='{ROOM}/romeo'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='5'/></x></presence>"
        ))
        .await;
    let mut history = Vec::new();
    loop {
        let e = w.link.recv().await;
        if e.has_child("subject", NS) {
            break;
        }
        if e.is("message", NS) {
            history.push(e);
        }
    }
    let bodies: Vec<_> = history.iter().map(|m| child_text(m, "body", NS)).collect();
    assert_eq!(
        bodies,
        [
            Some("hello room".to_owned()),
            Some("heard: hello room".to_owned())
        ]
    );
    for m in &history {
        assert_eq!(m.attr("to"), Some("romeo@localhost/phone"));
        let delay = m
            .get_child("delay", "urn:xmpp:delay")
            .expect("history is dated");
        assert_eq!(delay.attr("from"), Some(ROOM));
        assert!(m.has_child("stanza-id", SID));
    }
}

#[tokio::test]
async fn self_ping_answers_while_joined_only() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    let ping = |id: &str| {
        format!(
            "<iq type='get' id='{id}' from='{CLIENT}' to='{ROOM}/romeo'><ping xmlns='urn:xmpp:ping'/></iq>"
        )
    };
    w.link.send(&ping("before")).await;
    let before = w
        .link
        .recv_until("the ping's answer", |e| e.attr("id") == Some("before"))
        .await;
    assert_eq!(before.attr("type"), Some("error"));
    assert!(has_condition(&before, "not-acceptable"));
    join(&mut w, "romeo").await;
    w.link.send(&ping("joined")).await;
    let joined = w
        .link
        .recv_until("the ping's answer", |e| e.attr("id") == Some("joined"))
        .await;
    assert_eq!(joined.attr("type"), Some("result"));
    assert_eq!(joined.attr("from"), Some(format!("{ROOM}/romeo").as_str()));
    // Leaving: the self-presence unavailable, then pings fail again.
    w.link
        .send(&format!(
            "<presence type='unavailable' from='{CLIENT}' to='{ROOM}/romeo'/>"
        ))
        .await;
    let left = w.link.recv().await;
    assert_eq!(left.attr("type"), Some("unavailable"));
    assert_eq!(left.attr("from"), Some(format!("{ROOM}/romeo").as_str()));
    assert!(codes(&left).contains(&"110".to_owned()));
    w.link.send(&ping("after")).await;
    let after = w
        .link
        .recv_until("the ping's answer", |e| e.attr("id") == Some("after"))
        .await;
    assert_eq!(after.attr("type"), Some("error"));
}
