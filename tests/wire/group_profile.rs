//! A room's picture (WIRE.md "Groups": `muc.set-avatar`): vcard-temp on the
//! room's JID, its hash in disco#info and in the room's own presence, and
//! status 104 to joined clients; and a participant's availability and
//! status in its occupant presence.

use base64::Engine;
use gatehouse_tests::Wire;
use minidom::Element;
use sha1::{Digest, Sha1};

use crate::NS;
use crate::group_commands::command;
use crate::groups::{CLIENT, MUC_USER, ROOM, codes, join, register};

const UPDATE: &str = "vcard-temp:x:update";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// The room's own presence (from its bare JID) among `seen`, if any.
fn room_presence(seen: &[Element]) -> Option<&Element> {
    seen.iter()
        .find(|e| e.is("presence", NS) && e.attr("from") == Some(ROOM))
}

fn photo(presence: &Element) -> Option<String> {
    presence
        .get_child("x", UPDATE)
        .and_then(|x| x.get_child("photo", UPDATE))
        .map(Element::text)
}

async fn room_iq(w: &mut Wire, id: &str, payload: &str) -> Element {
    w.link
        .send(&format!(
            "<iq type='get' id='{id}' from='{CLIENT}' to='{ROOM}'>{payload}</iq>"
        ))
        .await;
    let answer = w
        .link
        .recv_until("the room's answer", |e| e.attr("id") == Some(id))
        .await;
    assert_eq!(
        answer.attr("type"),
        Some("result"),
        "{}",
        String::from(&answer)
    );
    assert_eq!(answer.attr("from"), Some(ROOM));
    answer
}

/// The user's client leaves the room; returns its self-presence.
async fn leave(w: &mut Wire) -> Element {
    w.link
        .send(&format!(
            "<presence type='unavailable' from='{CLIENT}' to='{ROOM}/romeo'/>"
        ))
        .await;
    w.link.recv().await
}

/// The room's vCard PHOTO: its type and its bytes.
async fn vcard_photo(w: &mut Wire, id: &str) -> Option<(String, Vec<u8>)> {
    let answer = room_iq(w, id, "<vCard xmlns='vcard-temp'/>").await;
    let vcard = answer
        .get_child("vCard", "vcard-temp")
        .unwrap_or_else(|| panic!("no vCard: {}", String::from(&answer)));
    let photo = vcard.get_child("PHOTO", "vcard-temp")?;
    let kind = photo.get_child("TYPE", "vcard-temp").map(Element::text);
    let binval = photo.get_child("BINVAL", "vcard-temp").map(Element::text);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(binval.unwrap_or_default().replace(['\n', '\r', ' '], ""))
        .expect("BINVAL is base64");
    Some((kind.unwrap_or_default(), bytes))
}

/// disco#info of the room: whether it says `vcard-temp`, and the
/// `muc#roominfo_avatarhash` values.
async fn info_avatar(w: &mut Wire, id: &str) -> (bool, Vec<String>) {
    let answer = room_iq(w, id, &format!("<query xmlns='{DISCO_INFO}'/>")).await;
    let query = answer.get_child("query", DISCO_INFO).expect("a query");
    let vcard = query
        .children()
        .any(|f| f.is("feature", DISCO_INFO) && f.attr("var") == Some("vcard-temp"));
    let hashes = query
        .get_child("x", "jabber:x:data")
        .into_iter()
        .flat_map(|x| x.children())
        .filter(|f| f.attr("var") == Some("muc#roominfo_avatarhash"))
        .flat_map(|f| f.children().map(Element::text).collect::<Vec<_>>())
        .collect();
    (vcard, hashes)
}

#[tokio::test]
async fn a_rooms_avatar_is_served_announced_and_removed() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    let joined = join(&mut w, "romeo").await;
    assert!(
        room_presence(&joined).is_none(),
        "no avatar yet: {joined:#?}"
    );
    assert_eq!(vcard_photo(&mut w, "v0").await, None);
    assert_eq!(info_avatar(&mut w, "i0").await, (true, vec![]));

    // /avatar: 104, then the room's presence with the new hash.
    let seen = command(&mut w, "a1", "/avatar").await;
    let changed = seen
        .iter()
        .find(|e| e.is("message", NS) && e.get_child("x", MUC_USER).is_some())
        .unwrap_or_else(|| panic!("no 104: {seen:#?}"));
    assert_eq!(changed.attr("from"), Some(ROOM));
    assert_eq!(codes(changed), ["104"]);
    let presence = room_presence(&seen).unwrap_or_else(|| panic!("no room presence: {seen:#?}"));
    assert_eq!(presence.attr("to"), Some(CLIENT));
    assert_eq!(presence.attr("type"), None);
    let hash = photo(presence).expect("a photo hash");
    assert_eq!(hash.len(), 40, "a SHA-1: {hash}");

    // The vCard holds the PNG whose SHA-1 the presence and disco name.
    let (kind, bytes) = vcard_photo(&mut w, "v1").await.expect("a PHOTO");
    assert_eq!(kind, "image/png");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(hex::encode(Sha1::digest(&bytes)), hash);
    assert_eq!(info_avatar(&mut w, "i1").await, (true, vec![hash.clone()]));

    // The same picture under a new unique id: nothing is announced again.
    let seen = command(&mut w, "a2", "/avatar").await;
    assert!(room_presence(&seen).is_none(), "{seen:#?}");
    assert!(
        seen.iter().all(|e| e.get_child("x", MUC_USER).is_none()),
        "{seen:#?}"
    );

    // A client joining later gets the room's presence after the subject.
    let left = leave(&mut w).await;
    assert_eq!(left.attr("type"), Some("unavailable"));
    join(&mut w, "romeo").await;
    let after_subject = w.link.recv().await;
    assert_eq!(
        after_subject.attr("from"),
        Some(ROOM),
        "{}",
        String::from(&after_subject)
    );
    assert!(after_subject.is("presence", NS));
    assert_eq!(photo(&after_subject), Some(hash));

    // /avatar none: an empty photo, and nothing served any more.
    let seen = command(&mut w, "a3", "/avatar none").await;
    let presence = room_presence(&seen).unwrap_or_else(|| panic!("no room presence: {seen:#?}"));
    assert_eq!(photo(presence).as_deref(), Some(""));
    assert_eq!(vcard_photo(&mut w, "v2").await, None);
    assert_eq!(info_avatar(&mut w, "i2").await, (true, vec![]));
}

#[tokio::test]
async fn a_participants_away_and_status_are_in_its_presence() {
    let mut w = Wire::start(true).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;
    command(&mut w, "j", "/join Ann").await;
    let seen = command(&mut w, "a", "/away Ann gone to lunch").await;
    let away = seen
        .iter()
        .find(|e| e.is("presence", NS) && e.attr("from") == Some(&*format!("{ROOM}/Ann")))
        .unwrap_or_else(|| panic!("no presence from Ann: {seen:#?}"));
    assert_eq!(away.attr("type"), None, "still in the room");
    assert_eq!(
        away.get_child("show", NS).map(Element::text).as_deref(),
        Some("away")
    );
    assert_eq!(
        away.get_child("status", NS).map(Element::text).as_deref(),
        Some("gone to lunch")
    );
    let item = away
        .get_child("x", MUC_USER)
        .and_then(|x| x.get_child("item", MUC_USER))
        .expect("the muc#user item");
    assert_eq!(item.attr("role"), Some("participant"));
    // The same again: nothing new.
    let seen = command(&mut w, "a2", "/away Ann gone to lunch").await;
    assert!(seen.iter().all(|e| !e.is("presence", NS)), "{seen:#?}");
    // A client joining later sees Ann away.
    leave(&mut w).await;
    let joined = join(&mut w, "romeo").await;
    let ann = joined
        .iter()
        .find(|e| e.attr("from") == Some(&*format!("{ROOM}/Ann")))
        .unwrap_or_else(|| panic!("Ann is not in the join: {joined:#?}"));
    assert_eq!(
        ann.get_child("show", NS).map(Element::text).as_deref(),
        Some("away")
    );
}
