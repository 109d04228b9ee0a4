//! XML 1.0's characters. A string a plugin hands the host may hold what
//! XML cannot carry at all: control characters (U+0…U+1F but tab, line
//! feed and carriage return) and the non-characters U+FFFE and U+FFFF.
//! Written into the component stream, one of them fails the write, and
//! the link drops with every user's stanzas behind it. The sender takes
//! them out of every text and attribute before a stanza leaves; nothing
//! else changes, and the stanza only shrinks (its size was measured).

use minidom::{Element, Node};
use xmpp_parsers::{iq::Iq, message::Message, stanza::Stanza};

/// Whether XML 1.0 can carry `c`.
pub fn allowed(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Whether `text` holds a character XML cannot carry: a scan of bytes,
/// decoding only around the lead byte of U+FFFE/U+FFFF.
fn dirty(text: &str) -> bool {
    text.bytes()
        .any(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
        || (text.as_bytes().contains(&0xEF) && text.chars().any(|c| !allowed(c)))
}

/// Takes out of `text` what XML cannot carry; true if anything was.
fn clean(text: &mut String) -> bool {
    if !dirty(text) {
        return false;
    }
    text.retain(allowed);
    true
}

/// The same for an element's attributes and texts, all the way down.
fn clean_element(element: &mut Element) -> bool {
    let mut changed = false;
    for value in element.attrs_mut().values_mut() {
        changed |= clean(value);
    }
    for node in element.nodes_mut() {
        changed |= match node {
            Node::Text(text) => clean(text),
            Node::Element(child) => clean_element(child),
        };
    }
    changed
}

fn clean_all<'a>(texts: impl Iterator<Item = &'a mut String>) -> bool {
    texts.fold(false, |changed, text| clean(text) | changed)
}

fn clean_elements<'a>(elements: impl Iterator<Item = &'a mut Element>) -> bool {
    elements.fold(false, |changed, e| clean_element(e) | changed)
}

/// The same for a message that is serialised before the sender sees it
/// (a room's archive keeps its XML): minidom panics on such a character.
pub fn clean_message(m: &mut Message) -> bool {
    let thread = m
        .thread
        .as_mut()
        .is_some_and(|t| clean(&mut t.id) | t.parent.as_mut().is_some_and(clean));
    m.id.as_mut().is_some_and(|id| clean(&mut id.0))
        | clean_all(m.bodies.values_mut())
        | clean_all(m.subjects.values_mut())
        | thread
        | clean_elements(m.payloads.iter_mut())
}

/// Takes out of a stanza every character XML cannot carry (JIDs are
/// checked when made); true if anything was.
pub fn clean_stanza(stanza: &mut Stanza) -> bool {
    match stanza {
        Stanza::Message(m) => clean_message(m),
        Stanza::Presence(p) => {
            p.id.as_mut().is_some_and(clean)
                | clean_all(p.statuses.values_mut())
                | clean_elements(p.payloads.iter_mut())
        }
        Stanza::Iq(iq) => match iq {
            Iq::Get { id, payload, .. } | Iq::Set { id, payload, .. } => {
                clean(id) | clean_element(payload)
            }
            Iq::Result { id, payload, .. } => {
                clean(id) | payload.as_mut().is_some_and(clean_element)
            }
            Iq::Error {
                id, error, payload, ..
            } => {
                clean(id)
                    | clean_all(error.texts.values_mut())
                    | error.other.as_mut().is_some_and(clean_element)
                    | payload.as_mut().is_some_and(clean_element)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::message::MessageType;

    #[test]
    fn only_what_xml_cannot_carry_goes() {
        let mut text = "a\u{0}b\tc\nd\re\u{1B}f\u{FFFE}g\u{FFFF}h✓\u{FFFD}".to_owned();
        assert!(clean(&mut text));
        assert_eq!(text, "ab\tc\nd\refgh✓\u{FFFD}");
        let mut fine = "plain ✓ <&> \u{FFFD}".to_owned();
        assert!(!clean(&mut fine));
    }

    #[test]
    fn a_stanza_is_cleaned_in_its_body_ids_and_payloads() {
        let mut message = Message::new_with_type(MessageType::Chat, None);
        message.id = Some(xmpp_parsers::message::Id("id\u{1}".into()));
        message
            .bodies
            .insert(Default::default(), "hi\u{0}there".into());
        message.payloads.push(
            "<x xmlns='urn:test' a='v'>t</x>"
                .parse::<Element>()
                .expect("an element"),
        );
        if let Some(Node::Text(text)) = message.payloads[0].nodes_mut().next() {
            text.push('\u{3}');
        }
        if let Some(value) = message.payloads[0].attrs_mut().values_mut().next() {
            value.push('\u{2}');
        }
        let mut stanza = Stanza::Message(message);
        assert!(clean_stanza(&mut stanza));
        let Stanza::Message(message) = &stanza else {
            unreachable!()
        };
        assert_eq!(message.id.as_ref().map(|id| id.0.as_str()), Some("id"));
        assert_eq!(
            message.bodies.values().next().map(String::as_str),
            Some("hithere")
        );
        let written = String::from(&message.payloads[0]);
        assert!(
            written.contains("a='v'") || written.contains("a=\"v\""),
            "{written}"
        );
        assert!(written.contains(">t<"), "{written}");
        assert!(!clean_stanza(&mut stanza), "clean once");
    }
}
