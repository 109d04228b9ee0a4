//! Stanza builders and parsers, one XEP family per module.
//!
//! `xmpp-parsers` gives the envelopes (`Message`, `Presence`, `Iq`) and most
//! payloads; what it lacks (XEP-0356 privilege, XEP-0334 hints…) is written
//! here as small typed modules in the same style. Builders return
//! `xmpp-parsers` values, never strings, so nothing a plugin or a user sends
//! can inject markup.

use minidom::Element;

pub mod disco;
pub mod error;
pub mod escape;
pub mod message;
pub mod presence;
pub mod privilege;
pub mod register;
pub mod roster;

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
