//! RFC 6121 chat messages from puppets and from the gateway, with XEP-0203
//! (delayed delivery), XEP-0333 (markable) and XEP-0334 (store hint).

use jid::Jid;
use xmpp_parsers::{
    delay::Delay,
    message::{Id, Lang, Message, MessageType},
};

use super::{empty, ns, presence::timestamp};

/// A text message from a contact's puppet to the user.
///
/// It is markable, so that the user's client sends read markers the plugin
/// can forward, and hinted `store` so that servers archive it even though
/// it comes from a component. `when` dates a message the network delivered
/// late.
pub fn chat_text(from: Jid, to: Jid, id: String, body: &str, when: Option<u64>) -> Message {
    let mut message =
        Message::new_with_type(MessageType::Chat, to).with_body(Lang::default(), body.to_owned());
    message.from = Some(from);
    message.id = Some(Id(id));
    message.payloads.push(empty("markable", ns::CHAT_MARKERS));
    message.payloads.push(empty("store", ns::HINTS));
    if let Some(stamp) = when.and_then(timestamp) {
        message.payloads.push(
            Delay {
                from: None,
                stamp,
                data: None,
            }
            .into(),
        );
    }
    message
}

/// A message from the gateway itself to the user (login codes, errors).
pub fn gateway_text(from: Jid, to: Jid, id: String, body: &str) -> Message {
    let mut message =
        Message::new_with_type(MessageType::Chat, to).with_body(Lang::default(), body.to_owned());
    message.from = Some(from);
    message.id = Some(Id(id));
    message
}

/// The first body of a message, whatever its language: clients such as
/// slixmpp tag bodies with `xml:lang`.
pub fn body(message: &Message) -> Option<&str> {
    message.bodies.values().next().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;

    #[test]
    fn a_contact_message_is_markable_stored_and_dated() {
        let el: Element = chat_text(
            Jid::new("c0@gw/gatehouse").unwrap(),
            Jid::new("u@x").unwrap(),
            "e1".into(),
            "hi <there>",
            Some(0),
        )
        .into();
        assert_eq!(el.attr("type"), Some("chat"));
        assert_eq!(el.attr("id"), Some("e1"));
        assert_eq!(
            el.get_child("body", ns::COMPONENT).unwrap().text(),
            "hi <there>"
        );
        assert!(el.has_child("markable", ns::CHAT_MARKERS));
        assert!(el.has_child("store", ns::HINTS));
        assert_eq!(
            el.get_child("delay", ns::DELAY).unwrap().attr("stamp"),
            Some("1970-01-01T00:00:00+00:00")
        );
    }

    #[test]
    fn any_language_body_is_read() {
        let m: Message = "<message xmlns='jabber:component:accept' to='c0@gw'><body xml:lang='en'>hi</body></message>"
            .parse::<Element>()
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(body(&m), Some("hi"));
    }
}
