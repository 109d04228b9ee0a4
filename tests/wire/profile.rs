//! A puppet's avatar (XEP-0084 + XEP-0153), its profile (XEP-0292 +
//! XEP-0054), and chat states with a timer.

use std::time::Duration;

use base64::Engine;
use gatehouse_tests::{GATEWAY, Wire, child_text};
use minidom::Element;
use sha1::{Digest, Sha1};

use crate::{NS, ROMEO};

const C0: &str = "c0@echo.localhost";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const METADATA: &str = "urn:xmpp:avatar:metadata";
const DATA: &str = "urn:xmpp:avatar:data";
const VCARD4: &str = "urn:ietf:params:xml:ns:vcard-4.0";

async fn command(w: &mut Wire, body: &str) {
    w.link
        .send(&format!(
            "<message type='chat' id='cmd' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>{body}</body></message>"
        ))
        .await;
}

async fn get(w: &mut Wire, id: &str, payload: &str) -> Element {
    w.link
        .send(&format!(
            "<iq type='get' id='{id}' from='{ROMEO}/pc' to='c0@{GATEWAY}'>{payload}</iq>"
        ))
        .await;
    let reply = w
        .link
        .recv_until("the iq answer", |e| {
            e.is("iq", NS) && e.attr("id") == Some(id)
        })
        .await;
    assert_eq!(reply.attr("from"), Some(C0));
    reply
}

fn items_request(node: &str, item: Option<&str>) -> String {
    let item = item
        .map(|id| format!("<item id='{id}'/>"))
        .unwrap_or_default();
    format!("<pubsub xmlns='{PUBSUB}'><items node='{node}'>{item}</items></pubsub>")
}

fn event_info(event: &Element) -> Option<&Element> {
    event
        .get_child("event", EVENT)?
        .get_child("items", EVENT)?
        .get_child("item", EVENT)?
        .get_child("metadata", METADATA)?
        .get_child("info", METADATA)
}

fn photo(presence: &Element) -> Option<String> {
    presence
        .get_child("x", "vcard-temp:x:update")
        .and_then(|x| x.get_child("photo", "vcard-temp:x:update"))
        .map(Element::text)
}

#[tokio::test]
async fn an_avatar_is_announced_served_and_not_republished() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    let before = get(&mut w, "m0", &items_request(METADATA, None)).await;
    assert_eq!(before.attr("type"), Some("error"), "no avatar yet");

    command(&mut w, "/avatar").await;
    let event = w.link.recv().await;
    assert_eq!(event.attr("type"), Some("headline"));
    assert_eq!(event.attr("from"), Some(C0));
    assert_eq!(event.attr("to"), Some(ROMEO));
    let info = event_info(&event).expect("avatar metadata").clone();
    let hash = info.attr("id").expect("an id").to_owned();
    assert_eq!(info.attr("type"), Some("image/png"));
    assert_eq!(info.attr("width"), Some("64"));
    assert_eq!(info.attr("height"), Some("64"));
    let presence = w.link.recv().await;
    assert_eq!(
        presence.attr("from"),
        Some(format!("{C0}/gatehouse").as_str())
    );
    assert_eq!(photo(&presence).as_deref(), Some(hash.as_str()));

    // The client fetches it: metadata, then data, whose SHA-1 is the id.
    let meta = get(&mut w, "m1", &items_request(METADATA, None)).await;
    let served = meta
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("items", PUBSUB))
        .and_then(|i| i.get_child("item", PUBSUB))
        .expect("an item");
    assert_eq!(served.attr("id"), Some(hash.as_str()));
    let data = get(&mut w, "d1", &items_request(DATA, Some(&hash))).await;
    let encoded = data
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("items", PUBSUB))
        .and_then(|i| i.get_child("item", PUBSUB))
        .and_then(|i| i.get_child("data", DATA))
        .map(Element::text)
        .expect("avatar data");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(hex::encode(Sha1::digest(&bytes)), hash);
    assert_eq!(info.attr("bytes"), Some(bytes.len().to_string().as_str()));
    let wrong = get(&mut w, "d2", &items_request(DATA, Some("0000"))).await;
    assert_eq!(wrong.attr("type"), Some("error"));

    // vcard-temp carries it as PHOTO.
    let vcard = get(&mut w, "v1", "<vCard xmlns='vcard-temp'/>").await;
    let binval = vcard
        .get_child("vCard", "vcard-temp")
        .and_then(|v| v.get_child("PHOTO", "vcard-temp"))
        .and_then(|p| p.get_child("BINVAL", "vcard-temp"))
        .map(Element::text)
        .expect("a PHOTO");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(binval)
            .unwrap(),
        bytes
    );

    // The same picture again (a new unique id): nothing is published.
    command(&mut w, "/avatar").await;
    w.link.expect_silence(Duration::from_millis(400)).await;

    // Nor after a restart.
    w.gateway.restart();
    let mut link = Wire::connect(&w.server, true).await;
    loop {
        let el = link.recv().await;
        assert_ne!(
            el.attr("type"),
            Some("headline"),
            "republished: {}",
            String::from(&el)
        );
        if el.attr("from") == Some(format!("{C0}/gatehouse").as_str()) {
            assert_eq!(
                photo(&el).as_deref(),
                Some(hash.as_str()),
                "the hash survives"
            );
        }
        if el.attr("from") == Some(GATEWAY)
            && child_text(&el, "status", NS).as_deref() == Some("Echo network: logged in as romeo")
        {
            break;
        }
    }
    w.link = link;

    // Removal: an empty metadata item and an empty photo.
    command(&mut w, "/avatar none").await;
    let event = w.link.recv().await;
    assert_eq!(event.attr("type"), Some("headline"));
    assert!(event_info(&event).is_none(), "{}", String::from(&event));
    let presence = w.link.recv().await;
    assert_eq!(photo(&presence).as_deref(), Some(""));
}

#[tokio::test]
async fn profiles_are_served_as_vcard4_and_vcard_temp() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 2).await;
    // Never set: the plugin's fetch-vcard runs before the answer.
    let reply = get(&mut w, "v1", &format!("<vcard xmlns='{VCARD4}'/>")).await;
    assert_eq!(reply.attr("type"), Some("result"));
    let vcard = reply.get_child("vcard", VCARD4).expect("a vCard4");
    let field = |name: &str, inner: &str| {
        vcard
            .get_child(name, VCARD4)
            .and_then(|f| f.get_child(inner, VCARD4))
            .map(Element::text)
    };
    assert_eq!(field("fn", "text").as_deref(), Some("Contact 0"));
    assert_eq!(field("email", "text").as_deref(), Some("c0@echo.invalid"));
    assert_eq!(field("note", "text").as_deref(), Some("echo contact"));
    assert_eq!(
        field("impp", "uri").as_deref(),
        Some("xmpp:c0@echo.localhost")
    );
    // The same through PEP (XEP-0292), and as vcard-temp.
    let pep = get(&mut w, "v2", &items_request("urn:xmpp:vcard4", None)).await;
    let item = pep
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("items", PUBSUB))
        .and_then(|i| i.get_child("item", PUBSUB))
        .expect("an item");
    assert_eq!(item.attr("id"), Some("current"));
    assert!(item.get_child("vcard", VCARD4).is_some());
    let temp = get(&mut w, "v3", "<vCard xmlns='vcard-temp'/>").await;
    let temp = temp.get_child("vCard", "vcard-temp").expect("a vCard");
    assert_eq!(
        child_text(temp, "FN", "vcard-temp").as_deref(),
        Some("Contact 0")
    );
    assert!(temp.get_child("PHOTO", "vcard-temp").is_none());
    // Unknown nodes are not found.
    let other = get(
        &mut w,
        "v4",
        &items_request("urn:xmpp:openpgp:0:secret-key", None),
    )
    .await;
    assert_eq!(other.attr("type"), Some("error"));
}

#[tokio::test]
async fn typing_is_composing_then_paused_a_second_later() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    command(&mut w, "/typing").await;
    let composing = w.link.recv().await;
    assert_eq!(
        composing.attr("from"),
        Some(format!("{C0}/gatehouse").as_str())
    );
    assert!(composing.has_child("composing", "http://jabber.org/protocol/chatstates"));
    assert!(composing.has_child("no-store", "urn:xmpp:hints"));
    assert!(composing.get_child("body", NS).is_none());
    // The plugin's timer (set for a second later) fires by itself.
    let paused = w.link.recv().await;
    assert_eq!(
        paused.attr("from"),
        Some(format!("{C0}/gatehouse").as_str())
    );
    assert!(paused.has_child("paused", "http://jabber.org/protocol/chatstates"));
}
