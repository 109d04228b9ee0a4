//! XEP-0308: Last Message Correction, from puppets and from the user.

use xmpp_parsers::message::{Id, Message};
use xmpp_parsers::message_correct::Replace;

/// Makes `message` a correction of the message whose XMPP id is `replaces`.
pub fn mark_correction(message: &mut Message, replaces: &str) {
    message.payloads.push(
        Replace {
            id: Id(replaces.to_owned()),
        }
        .into(),
    );
}

/// The XMPP id a user's message corrects, if it is a correction.
pub fn replaced_id(message: &Message) -> Option<String> {
    message
        .payloads
        .iter()
        .find(|p| p.is("replace", super::ns::MESSAGE_CORRECT))
        .and_then(|p| p.attr("id"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;

    #[test]
    fn a_correction_references_the_original() {
        let mut m = Message::new(None);
        mark_correction(&mut m, "e1");
        assert_eq!(replaced_id(&m).as_deref(), Some("e1"));
        let el: Element = m.into();
        assert_eq!(
            el.get_child("replace", "urn:xmpp:message-correct:0")
                .unwrap()
                .attr("id"),
            Some("e1")
        );
    }
}
