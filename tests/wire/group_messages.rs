//! Groups, continued (WIRE.md "Groups"): corrections, retractions,
//! reactions, markers and chat states in rooms both ways, the archive
//! served by MAM with RSM paging, and private messages to occupants.

use gatehouse_tests::{Wire, child_text};
use minidom::Element;

use crate::NS;
use crate::errors::has_condition;
use crate::group_commands::command;
use crate::groups::{CLIENT, ROOM, SID, answer_to, join, occupant_id, register};

const MAM: &str = "urn:xmpp:mam:2";
const RSM: &str = "http://jabber.org/protocol/rsm";

async fn joined() -> (Wire, Vec<Element>) {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    let seen = join(&mut w, "romeo").await;
    (w, seen)
}

fn stanza_id(e: &Element) -> String {
    e.get_child("stanza-id", SID)
        .and_then(|s| s.attr("id"))
        .unwrap_or_else(|| panic!("no stanza-id: {}", String::from(e)))
        .to_owned()
}

#[tokio::test]
async fn a_participant_corrects_retracts_and_reacts_by_the_rooms_ids() {
    let (mut w, _) = joined().await;
    // The user's message u1, reflected, then heard by Contact 0 (e1).
    let seen = command(&mut w, "m1", "hello").await;
    let reflected = seen.last().unwrap().clone();
    assert_eq!(stanza_id(&reflected), "u1");
    let heard = w.link.recv().await;
    assert_eq!(
        child_text(&heard, "body", NS).as_deref(),
        Some("heard: hello")
    );
    let heard_id = heard.attr("id").unwrap().to_owned();

    let seen = command(&mut w, "m2", "/react 👍").await;
    let reaction = &seen[0];
    assert_eq!(reaction.attr("type"), Some("groupchat"));
    assert_eq!(
        reaction.attr("from"),
        Some(format!("{ROOM}/Contact 0").as_str())
    );
    let reactions = reaction
        .get_child("reactions", "urn:xmpp:reactions:0")
        .expect("reactions");
    assert_eq!(
        reactions.attr("id"),
        Some("u1"),
        "the reacted message's stanza-id"
    );
    assert_eq!(
        child_text(reactions, "reaction", "urn:xmpp:reactions:0").as_deref(),
        Some("👍")
    );
    assert!(reaction.has_child("stanza-id", SID), "archived");

    let seen = command(&mut w, "m3", "/correct better").await;
    let correction = &seen[0];
    assert_eq!(
        child_text(correction, "body", NS).as_deref(),
        Some("better")
    );
    assert_eq!(
        correction
            .get_child("replace", "urn:xmpp:message-correct:0")
            .and_then(|r| r.attr("id")),
        Some(heard_id.as_str()),
        "a correction names the message's id"
    );
    assert_ne!(correction.attr("id"), Some(heard_id.as_str()));

    let seen = command(&mut w, "m4", "/retract").await;
    let retraction = &seen[0];
    assert_eq!(
        retraction
            .get_child("retract", "urn:xmpp:message-retract:1")
            .and_then(|r| r.attr("id")),
        Some(stanza_id(&heard).as_str()),
        "a retraction names the message's stanza-id"
    );
    assert!(child_text(retraction, "body", NS).is_some_and(|b| b.contains("retracted")));
    assert_eq!(occupant_id(retraction), occupant_id(&heard));
    // The archive keeps a tombstone of it (XEP-0424): its ids, no body.
    let (page, _) = query(&mut w, "after", "").await;
    let heard_sid = stanza_id(&heard);
    let archived: Vec<&Element> = page
        .iter()
        .filter_map(|r| r.get_child("forwarded", "urn:xmpp:forward:0"))
        .filter_map(|f| f.get_child("message", "jabber:client"))
        .filter(|m| {
            m.get_child("stanza-id", SID).and_then(|s| s.attr("id")) == Some(heard_sid.as_str())
        })
        .collect();
    assert_eq!(archived.len(), 1, "{page:#?}");
    let tombstone = archived[0];
    assert_eq!(tombstone.attr("id"), Some(heard_id.as_str()));
    assert_eq!(
        tombstone.attr("from"),
        Some(format!("{ROOM}/Contact 0").as_str())
    );
    assert!(
        tombstone.get_child("body", "jabber:client").is_none(),
        "{tombstone:?}"
    );
    assert!(
        tombstone
            .get_child("retracted", "urn:xmpp:message-retract:1")
            .and_then(|r| r.attr("stamp"))
            .is_some_and(|s| s.ends_with('Z')),
        "{tombstone:?}"
    );
    let bodies: Vec<_> = page.iter().map(forwarded_body).collect();
    assert!(!bodies.iter().any(|b| b == "heard: hello"), "{bodies:?}");
}

#[tokio::test]
async fn the_users_corrections_retractions_reactions_and_markers_reach_the_plugin() {
    let (mut w, _) = joined().await;
    command(&mut w, "m1", "first").await;
    let heard = w.link.recv().await;
    let heard_sid = stanza_id(&heard);
    // A correction of the user's own message, by its client id.
    w.link
        .send(&format!(
            "<message type='groupchat' id='m2' from='{CLIENT}' to='{ROOM}'><body>first!</body>\
             <replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>"
        ))
        .await;
    let saw = w.link.recv().await;
    assert_eq!(
        child_text(&saw, "body", NS).as_deref(),
        Some("saw correction u1: first!")
    );
    let reflected = w.link.recv().await;
    assert_eq!(reflected.attr("id"), Some("m2"));
    assert_eq!(
        reflected.attr("from"),
        Some(format!("{ROOM}/romeo").as_str())
    );
    assert_eq!(
        reflected
            .get_child("replace", "urn:xmpp:message-correct:0")
            .and_then(|r| r.attr("id")),
        Some("m1"),
        "the reflection carries the correction"
    );
    // A reaction to Contact 0's message, by its stanza-id.
    w.link
        .send(&format!(
            "<message type='groupchat' id='m3' from='{CLIENT}' to='{ROOM}'>\
             <reactions xmlns='urn:xmpp:reactions:0' id='{heard_sid}'><reaction>🎉</reaction></reactions></message>"
        ))
        .await;
    let saw = w.link.recv().await;
    assert_eq!(
        child_text(&saw, "body", NS),
        Some(format!("saw reactions {heard_sid}: 🎉")),
        "Contact 0's message's legacy id is its stanza-id"
    );
    let reflected = w.link.recv().await;
    assert!(reflected.has_child("reactions", "urn:xmpp:reactions:0"));
    // A retraction of the user's message, by its stanza-id.
    w.link
        .send(&format!(
            "<message type='groupchat' id='m4' from='{CLIENT}' to='{ROOM}'>\
             <retract xmlns='urn:xmpp:message-retract:1' id='u1'/></message>"
        ))
        .await;
    let saw = w.link.recv().await;
    assert_eq!(
        child_text(&saw, "body", NS).as_deref(),
        Some("saw retraction u1")
    );
    w.link.recv().await;
    // A read marker and a chat state: told, then reflected as a MUC
    // service does (the user's other clients learn it), not archived.
    w.link
        .send(&format!(
            "<message type='groupchat' id='m5' from='{CLIENT}' to='{ROOM}'>\
             <displayed xmlns='urn:xmpp:chat-markers:0' id='{heard_sid}'/></message>"
        ))
        .await;
    let saw = w.link.recv().await;
    assert_eq!(
        child_text(&saw, "body", NS),
        Some(format!("saw displayed {heard_sid}"))
    );
    let reflected = w.link.recv().await;
    assert_eq!(reflected.attr("id"), Some("m5"));
    assert_eq!(reflected.attr("type"), Some("groupchat"));
    assert_eq!(
        reflected.attr("from"),
        Some(format!("{ROOM}/romeo").as_str())
    );
    assert_eq!(
        reflected
            .get_child("displayed", "urn:xmpp:chat-markers:0")
            .and_then(|d| d.attr("id")),
        Some(heard_sid.as_str())
    );
    assert!(!reflected.has_child("stanza-id", SID), "not archived");
    w.link
        .send(&format!(
            "<message type='groupchat' id='m6' from='{CLIENT}' to='{ROOM}'>\
             <composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
        ))
        .await;
    let saw = w.link.recv().await;
    assert_eq!(
        child_text(&saw, "body", NS).as_deref(),
        Some("saw composing")
    );
    let reflected = w.link.recv().await;
    assert_eq!(reflected.attr("id"), Some("m6"));
    assert!(reflected.has_child("composing", "http://jabber.org/protocol/chatstates"));
    assert!(reflected.get_child("body", NS).is_none());
    // Nothing else: a ping to the gateway is the next answer.
    w.link
        .send(&format!(
            "<iq type='get' id='barrier' from='{CLIENT}' to='{}'><ping xmlns='urn:xmpp:ping'/></iq>",
            gatehouse_tests::GATEWAY
        ))
        .await;
    let next = w.link.recv().await;
    assert_eq!(next.attr("id"), Some("barrier"), "{}", String::from(&next));
}

/// A MAM query to the room; returns the results and the `<fin/>`.
async fn query(w: &mut Wire, id: &str, set: &str) -> (Vec<Element>, Element) {
    w.link
        .send(&format!(
            "<iq type='set' id='{id}' from='{CLIENT}' to='{ROOM}'><query xmlns='{MAM}' queryid='q-{id}'>{set}</query></iq>"
        ))
        .await;
    let mut results = Vec::new();
    loop {
        let e = w.link.recv().await;
        if e.is("iq", NS) && e.attr("id") == Some(id) {
            assert_eq!(e.attr("type"), Some("result"), "{}", String::from(&e));
            let fin = e.get_child("fin", MAM).expect("fin").clone();
            return (results, fin);
        }
        let result = e.get_child("result", MAM).expect("a MAM result").clone();
        assert_eq!(e.attr("from"), Some(ROOM));
        assert_eq!(e.attr("to"), Some(CLIENT));
        assert_eq!(result.attr("queryid"), Some(format!("q-{id}").as_str()));
        results.push(result);
    }
}

fn forwarded_body(result: &Element) -> String {
    let forwarded = result
        .get_child("forwarded", "urn:xmpp:forward:0")
        .expect("forwarded");
    assert!(
        forwarded.has_child("delay", "urn:xmpp:delay"),
        "each result is dated"
    );
    let message = forwarded
        .get_child("message", "jabber:client")
        .expect("the archived message, in the client namespace");
    assert_eq!(message.attr("type"), Some("groupchat"));
    child_text(message, "body", "jabber:client").unwrap_or_default()
}

#[tokio::test]
async fn the_archive_is_served_by_mam_page_by_page() {
    let (mut w, _) = joined().await;
    let seen = command(&mut w, "b", "/burst 7").await;
    assert_eq!(seen.len(), 8, "the burst, then the command's reflection");
    // The archive: burst 1…7, then the reflected command (the network
    // took it, and answered, before it was reflected).
    let (page, fin) = query(
        &mut w,
        "p1",
        &format!("<set xmlns='{RSM}'><max>3</max></set>"),
    )
    .await;
    let bodies: Vec<_> = page.iter().map(forwarded_body).collect();
    assert_eq!(bodies, ["burst 1", "burst 2", "burst 3"]);
    assert!(
        matches!(fin.attr("complete"), None | Some("false")),
        "more to come: {}",
        String::from(&fin)
    );
    let set = fin.get_child("set", RSM).expect("rsm");
    assert_eq!(child_text(set, "count", RSM).as_deref(), Some("8"));
    let last = child_text(set, "last", RSM).expect("last");
    assert_eq!(
        last,
        page[2].attr("id").unwrap(),
        "the result id is the archive id"
    );
    let (page, fin) = query(
        &mut w,
        "p2",
        &format!("<set xmlns='{RSM}'><max>10</max><after>{last}</after></set>"),
    )
    .await;
    let bodies: Vec<_> = page.iter().map(forwarded_body).collect();
    assert_eq!(
        bodies,
        ["burst 4", "burst 5", "burst 6", "burst 7", "/burst 7"]
    );
    assert_eq!(fin.attr("complete"), Some("true"));
    // The last page, backwards.
    let (page, _) = query(
        &mut w,
        "p3",
        &format!("<set xmlns='{RSM}'><max>2</max><before/></set>"),
    )
    .await;
    let bodies: Vec<_> = page.iter().map(forwarded_body).collect();
    assert_eq!(bodies, ["burst 7", "/burst 7"]);
    // An id the archive does not hold.
    w.link
        .send(&format!(
            "<iq type='set' id='bad' from='{CLIENT}' to='{ROOM}'><query xmlns='{MAM}'>\
             <set xmlns='{RSM}'><after>nope</after></set></query></iq>"
        ))
        .await;
    let refused = w.link.recv().await;
    assert_eq!(refused.attr("type"), Some("error"));
    assert!(has_condition(&refused, "item-not-found"));
    // The metadata: the first and last messages.
    w.link
        .send(&format!(
            "<iq type='get' id='meta' from='{CLIENT}' to='{ROOM}'><metadata xmlns='{MAM}'/></iq>"
        ))
        .await;
    let meta = w.link.recv().await;
    let metadata = meta.get_child("metadata", MAM).expect("metadata");
    assert!(
        metadata
            .get_child("start", MAM)
            .and_then(|s| s.attr("id"))
            .is_some()
    );
    assert_eq!(
        metadata.get_child("end", MAM).and_then(|s| s.attr("id")),
        Some(last_of_archive(&mut w).await.as_str())
    );
}

async fn last_of_archive(w: &mut Wire) -> String {
    let (page, _) = query(
        w,
        "last",
        &format!("<set xmlns='{RSM}'><max>1</max><before/></set>"),
    )
    .await;
    page[0].attr("id").unwrap().to_owned()
}

#[tokio::test]
async fn a_private_message_to_a_participant_goes_to_its_contact() {
    let (mut w, _) = joined().await;
    w.link
        .send(&format!(
            "<message type='chat' id='pm1' from='{CLIENT}' to='{ROOM}/Contact 1'><body>psst</body></message>"
        ))
        .await;
    let receipt = w.link.recv().await;
    assert_eq!(receipt.attr("from"), Some("c1@echo.localhost/gatehouse"));
    let echo = w.link.recv().await;
    assert_eq!(echo.attr("from"), Some("c1@echo.localhost/gatehouse"));
    assert_eq!(child_text(&echo, "body", NS).as_deref(), Some("psst"));
    // A participant without a contact cannot be written to privately.
    command(&mut w, "j", "/join Ann").await;
    w.link
        .send(&format!(
            "<message type='chat' id='pm2' from='{CLIENT}' to='{ROOM}/Ann'><body>psst</body></message>"
        ))
        .await;
    let refused = w.link.recv().await;
    assert_eq!(refused.attr("id"), Some("pm2"));
    assert_eq!(refused.attr("type"), Some("error"));
    assert!(refused.get_child("error", NS).is_some_and(|e| e.has_child(
        "feature-not-implemented",
        "urn:ietf:params:xml:ns:xmpp-stanzas"
    )));
}

#[tokio::test]
async fn past_max_archive_messages_the_oldest_go_and_backfill_is_refused() {
    let mut w = Wire::start_with(true, "echo", "max_archive_messages = 5").await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    command(&mut w, "b1", "/burst 4").await;
    command(&mut w, "b2", "/burst 3").await;
    // Nine archived, five kept: the newest, in order; every live message
    // was delivered all the same.
    let (page, fin) = query(&mut w, "p", "").await;
    let bodies: Vec<_> = page.iter().map(forwarded_body).collect();
    assert_eq!(
        bodies,
        ["/burst 4", "burst 1", "burst 2", "burst 3", "/burst 3"]
    );
    assert_eq!(fin.attr("complete"), Some("true"));
    // Backfill would push out what is newer than it: refused.
    let refused = answer_to(&mut w, "h", "/history 2").await;
    assert_eq!(
        refused.attr("type"),
        Some("error"),
        "{}",
        String::from(&refused)
    );
    let text = crate::errors::error_text(&refused);
    assert!(
        text.contains("the most messages the gateway keeps (5)"),
        "{text}"
    );
    let (page, _) = query(&mut w, "p2", "").await;
    assert!(
        page.iter()
            .map(forwarded_body)
            .all(|b| !b.starts_with("old")),
        "no history went in"
    );
}
