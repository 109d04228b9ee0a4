//! RFC 6121 presence, with XEP-0319 (last user interaction), XEP-0172
//! (nicknames) and XEP-0115 caps, for puppets and the gateway.

use jid::Jid;
use xmpp_parsers::{
    date::DateTime,
    idle::Idle,
    nick::Nick,
    presence::{Presence, Show, Type},
};

use super::disco;

/// A contact's availability, as the plugin sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Available.
    Online,
    /// Available and eager to chat.
    Chat,
    /// Away.
    Away,
    /// Away for long.
    Xa,
    /// Do not disturb.
    Dnd,
    /// Not connected.
    Offline,
}

impl Availability {
    /// Its `<show/>`: none for plain available (and offline).
    pub fn show(self) -> Option<Show> {
        match self {
            Availability::Chat => Some(Show::Chat),
            Availability::Away => Some(Show::Away),
            Availability::Xa => Some(Show::Xa),
            Availability::Dnd => Some(Show::Dnd),
            Availability::Online | Availability::Offline => None,
        }
    }
}

/// A contact's last presence, kept to answer probes and to send when the
/// contact joins the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPresence {
    /// Availability.
    pub availability: Availability,
    /// The free-text status.
    pub status: Option<String>,
    /// When the contact was last active, in seconds since the epoch.
    pub last_seen: Option<u64>,
}

impl ContactPresence {
    /// The presence stanza from the puppet's full JID to the user.
    pub fn to_stanza(&self, from: Jid, to: Jid) -> Presence {
        let type_ = match self.availability {
            Availability::Offline => Type::Unavailable,
            _ => Type::None,
        };
        let available = type_ == Type::None;
        let mut presence = Presence::new(type_).with_from(from).with_to(to);
        presence.show = self.availability.show();
        if let Some(status) = &self.status {
            presence.set_status("", status.as_str());
        }
        if available {
            presence.payloads.push(disco::puppet_caps().into());
        }
        if let Some(since) = self.last_seen.and_then(timestamp) {
            presence.payloads.push(Idle { since }.into());
        }
        presence
    }
}

/// A presence of one of the subscription types (or `unavailable`) with no
/// content.
pub fn bare(type_: Type, from: Jid, to: Jid) -> Presence {
    Presence::new(type_).with_from(from).with_to(to)
}

/// A subscription request from a contact, with its name (XEP-0172) so that
/// the user's client shows who asks.
pub fn subscribe(from: Jid, to: Jid, nick: Option<&str>) -> Presence {
    let mut presence = bare(Type::Subscribe, from, to);
    if let Some(nick) = nick {
        presence.payloads.push(Nick(nick.to_owned()).into());
    }
    presence
}

/// The gateway's own status presence to a user.
pub fn gateway_status(from: Jid, to: Jid, show: Option<Show>, status: &str) -> Presence {
    let mut presence = Presence::new(Type::None).with_from(from).with_to(to);
    presence.show = show;
    presence.set_status("", status);
    presence
}

/// A Unix time as an XMPP date (XEP-0082).
pub fn timestamp(secs: u64) -> Option<DateTime> {
    let secs = i64::try_from(secs).ok()?;
    chrono::DateTime::from_timestamp(secs, 0).map(|t| DateTime(t.fixed_offset()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::ns;
    use minidom::Element;

    fn jid(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }

    #[test]
    fn an_away_contact_has_show_status_caps_and_idle() {
        let p = ContactPresence {
            availability: Availability::Away,
            status: Some("out".into()),
            last_seen: Some(1_700_000_000),
        }
        .to_stanza(jid("c0@gw/gatehouse"), jid("u@x"));
        let el: Element = p.into();
        assert_eq!(el.attr("type"), None);
        assert_eq!(el.attr("from"), Some("c0@gw/gatehouse"));
        assert_eq!(el.get_child("show", ns::COMPONENT).unwrap().text(), "away");
        assert_eq!(el.get_child("status", ns::COMPONENT).unwrap().text(), "out");
        assert_eq!(
            el.get_child("c", ns::CAPS).unwrap().attr("node"),
            Some(disco::CAPS_NODE)
        );
        assert_eq!(
            el.get_child("idle", ns::IDLE).unwrap().attr("since"),
            Some("2023-11-14T22:13:20+00:00")
        );
    }

    #[test]
    fn an_offline_contact_is_unavailable_without_caps() {
        let el: Element = ContactPresence {
            availability: Availability::Offline,
            status: None,
            last_seen: None,
        }
        .to_stanza(jid("c0@gw/gatehouse"), jid("u@x"))
        .into();
        assert_eq!(el.attr("type"), Some("unavailable"));
        assert!(el.get_child("c", ns::CAPS).is_none());
        assert!(el.get_child("show", ns::COMPONENT).is_none());
    }

    #[test]
    fn subscription_requests_carry_the_nick() {
        let el: Element = subscribe(jid("c0@gw"), jid("u@x"), Some("Contact 0")).into();
        assert_eq!(el.attr("type"), Some("subscribe"));
        assert_eq!(el.get_child("nick", ns::NICK).unwrap().text(), "Contact 0");
    }
}
