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

#[cfg(test)]
mod tests {
    use super::*;

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
