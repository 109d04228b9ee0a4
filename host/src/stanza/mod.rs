//! Stanza builders and parsers, one XEP family per module.
//!
//! `xmpp-parsers` gives the envelopes (`Message`, `Presence`, `Iq`) and most
//! payloads; what it lacks (XEP-0356 privilege, XEP-0334 hints…) is written
//! here as small typed modules in the same style. Builders return
//! `xmpp-parsers` values, never strings, so nothing a plugin or a user sends
//! can inject markup.

use minidom::Element;

pub mod avatar;
pub mod bookmarks;
pub mod chars;
pub mod commands;
pub mod correction;
pub mod disco;
pub mod error;
pub mod escape;
pub mod files;
pub mod mam;
pub mod markers;
pub mod message;
pub mod muc;
pub mod presence;
pub mod privilege;
pub mod reactions;
pub mod register;
pub mod reply;
pub mod retraction;
pub mod roster;
pub mod size;
pub mod vcard;

/// Namespaces that `xmpp_parsers::ns` does not have.
pub mod ns {
    /// XEP-0356: Privileged Entity.
    pub const PRIVILEGE: &str = "urn:xmpp:privilege:2";
    /// XEP-0356, the first namespace, still sent by older servers.
    pub const PRIVILEGE_1: &str = "urn:xmpp:privilege:1";
    /// XEP-0334: Message Processing Hints.
    pub const HINTS: &str = "urn:xmpp:hints";
    /// XEP-0333: Chat Markers.
    pub const CHAT_MARKERS: &str = "urn:xmpp:chat-markers:0";
    /// XEP-0428: Fallback Indication.
    pub const FALLBACK: &str = "urn:xmpp:fallback:0";
    /// XEP-0424: Message Retraction.
    pub const RETRACT: &str = "urn:xmpp:message-retract:1";
    /// XEP-0461: Message Replies.
    pub const REPLY: &str = "urn:xmpp:reply:0";
    /// XEP-0050: Ad-Hoc Commands.
    pub const COMMANDS: &str = super::commands::NS;
    /// The namespace of client stanzas, used inside XEP-0356 wrappers.
    pub const CLIENT: &str = "jabber:client";
    pub use xmpp_parsers::ns::*;
}

/// An element with a namespace and no content.
pub(crate) fn empty(name: &str, ns: &str) -> Element {
    Element::builder(name, ns).build()
}

/// An element holding only text.
pub(crate) fn text(name: &str, ns: &str, value: impl Into<String>) -> Element {
    Element::builder(name, ns).append(value.into()).build()
}

/// An attribute name that is a literal of this crate.
pub(crate) fn attr_name(name: &'static str) -> minidom::rxml::NcName {
    match minidom::rxml::NcName::try_from(name) {
        Ok(name) => name,
        Err(_) => unreachable!("attribute names are literals of this crate: {name}"),
    }
}

/// Sets an attribute whose name is a literal of this crate.
pub(crate) fn with_attr(mut element: Element, name: &'static str, value: &str) -> Element {
    element.set_attr(minidom::rxml::Namespace::NONE, attr_name(name), value);
    element
}

/// A copy of `element` with every element in namespace `from` moved to `to`
/// (children in other namespaces keep theirs).
pub(crate) fn in_namespace(element: &Element, from: &str, to: &str) -> Element {
    let namespace = if element.ns() == from {
        to.to_owned()
    } else {
        element.ns()
    };
    let mut copy = Element::builder(element.name(), namespace).build();
    for ((attr_ns, name), value) in element.attrs().iter() {
        copy.set_attr(attr_ns.clone(), name.clone(), value.clone());
    }
    for node in element.nodes() {
        match node {
            minidom::Node::Element(child) => {
                copy.append_child(in_namespace(child, from, to));
            }
            minidom::Node::Text(text) => copy.append_text(text.clone()),
        }
    }
    copy
}
