//! Groups, the echo network's group commands (ECHO.md "Groups") and the
//! rules a room keeps: participants coming and going, backfill and the
//! archive's order by date, the user removed by the network, presence
//! updates, a second client, and what survives a restart.

use gatehouse_tests::{GATEWAY, Wire, child_text};
use minidom::Element;

use crate::errors::{error_text, has_condition};
use crate::groups::{
    CLIENT, MUC_USER, PEP_PRIVILEGE, ROOM, answer_to, codes, item, join, occupant_id, register,
};
use crate::{NS, ROMEO};

/// Sends a group command and returns what the gateway sends until the
/// command's own reflection.
pub(crate) async fn command(w: &mut Wire, id: &str, body: &str) -> Vec<Element> {
    w.link
        .send(&format!(
            "<message type='groupchat' id='{id}' from='{CLIENT}' to='{ROOM}'><body>{body}</body></message>"
        ))
        .await;
    let mut seen = Vec::new();
    loop {
        let e = w.link.recv().await;
        let reflection = e.attr("id") == Some(id);
        seen.push(e);
        if reflection {
            return seen;
        }
    }
}

#[tokio::test]
async fn participants_join_leave_are_kicked_and_renamed() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    let seen = command(&mut w, "j", "/join Ann").await;
    let ann = &seen[0];
    assert_eq!(ann.attr("from"), Some(format!("{ROOM}/Ann").as_str()));
    assert_eq!(ann.attr("type"), None);
    assert_eq!(item(ann).attr("jid"), None, "no contact, no real JID");
    let ann_id = occupant_id(ann);
    let seen = command(&mut w, "r", "/rename Ann Anna").await;
    assert_eq!(seen[0].attr("type"), Some("unavailable"));
    assert_eq!(seen[0].attr("from"), Some(format!("{ROOM}/Ann").as_str()));
    assert_eq!(codes(&seen[0]), ["303"]);
    assert_eq!(item(&seen[0]).attr("nick"), Some("Anna"));
    assert_eq!(seen[1].attr("type"), None);
    assert_eq!(seen[1].attr("from"), Some(format!("{ROOM}/Anna").as_str()));
    assert_eq!(
        occupant_id(&seen[1]),
        ann_id,
        "the same person across nicks"
    );
    let seen = command(&mut w, "k", "/kick Anna").await;
    assert_eq!(seen[0].attr("type"), Some("unavailable"));
    assert_eq!(codes(&seen[0]), ["307"]);
    assert_eq!(item(&seen[0]).attr("role"), Some("none"));
    assert_eq!(
        item(&seen[0])
            .get_child("reason", MUC_USER)
            .map(|r| r.text())
            .as_deref(),
        Some("echo kick")
    );
    command(&mut w, "j2", "/join Bob").await;
    let seen = command(&mut w, "l", "/leave Bob").await;
    assert_eq!(seen[0].attr("type"), Some("unavailable"));
    assert_eq!(seen[0].attr("from"), Some(format!("{ROOM}/Bob").as_str()));
    assert!(codes(&seen[0]).is_empty());
    let seen = command(&mut w, "s", "/subject New topic").await;
    assert_eq!(
        child_text(&seen[0], "subject", NS).as_deref(),
        Some("New topic")
    );
    assert_eq!(
        seen[0].attr("from"),
        Some(format!("{ROOM}/Contact 0").as_str())
    );
}

#[tokio::test]
async fn backfilled_history_is_archived_not_sent_and_served_on_join() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    let seen = command(&mut w, "h", "/history 3").await;
    assert_eq!(
        seen.len(),
        1,
        "archive-only: nothing live but the reflection: {seen:#?}"
    );
    w.link
        .send(&format!(
            "<presence from='romeo@localhost/phone' to='{ROOM}/romeo'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    let mut bodies = Vec::new();
    loop {
        let e = w.link.recv().await;
        if e.has_child("subject", NS) {
            break;
        }
        if let Some(body) = child_text(&e, "body", NS) {
            assert!(e.has_child("delay", "urn:xmpp:delay"));
            bodies.push(body);
        }
    }
    // The archive's order: the backfill came before the command's own
    // reflection was archived.
    assert_eq!(bodies, ["old 1", "old 2", "old 3", "/history 3"]);
}

#[tokio::test]
async fn rooms_participants_and_the_archive_survive_a_restart() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    command(&mut w, "j", "/join Ann").await;
    command(&mut w, "m", "kept").await;
    w.gateway.restart();
    w.link = Wire::connect(&w.server, true).await;
    w.logged_in(ROMEO).await;
    let seen = join(&mut w, "romeo").await;
    let from: Vec<_> = seen.iter().filter_map(|e| e.attr("from")).collect();
    assert!(from.contains(&"g0@echo.localhost/Ann"), "{from:?}");
    let bodies: Vec<_> = seen
        .iter()
        .filter_map(|e| child_text(e, "body", NS))
        .collect();
    assert!(bodies.contains(&"kept".to_owned()), "{bodies:?}");
}

#[tokio::test]
async fn a_presence_update_of_a_joined_client_replays_nothing() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    w.link
        .send(&format!(
            "<presence from='{CLIENT}' to='{ROOM}/romeo'><show>away</show></presence>"
        ))
        .await;
    // A barrier the session answers (a self-ping): a replay would come
    // before it.
    w.link
        .send(&format!(
            "<iq type='get' id='barrier' from='{CLIENT}' to='{ROOM}/romeo'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    let next = w.link.recv().await;
    assert_eq!(
        next.attr("id"),
        Some("barrier"),
        "replayed: {}",
        String::from(&next)
    );
    assert_eq!(next.attr("type"), Some("result"));
    // A nick change (a presence to another nick, no <x/>) is refused.
    w.link
        .send(&format!(
            "<presence id='nick' from='{CLIENT}' to='{ROOM}/Romy'/>"
        ))
        .await;
    let refused = w.link.recv().await;
    assert_eq!(
        refused.attr("id"),
        Some("nick"),
        "{}",
        String::from(&refused)
    );
    assert_eq!(refused.attr("type"), Some("error"));
    assert!(has_condition(&refused, "not-acceptable"));
}

#[tokio::test]
async fn a_second_client_asking_for_another_nick_is_refused() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    w.link
        .send(&format!(
            "<presence id='p2' from='romeo@localhost/phone' to='{ROOM}/Romy'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    let refused = w.link.recv().await;
    assert_eq!(refused.attr("id"), Some("p2"));
    assert_eq!(refused.attr("type"), Some("error"));
    assert!(has_condition(&refused, "not-acceptable"));
}

#[tokio::test]
async fn no_history_when_a_join_asks_for_none() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    command(&mut w, "m", "archived").await;
    w.link.recv().await; // heard
    w.link
        .send(&format!(
            "<presence from='romeo@localhost/phone' to='{ROOM}/romeo'><x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>"
        ))
        .await;
    loop {
        let e = w.link.recv().await;
        assert!(
            child_text(&e, "body", NS).is_none(),
            "history sent: {}",
            String::from(&e)
        );
        if e.has_child("subject", NS) {
            break;
        }
    }
}

#[tokio::test]
async fn history_is_in_date_order_when_backfill_comes_after_live_messages() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    command(&mut w, "m", "live").await;
    w.link.recv().await; // heard: live
    command(&mut w, "h", "/history 2").await;
    w.link
        .send(&format!(
            "<presence from='romeo@localhost/phone' to='{ROOM}/romeo'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    let mut bodies = Vec::new();
    loop {
        let e = w.link.recv().await;
        if e.has_child("subject", NS) {
            break;
        }
        if let Some(body) = child_text(&e, "body", NS) {
            bodies.push(body);
        }
    }
    assert_eq!(
        bodies,
        ["old 1", "old 2", "live", "heard: live", "/history 2"]
    );
}

#[tokio::test]
async fn removed_by_the_network_the_user_is_told_unbookmarked_and_kept_out() {
    let mut w = Wire::start(false).await;
    w.link.send(PEP_PRIVILEGE).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    w.link
        .send(&format!(
            "<message type='groupchat' id='r' from='{CLIENT}' to='{ROOM}'><body>/removed</body></message>"
        ))
        .await;
    let mut seen = Vec::new();
    while !(seen.iter().any(|e: &Element| e.is("presence", NS))
        && seen
            .iter()
            .any(|e: &Element| e.has_child("privileged_iq", "urn:xmpp:privilege:2")))
    {
        seen.push(w.link.recv().await);
    }
    let gone = seen
        .iter()
        .find(|e| e.is("presence", NS))
        .unwrap_or_else(|| panic!("no self-presence: {seen:#?}"));
    assert_eq!(gone.attr("type"), Some("unavailable"));
    assert_eq!(gone.attr("from"), Some(format!("{ROOM}/romeo").as_str()));
    let mut own = codes(gone);
    own.sort();
    assert_eq!(own, ["110", "307"]);
    let retract = seen
        .iter()
        .find(|e| e.has_child("privileged_iq", "urn:xmpp:privilege:2"))
        .and_then(|e| e.get_child("privileged_iq", "urn:xmpp:privilege:2"))
        .and_then(|p| p.get_child("iq", "jabber:client"))
        .and_then(|iq| iq.get_child("pubsub", "http://jabber.org/protocol/pubsub"))
        .and_then(|p| p.get_child("retract", "http://jabber.org/protocol/pubsub"))
        .unwrap_or_else(|| panic!("no retraction: {seen:#?}"));
    assert_eq!(retract.attr("node"), Some("urn:xmpp:bookmarks:1"));
    // Out: the command is not reflected, and a join is refused.
    w.link
        .send(&format!(
            "<presence id='again' from='{CLIENT}' to='{ROOM}/romeo'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    let refused = w
        .link
        .recv_until("the refusal", |e| e.attr("id") == Some("again"))
        .await;
    assert!(
        has_condition(&refused, "forbidden"),
        "{}",
        String::from(&refused)
    );
}

#[tokio::test]
async fn a_contact_never_takes_a_rooms_jid_and_messages_make_no_rooms() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    // The echo network's /contact ID makes a contact with that legacy id.
    w.link
        .send(&format!(
            "<message type='chat' id='c1' from='{CLIENT}' to='c0@{GATEWAY}'><body>/contact g0</body></message>"
        ))
        .await;
    let refused = w
        .link
        .recv_until("the refusal", |e| e.attr("id") == Some("c1"))
        .await;
    assert_eq!(refused.attr("type"), Some("error"));
    let text = error_text(&refused);
    assert!(text.contains("group"), "{text}");
    // A groupchat message to a room never joined (nor known) makes none.
    w.link
        .send(&format!(
            "<message type='groupchat' id='g9' from='{CLIENT}' to='g9@{GATEWAY}'><body>hi</body></message>"
        ))
        .await;
    let refused = w
        .link
        .recv_until("the refusal", |e| e.attr("id") == Some("g9"))
        .await;
    assert!(has_condition(&refused, "not-acceptable"));
    w.link
        .send(&format!(
            "<iq type='get' id='items' from='{CLIENT}' to='{GATEWAY}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
        ))
        .await;
    let items = w
        .link
        .recv_until("disco#items", |e| e.attr("id") == Some("items"))
        .await;
    let count = items
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .map(|q| q.children().count());
    assert_eq!(count, Some(1), "only g0: {}", String::from(&items));
}

#[tokio::test]
async fn name_newgroup_and_carbon_commands() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    // /name: the room's name changes, joined clients see 104.
    let seen = command(&mut w, "n", "/name Renamed").await;
    let changed = seen
        .iter()
        .find(|e| e.get_child("x", MUC_USER).is_some() && e.is("message", NS))
        .unwrap_or_else(|| panic!("no 104: {seen:#?}"));
    assert_eq!(changed.attr("from"), Some(ROOM));
    assert_eq!(codes(changed), ["104"]);
    w.link
        .send(&format!(
            "<iq type='get' id='info' from='{CLIENT}' to='{ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ))
        .await;
    let info = w
        .link
        .recv_until("disco#info", |e| e.attr("id") == Some("info"))
        .await;
    let name = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .and_then(|q| q.get_child("identity", "http://jabber.org/protocol/disco#info"))
        .and_then(|i| i.attr("name"));
    assert_eq!(name, Some("Renamed"));
    // /carbon: the user's message from the network's own app, as theirs.
    let seen = command(&mut w, "c", "/carbon typed elsewhere").await;
    let carbon = seen
        .iter()
        .find(|e| child_text(e, "body", NS).as_deref() == Some("typed elsewhere"))
        .unwrap_or_else(|| panic!("no carbon: {seen:#?}"));
    assert_eq!(carbon.attr("from"), Some(format!("{ROOM}/romeo").as_str()));
    assert_eq!(carbon.attr("type"), Some("groupchat"));
    // /newgroup: a new room, described and offered (an invitation: this
    // server grants no iq privilege).
    let seen = command(&mut w, "g", "/newgroup party").await;
    let invitation = seen
        .iter()
        .find(|e| e.has_child("x", "jabber:x:conference"))
        .unwrap_or_else(|| panic!("no invitation: {seen:#?}"));
    assert_eq!(
        invitation
            .get_child("x", "jabber:x:conference")
            .and_then(|x| x.attr("jid")),
        Some(format!("party@{GATEWAY}").as_str())
    );
    assert_eq!(invitation.attr("to"), Some(ROMEO));
}

#[tokio::test]
async fn groups_and_participants_past_the_caps_are_refused() {
    let mut w = Wire::start_with(true, "echo", "max_groups = 1\nmax_participants = 4").await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    // The room holds romeo, Contact 0, Contact 1: one more fits.
    command(&mut w, "j1", "/join Ann").await;
    let refused = answer_to(&mut w, "j2", "/join Bob").await;
    assert_eq!(
        refused.attr("type"),
        Some("error"),
        "{}",
        String::from(&refused)
    );
    let text = error_text(&refused);
    assert!(text.contains("most participants"), "{text}");
    // A second group is one too many.
    let refused = answer_to(&mut w, "g2", "/newgroup party").await;
    assert_eq!(refused.attr("type"), Some("error"));
    let text = error_text(&refused);
    assert!(text.contains("most groups"), "{text}");
}
