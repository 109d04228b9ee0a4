//! XEP-0085 (chat states), XEP-0184 (delivery receipts) and XEP-0333 (chat
//! markers): the small bodiless messages that say "typing", "delivered" and
//! "read", in both directions.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::{
    chatstates::ChatState,
    displayed_markers::Displayed,
    message::{Id, Message, MessageType},
    receipts::Received,
};

use super::{empty, ns};

/// A chat state from a puppet: never stored in archives (`no-store`).
pub fn chat_state(from: Jid, to: Jid, state: ChatState) -> Message {
    let mut message = bodiless(from, to, state.into());
    message.payloads.push(empty("no-store", ns::HINTS));
    message
}

/// A delivery receipt (XEP-0184) for the user's message `id`.
pub fn received(from: Jid, to: Jid, id: &str) -> Message {
    bodiless(from, to, Received { id: id.to_owned() }.into())
}

/// A read marker (XEP-0333 `displayed`) for message `id`.
pub fn displayed(from: Jid, to: Jid, id: &str) -> Message {
    bodiless(
        from,
        to,
        Displayed {
            id: Id(id.to_owned()),
        }
        .into(),
    )
}

fn bodiless(from: Jid, to: Jid, payload: Element) -> Message {
    let mut message = Message::new_with_type(MessageType::Chat, to);
    message.from = Some(from);
    message.payloads.push(payload);
    message
}

/// What a bodiless message from the user says, if anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// A chat state.
    ChatState(ChatState),
    /// A read marker for this XMPP id.
    Displayed(String),
}

/// Reads the chat state or read marker of a message, if it has one.
pub fn signal(message: &Message) -> Option<Signal> {
    for payload in &message.payloads {
        if payload.is("displayed", ns::CHAT_MARKERS)
            && let Some(id) = payload.attr("id")
        {
            return Some(Signal::Displayed(id.to_owned()));
        }
        if payload.ns() == ns::CHATSTATES
            && let Ok(state) = ChatState::try_from(payload.clone())
        {
            return Some(Signal::ChatState(state));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }

    #[test]
    fn chat_states_are_not_stored() {
        let el: Element = chat_state(jid("c0@gw/r"), jid("u@x"), ChatState::Composing).into();
        assert_eq!(el.attr("type"), Some("chat"));
        assert!(el.has_child("composing", ns::CHATSTATES));
        assert!(el.has_child("no-store", ns::HINTS));
        assert!(el.get_child("body", ns::COMPONENT).is_none());
    }

    #[test]
    fn markers_carry_the_id() {
        let el: Element = received(jid("c0@gw/r"), jid("u@x"), "m1").into();
        assert_eq!(
            el.get_child("received", ns::RECEIPTS).unwrap().attr("id"),
            Some("m1")
        );
        let el: Element = displayed(jid("c0@gw/r"), jid("u@x"), "m2").into();
        assert_eq!(
            el.get_child("displayed", ns::CHAT_MARKERS)
                .unwrap()
                .attr("id"),
            Some("m2")
        );
    }

    #[test]
    fn signals_are_read() {
        let parse = |xml: &str| -> Message { xml.parse::<Element>().unwrap().try_into().unwrap() };
        let m = parse(
            "<message xmlns='jabber:component:accept' to='c0@gw'><paused xmlns='http://jabber.org/protocol/chatstates'/></message>",
        );
        assert_eq!(signal(&m), Some(Signal::ChatState(ChatState::Paused)));
        let m = parse(
            "<message xmlns='jabber:component:accept' to='c0@gw'><displayed xmlns='urn:xmpp:chat-markers:0' id='e4'/></message>",
        );
        assert_eq!(signal(&m), Some(Signal::Displayed("e4".into())));
        let m = parse(
            "<message xmlns='jabber:component:accept' to='c0@gw'><x xmlns='urn:other'/></message>",
        );
        assert_eq!(signal(&m), None);
    }
}
