//! XEP-0356: Privileged Entity.
//!
//! Right after the component handshake, a server that trusts the gateway
//! sends, from each of its domains, a `<privilege/>` message listing what the
//! gateway may do on behalf of that domain's users: read and write their
//! rosters, send messages as them. The gateway remembers it per domain and
//! uses it to put contacts straight into users' rosters (no subscription
//! prompts). `xmpp-parsers` has no type for it, hence this module.

use minidom::Element;

use super::ns;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Privileges {
    /// `<perm access='roster'/>`.
    pub roster: RosterAccess,
    /// `<perm access='message' type='outgoing'/>`: send messages as users.
    pub message_outgoing: bool,
}

impl Privileges {
    /// Reads the `<privilege/>` payload of a server's message, if it has one.
    pub fn from_message_payloads(payloads: &[Element]) -> Option<Self> {
        let privilege = payloads
            .iter()
            .find(|p| p.is("privilege", ns::PRIVILEGE) || p.is("privilege", ns::PRIVILEGE_1))?;
        let mut granted = Privileges::default();
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
                _ => {}
            }
        }
        Some(granted)
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
    }

    #[test]
    fn partial_and_old_grants_are_read() {
        let granted =
            parse("<privilege xmlns='urn:xmpp:privilege:1'><perm access='roster' type='get'/></privilege>")
                .unwrap();
        assert_eq!(granted.roster, RosterAccess::Get);
        assert!(!granted.roster.can_set());
        assert!(!granted.message_outgoing);
        let none = parse("<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='none'/></privilege>")
            .unwrap();
        assert_eq!(none, Privileges::default());
    }

    #[test]
    fn other_payloads_are_not_privileges() {
        assert_eq!(
            parse("<body xmlns='jabber:component:accept'>hi</body>"),
            None
        );
    }
}
