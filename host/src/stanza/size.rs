//! How many bytes a stanza takes on the wire, at most.
//!
//! The XMPP server closes the component stream, for every user, when one
//! stanza is past its size limit (Prosody: 512 KiB). The sender measures
//! each stanza before it goes, without serialising it: the walk counts
//! every name, attribute and text with the bytes its escaping adds, and a
//! margin for the markup, so the figure is never below the real one.

use minidom::{Element, Node};
use xmpp_parsers::{iq::Iq, stanza::Stanza, stanza_error::StanzaError};

/// Markup around a name: `<name xmlns='…'>` … `</name>`, beside the name
/// and namespace themselves.
const ELEMENT_MARKUP: usize = 16;

/// Markup around an attribute: ` name='…'`.
const ATTRIBUTE_MARKUP: usize = 4;

/// An upper bound of the stanza's serialised size, in bytes.
pub fn upper_bound(stanza: &Stanza) -> usize {
    match stanza {
        Stanza::Message(m) => {
            envelope(
                jid(&m.from),
                jid(&m.to),
                m.id.as_ref().map(|id| id.0.as_str()),
            ) + texts(
                m.bodies
                    .iter()
                    .map(|(lang, body)| (lang.as_str(), body.as_str())),
            ) + texts(
                m.subjects
                    .iter()
                    .map(|(lang, s)| (lang.as_str(), s.as_str())),
            ) + m
                .thread
                .as_ref()
                .map_or(0, |t| element_markup("thread") + escaped(&t.id))
                + m.payloads.iter().map(element).sum::<usize>()
        }
        Stanza::Presence(p) => {
            envelope(jid(&p.from), jid(&p.to), p.id.as_deref())
                + element_markup("show")
                + element_markup("priority")
                + 8
                + texts(
                    p.statuses
                        .iter()
                        .map(|(lang, s)| (lang.as_str(), s.as_str())),
                )
                + p.payloads.iter().map(element).sum::<usize>()
        }
        Stanza::Iq(iq) => {
            let head = envelope(
                iq.from().map(|j| j.as_str()),
                iq.to().map(|j| j.as_str()),
                Some(iq.id()),
            );
            head + match iq {
                Iq::Get { payload, .. } | Iq::Set { payload, .. } => element(payload),
                Iq::Result { payload, .. } => payload.as_ref().map_or(0, element),
                Iq::Error { error, payload, .. } => {
                    stanza_error(error) + payload.as_ref().map_or(0, element)
                }
            }
        }
    }
}

fn jid(jid: &Option<jid::Jid>) -> Option<&str> {
    jid.as_ref().map(|j| j.as_str())
}

/// The stanza's own element, its `from`, `to`, `id`, `type` and `xml:lang`.
fn envelope(from: Option<&str>, to: Option<&str>, id: Option<&str>) -> usize {
    element_markup("presence")
        + [from, to, id]
            .into_iter()
            .map(|value| value.map_or(0, |v| ATTRIBUTE_MARKUP + 4 + escaped(v)))
            .sum::<usize>()
        + 64
}

/// Elements holding one text each, with their language.
fn texts<'a>(texts: impl Iterator<Item = (&'a str, &'a str)>) -> usize {
    texts
        .map(|(lang, text)| {
            element_markup("subject") + ATTRIBUTE_MARKUP + 8 + escaped(lang) + escaped(text)
        })
        .sum()
}

fn stanza_error(error: &StanzaError) -> usize {
    // The condition and type are names of the XEP, under 64 bytes.
    3 * (element_markup("error") + 64)
        + error
            .by
            .as_ref()
            .map_or(0, |by| ATTRIBUTE_MARKUP + 2 + escaped(by.as_str()))
        + texts(
            error
                .texts
                .iter()
                .map(|(lang, t)| (lang.as_str(), t.as_str())),
        )
        + error.other.as_ref().map_or(0, element)
}

fn element_markup(name: &str) -> usize {
    ELEMENT_MARKUP + 2 * name.len()
}

fn element(element: &Element) -> usize {
    let mut size = element_markup(element.name()) + escaped(&element.ns());
    for ((namespace, name), value) in element.attrs() {
        size += ATTRIBUTE_MARKUP + namespace.len() + name.len() + escaped(value);
    }
    for node in element.nodes() {
        size += match node {
            Node::Element(child) => self::element(child),
            Node::Text(text) => escaped(text),
        };
    }
    size
}

/// The bytes of `text` once escaped for XML (`&lt;` for `<`…).
fn escaped(text: &str) -> usize {
    text.len()
        + text
            .bytes()
            .map(|b| match b {
                b'<' | b'>' => 3,
                b'&' => 4,
                b'"' | b'\'' => 5,
                // `&#xd;` everywhere, `&#xa;` and `&#x9;` in attributes.
                b'\r' | b'\n' | b'\t' => 4,
                _ => 0,
            })
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use xmpp_parsers::message::{Message, MessageType};

    use super::*;

    fn serialised(stanza: Stanza) -> usize {
        let element: Element = stanza.into();
        String::from(&element).len()
    }

    #[test]
    fn the_bound_is_never_below_the_serialised_size() {
        let body = "<&'\"> plain\r\n text\t".repeat(2000);
        let message = Message::new(Some("u@example.org".parse().unwrap()))
            .with_body(Default::default(), body.clone());
        let mut message = message;
        message.type_ = MessageType::Chat;
        message.from = Some("c@gw.example.org/puppet".parse().unwrap());
        let reactions = Element::builder("reactions", "urn:xmpp:reactions:0")
            .append(Element::builder("reaction", "urn:xmpp:reactions:0").append("👍&"))
            .build();
        message
            .payloads
            .push(crate::stanza::with_attr(reactions, "id", "a'b\"c<d>\r\n\t"));
        let stanza: Stanza = message.into();
        let bound = upper_bound(&stanza);
        let real = serialised(stanza);
        assert!(bound >= real, "bound {bound} < real {real}");
        // And not a wild guess (the bound counts every escape the
        // serialiser could make).
        assert!(bound < 2 * real, "bound {bound} far above real {real}");
        assert!(real > body.len(), "the escaping was counted");
    }
}
