//! XEP-0424: Message Retraction, with its XEP-0428 fallback body for
//! clients that do not know it.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};

use super::{empty, ns, with_attr};

const NS: &str = ns::RETRACT;

/// The retraction of message `retracted`, with a fallback body, stored
/// (`store` hint) so that archives learn of it.
pub fn retraction(from: Jid, to: Jid, id: String, retracted: &str) -> Message {
    let mut message = Message::new_with_type(MessageType::Chat, to).with_body(
        Lang::default(),
        "/me retracted a message, but your client does not support that".to_owned(),
    );
    message.from = Some(from);
    message.id = Some(Id(id));
    let retract = Element::builder("retract", NS).build();
    message.payloads.push(with_attr(retract, "id", retracted));
    let fallback = Element::builder("fallback", ns::FALLBACK).build();
    message.payloads.push(with_attr(fallback, "for", NS));
    message.payloads.push(empty("store", ns::HINTS));
    message
}

/// The XMPP id a user's message retracts, if it is a retraction.
pub fn retracted_id(message: &Message) -> Option<String> {
    message
        .payloads
        .iter()
        .find(|p| p.is("retract", NS))
        .and_then(|p| p.attr("id"))
        .map(str::to_owned)
}

/// What an archive keeps of a retracted message (XEP-0424's tombstone):
/// its envelope and the ids and date that place it, no content, and a
/// `<retracted/>` saying when.
pub fn tombstone(original: &Message, stamp: &str) -> Message {
    let mut kept = original.clone();
    kept.bodies.clear();
    kept.subjects.clear();
    kept.thread = None;
    kept.payloads.retain(|p| {
        p.is("stanza-id", ns::SID) || p.is("occupant-id", ns::OID) || p.is("delay", ns::DELAY)
    });
    let retracted = Element::builder("retracted", NS).build();
    kept.payloads.push(with_attr(retracted, "stamp", stamp));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tombstone_keeps_the_envelope_and_ids_and_nothing_said() {
        let mut m = Message::new_with_type(MessageType::Groupchat, Jid::new("u@x/pc").unwrap())
            .with_body(Lang::default(), "secret".to_owned());
        m.from = Some(Jid::new("g0@gw/Ann").unwrap());
        m.id = Some(Id("e1".into()));
        m.payloads.push(with_attr(
            Element::builder("stanza-id", ns::SID).build(),
            "id",
            "e1",
        ));
        m.payloads.push(empty("markable", ns::CHAT_MARKERS));
        let kept: Element = tombstone(&m, "2026-12-04T00:00:00Z").into();
        assert_eq!(kept.attr("id"), Some("e1"));
        assert_eq!(kept.attr("from"), Some("g0@gw/Ann"));
        assert!(kept.get_child("body", ns::COMPONENT).is_none());
        assert!(kept.has_child("stanza-id", ns::SID));
        assert!(!kept.has_child("markable", ns::CHAT_MARKERS));
        assert_eq!(
            kept.get_child("retracted", NS)
                .and_then(|r| r.attr("stamp")),
            Some("2026-12-04T00:00:00Z")
        );
    }

    #[test]
    fn a_retraction_has_the_id_a_fallback_and_the_store_hint() {
        let m = retraction(
            Jid::new("c0@gw/r").unwrap(),
            Jid::new("u@x").unwrap(),
            "r1".into(),
            "e3",
        );
        assert_eq!(retracted_id(&m).as_deref(), Some("e3"));
        let el: Element = m.into();
        assert_eq!(el.attr("id"), Some("r1"));
        assert_eq!(
            el.get_child("fallback", ns::FALLBACK).unwrap().attr("for"),
            Some(NS)
        );
        assert!(el.has_child("store", ns::HINTS));
        assert!(el.get_child("body", ns::COMPONENT).is_some());
    }
}
