//! XEP-0356: Privileged Entity.
//!
//! Right after the component handshake, a server that trusts the gateway
//! sends, from each of its domains, a `<privilege/>` message listing what the
//! gateway may do on behalf of that domain's users: read and write their
//! rosters, send messages as them. The gateway remembers it per domain and
//! uses it to put contacts straight into users' rosters (no subscription
//! prompts). `xmpp-parsers` has no type for it, hence this module.

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::{iq::Iq, message::Message};

use super::{attr_name as name, in_namespace, ns};

/// What the server lets the gateway do with a user's roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RosterAccess {
    /// Nothing.
    #[default]
    None,
    /// Read it.
    Get,
    /// Write it.
    Set,
    /// Read and write it.
    Both,
}

impl RosterAccess {
    /// Whether the gateway may push items into the roster.
    pub fn can_set(self) -> bool {
        matches!(self, RosterAccess::Set | RosterAccess::Both)
    }
}

/// The permissions one server domain granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privileges {
    /// `<perm access='roster'/>`.
    pub roster: RosterAccess,
    /// `<perm access='message' type='outgoing'/>`: send messages as users.
    pub message_outgoing: bool,
    /// `<perm access='iq'>` for `http://jabber.org/protocol/pubsub` `set`:
    /// publish to users' PEP (their bookmarks), XEP-0356 v2 only.
    pub pubsub_set: bool,
    /// The namespace the server granted in: messages sent as users are
    /// wrapped in the same one (ejabberd 23.01 speaks only the first,
    /// `urn:xmpp:privilege:1`).
    pub namespace: &'static str,
}

impl Default for Privileges {
    /// Nothing granted.
    fn default() -> Self {
        Privileges {
            roster: RosterAccess::None,
            message_outgoing: false,
            pubsub_set: false,
            namespace: ns::PRIVILEGE,
        }
    }
}

impl Privileges {
    /// Reads the `<privilege/>` payload of a server's message, if it has one.
    pub fn from_message_payloads(payloads: &[Element]) -> Option<Self> {
        let privilege = payloads
            .iter()
            .find(|p| p.is("privilege", ns::PRIVILEGE) || p.is("privilege", ns::PRIVILEGE_1))?;
        let namespace = if privilege.ns() == ns::PRIVILEGE_1 {
            ns::PRIVILEGE_1
        } else {
            ns::PRIVILEGE
        };
        let mut granted = Privileges {
            namespace,
            ..Privileges::default()
        };
        for perm in privilege.children().filter(|c| c.name() == "perm") {
            match (perm.attr("access"), perm.attr("type")) {
                (Some("roster"), Some(kind)) => {
                    granted.roster = match kind {
                        "get" => RosterAccess::Get,
                        "set" => RosterAccess::Set,
                        "both" => RosterAccess::Both,
                        _ => RosterAccess::None,
                    }
                }
                (Some("message"), Some("outgoing")) => granted.message_outgoing = true,
                (Some("iq"), _) => {
                    granted.pubsub_set |= perm.children().any(|n| {
                        n.name() == "namespace"
                            && n.attr("ns") == Some(ns::PUBSUB)
                            && matches!(n.attr("type"), Some("set" | "both"))
                    })
                }
                _ => {}
            }
        }
        Some(granted)
    }
}

/// A message sent as the user (the `message` privilege): `inner`, written
/// from the user to a contact, wrapped for the user's server, which then
/// delivers it as if the user's own client had sent it (so it shows in the
/// user's other clients as a carbon and lands in their archive).
pub fn as_user(gateway: Jid, server: Jid, namespace: &str, inner: Message) -> Message {
    let inner = in_namespace(&Element::from(inner), ns::COMPONENT, ns::CLIENT);
    let forwarded = Element::builder("forwarded", ns::FORWARD)
        .append(inner)
        .build();
    let privilege = Element::builder("privilege", namespace)
        .append(forwarded)
        .build();
    let mut message = Message::new(Some(server));
    message.from = Some(gateway);
    message.payloads.push(privilege);
    message
}

/// An iq sent as the user (the `iq` privilege): `payload` in an iq `set`
/// from the user to their own account (their PEP), wrapped for their
/// server. The inner iq gets the outer one's id, to match the answer.
pub fn iq_as_user(gateway: Jid, user: &BareJid, id: &str, payload: Element) -> Iq {
    let inner = Element::builder("iq", ns::CLIENT)
        .attr(name("type"), "set")
        .attr(name("from"), user.to_string())
        .attr(name("to"), user.to_string())
        .attr(name("id"), id)
        .append(in_namespace(&payload, ns::COMPONENT, ns::CLIENT))
        .build();
    let wrapper = Element::builder("privileged_iq", ns::PRIVILEGE)
        .append(inner)
        .build();
    Iq::Set {
        from: Some(gateway),
        to: Some(user.clone().into()),
        id: id.to_owned(),
        payload: wrapper,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Option<Privileges> {
        let el: Element = xml.parse().unwrap();
        Privileges::from_message_payloads(&[el])
    }

    #[test]
    fn prosody_grant_is_read() {
        let granted = parse(
            "<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
             <perm access='message' type='outgoing'/></privilege>",
        )
        .unwrap();
        assert_eq!(granted.roster, RosterAccess::Both);
        assert!(granted.roster.can_set());
        assert!(granted.message_outgoing);
        assert!(!granted.pubsub_set);
    }

    #[test]
    fn the_pubsub_iq_grant_is_read() {
        let granted = parse(
            "<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'>\
             <namespace ns='http://jabber.org/protocol/pubsub' type='set'/></perm></privilege>",
        )
        .unwrap();
        assert!(granted.pubsub_set);
        let get_only = parse(
            "<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'>\
             <namespace ns='http://jabber.org/protocol/pubsub' type='get'/></perm></privilege>",
        )
        .unwrap();
        assert!(!get_only.pubsub_set);
    }

    #[test]
    fn partial_and_old_grants_are_read() {
        let granted =
            parse("<privilege xmlns='urn:xmpp:privilege:1'><perm access='roster' type='get'/></privilege>")
                .unwrap();
        assert_eq!(granted.roster, RosterAccess::Get);
        assert!(!granted.roster.can_set());
        assert!(!granted.message_outgoing);
        assert_eq!(granted.namespace, ns::PRIVILEGE_1, "answered in kind");
        let none = parse("<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='none'/></privilege>")
            .unwrap();
        assert_eq!(none, Privileges::default());
    }

    #[test]
    fn a_message_as_the_user_is_forwarded_in_the_client_namespace() {
        let inner = Message::new(Some(Jid::new("c0@gw").unwrap()))
            .with_body(Default::default(), "sent elsewhere".into());
        let mut inner = inner;
        inner.from = Some(Jid::new("u@x").unwrap());
        let outer: Element = as_user(
            Jid::new("gw").unwrap(),
            Jid::new("x").unwrap(),
            ns::PRIVILEGE,
            inner,
        )
        .into();
        assert_eq!(outer.attr("from"), Some("gw"));
        assert_eq!(outer.attr("to"), Some("x"));
        let message = outer
            .get_child("privilege", ns::PRIVILEGE)
            .and_then(|p| p.get_child("forwarded", ns::FORWARD))
            .and_then(|f| f.get_child("message", ns::CLIENT))
            .expect("privilege/forwarded/message in jabber:client");
        assert_eq!(message.attr("from"), Some("u@x"));
        assert_eq!(message.attr("to"), Some("c0@gw"));
        assert_eq!(
            message.get_child("body", ns::CLIENT).unwrap().text(),
            "sent elsewhere"
        );
    }

    #[test]
    fn a_first_namespace_server_gets_its_own_wrapper() {
        let inner = Message::new(Some(Jid::new("c0@gw").unwrap()));
        let outer: Element = as_user(
            Jid::new("gw").unwrap(),
            Jid::new("x").unwrap(),
            ns::PRIVILEGE_1,
            inner,
        )
        .into();
        assert!(outer.has_child("privilege", ns::PRIVILEGE_1));
        assert!(!outer.has_child("privilege", ns::PRIVILEGE));
    }

    #[test]
    fn other_payloads_are_not_privileges() {
        assert_eq!(
            parse("<body xmlns='jabber:component:accept'>hi</body>"),
            None
        );
    }
}
