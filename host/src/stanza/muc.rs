//! XEP-0045 Multi-User Chat, as the MUC service of a legacy group: the
//! occupants' presences with their `muc#user` items and status codes, the
//! room's groupchat messages with XEP-0359 `<stanza-id>` and XEP-0421
//! `<occupant-id>`, the subject, the user's join, and XEP-0249
//! invitations. The `muc` and `muc#user` payloads are xmpp-parsers'.

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use xmpp_parsers::{
    delay::Delay,
    message::{Id, Lang, Message, MessageType},
    muc::Muc,
    occupant_id::OccupantId,
    presence::{Presence, Type as PresenceType},
    stanza_id::StanzaId,
};

use super::{attr_name as attr, empty, ns, presence::timestamp};

/// XEP-0249: Direct MUC Invitations.
pub const CONFERENCE: &str = "jabber:x:conference";
/// XEP-0421: occupant identifiers.
pub const OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
/// XEP-0359: unique and stable stanza ids.
pub const SID: &str = "urn:xmpp:sid:0";

/// A participant's long-lived standing in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affiliation {
    /// Owns the room.
    Owner,
    /// Administers it.
    Admin,
    /// A member.
    Member,
    /// Banned.
    Outcast,
    /// None of these.
    None,
}

impl Affiliation {
    /// The XEP-0045 attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Owner => "owner",
            Affiliation::Admin => "admin",
            Affiliation::Member => "member",
            Affiliation::Outcast => "outcast",
            Affiliation::None => "none",
        }
    }

    /// The value an attribute names (the database's).
    pub fn parse(value: &str) -> Self {
        match value {
            "owner" => Affiliation::Owner,
            "admin" => Affiliation::Admin,
            "member" => Affiliation::Member,
            "outcast" => Affiliation::Outcast,
            _ => Affiliation::None,
        }
    }
}

/// A participant's standing while present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May kick and moderate.
    Moderator,
    /// May speak.
    Participant,
    /// May only listen.
    Visitor,
    /// Not present.
    None,
}

impl Role {
    /// The XEP-0045 attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Participant => "participant",
            Role::Visitor => "visitor",
            Role::None => "none",
        }
    }

    /// The value an attribute names (the database's).
    pub fn parse(value: &str) -> Self {
        match value {
            "moderator" => Role::Moderator,
            "participant" => Role::Participant,
            "visitor" => Role::Visitor,
            _ => Role::None,
        }
    }
}

/// Why an occupant's presence is sent, beyond its item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Change {
    /// Joined or changed (affiliation, role, show).
    #[default]
    None,
    /// Left of its own accord.
    Left,
    /// Kicked (307), with the reason.
    Kicked(Option<String>),
    /// Banned (301), with the reason.
    Banned(Option<String>),
    /// Now called this nick (303): the unavailable presence of the old one.
    Renamed(String),
    /// The network took the user out of the room (307 with 110).
    Removed,
}

/// One occupant, as its presences show it.
#[derive(Debug, Clone)]
pub struct Occupant<'a> {
    /// `room@gateway/Nick`.
    pub jid: FullJid,
    /// The puppet's bare JID, shown in non-anonymous rooms.
    pub real_jid: Option<&'a BareJid>,
    /// XEP-0421 id: the same for the same participant across nicks.
    pub occupant_id: &'a str,
    /// Its standing.
    pub affiliation: Affiliation,
    /// Its role while present.
    pub role: Role,
    /// Its `<show/>` (away, dnd…), none when plainly available.
    pub show: Option<xmpp_parsers::presence::Show>,
    /// Its free-text status.
    pub status: Option<&'a str>,
}

/// An occupant's presence to one of the user's joined resources. The
/// user's own (`is_self`) carries 110, and 100 in a non-anonymous room;
/// `nick_changed` adds 210 (the network gave another nick than asked).
pub fn occupant_presence(
    occupant: &Occupant<'_>,
    to: Jid,
    change: &Change,
    is_self: bool,
    non_anonymous: bool,
    nick_changed: bool,
) -> Presence {
    let type_ = match change {
        Change::None => PresenceType::None,
        _ => PresenceType::Unavailable,
    };
    let (mut affiliation, mut role) = (occupant.affiliation, occupant.role);
    let mut codes: Vec<u16> = Vec::new();
    let mut reason = None;
    let mut new_nick = None;
    match change {
        Change::Kicked(why) => {
            role = Role::None;
            codes.push(307);
            reason = why.clone();
        }
        Change::Banned(why) => {
            role = Role::None;
            affiliation = Affiliation::Outcast;
            codes.push(301);
            reason = why.clone();
        }
        Change::Renamed(nick) => {
            new_nick = Some(nick.clone());
            codes.push(303);
        }
        Change::Removed => {
            role = Role::None;
            codes.push(307);
        }
        Change::Left => role = Role::None,
        Change::None => {}
    }
    if is_self {
        if non_anonymous && *change == Change::None {
            codes.push(100);
        }
        if nick_changed {
            codes.push(210);
        }
        codes.push(110);
    }
    let mut item = Element::builder("item", ns::MUC_USER)
        .attr(attr("affiliation"), affiliation.as_str())
        .attr(attr("role"), role.as_str());
    if let Some(real) = occupant.real_jid {
        item = item.attr(attr("jid"), real.to_string());
    }
    if let Some(nick) = new_nick {
        item = item.attr(attr("nick"), nick);
    }
    if let Some(reason) = reason {
        item = item.append(super::text("reason", ns::MUC_USER, reason));
    }
    let mut x = Element::builder("x", ns::MUC_USER).append(item.build());
    for code in codes {
        x = x.append(
            Element::builder("status", ns::MUC_USER)
                .attr(attr("code"), code.to_string())
                .build(),
        );
    }
    let mut presence = Presence::new(type_)
        .with_from(occupant.jid.clone())
        .with_to(to);
    if *change == Change::None {
        presence.show = occupant.show.clone();
        if let Some(status) = occupant.status {
            presence.set_status("", status);
        }
    }
    presence.payloads.push(x.build());
    presence.payloads.push(occupant_id(occupant.occupant_id));
    presence
}

/// A `<occupant-id/>` payload.
pub fn occupant_id(id: &str) -> Element {
    OccupantId { id: id.to_owned() }.into()
}

/// A groupchat message from an occupant (or, with no nick, the room),
/// archived under `stanza_id`.
pub struct Groupchat<'a> {
    /// `room@gateway/Nick`, or the room's bare JID.
    pub from: Jid,
    /// The message's XMPP id.
    pub id: &'a str,
    /// The archive's id for it.
    pub stanza_id: &'a str,
    /// The sender's occupant id, if an occupant sent it.
    pub occupant_id: Option<&'a str>,
    /// When it was sent, if not now.
    pub when: Option<u64>,
}

impl Groupchat<'_> {
    /// The message with `body`, addressed to no one yet (the archive keeps
    /// it so; each joined resource gets a copy with its `to`).
    pub fn text(&self, room: &BareJid, body: &str) -> Message {
        let mut message = self.envelope(room);
        message.bodies.insert(Lang::default(), body.to_owned());
        message.payloads.push(empty("markable", ns::CHAT_MARKERS));
        message
    }

    /// The empty envelope with the ids, for payloads of other kinds.
    pub fn envelope(&self, room: &BareJid) -> Message {
        let mut message = Message::new_with_type(MessageType::Groupchat, None);
        message.from = Some(self.from.clone());
        message.id = Some(Id(self.id.to_owned()));
        message.payloads.push(
            StanzaId {
                id: self.stanza_id.to_owned(),
                by: room.clone().into(),
            }
            .into(),
        );
        if let Some(occupant) = self.occupant_id {
            message.payloads.push(occupant_id(occupant));
        }
        if let Some(stamp) = self.when.and_then(timestamp) {
            message.payloads.push(
                Delay {
                    from: Some(room.clone().into()),
                    stamp,
                    data: None,
                }
                .into(),
            );
        }
        message
    }

    /// A message of another kind (a retraction, reactions) in the
    /// groupchat envelope: its body and payloads, the room's ids.
    pub fn wrap(&self, room: &BareJid, kind: Message) -> Message {
        let mut message = self.envelope(room);
        message.bodies = kind.bodies;
        message.payloads.extend(kind.payloads);
        message
    }
}

/// The room's subject message: from its setter's occupant JID, or the room.
pub fn subject(from: Jid, to: Jid, text: &str, when: Option<u64>, room: &BareJid) -> Message {
    let mut message = Message::new_with_type(MessageType::Groupchat, Some(to));
    message.from = Some(from);
    message.subjects.insert(Lang::default(), text.to_owned());
    if let Some(stamp) = when.and_then(timestamp) {
        message.payloads.push(
            Delay {
                from: Some(room.clone().into()),
                stamp,
                data: None,
            }
            .into(),
        );
    }
    message
}

/// A XEP-0249 invitation to a room, from the gateway, for a user whose
/// server does not let the gateway write their bookmarks.
pub fn invitation(gateway: Jid, to: Jid, room: &BareJid, name: Option<&str>) -> Message {
    let mut message = Message::new_with_type(MessageType::Normal, Some(to));
    message.from = Some(gateway);
    let mut x = Element::builder("x", CONFERENCE).attr(attr("jid"), room.to_string());
    if let Some(name) = name {
        x = x.attr(attr("reason"), name.to_owned());
    }
    message.payloads.push(x.build());
    message
}

/// The history a join asks for (XEP-0045 §7.2.13).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryRequest {
    /// At most this many messages.
    pub maxstanzas: Option<u32>,
    /// At most this many characters: only 0 (none at all, clients that
    /// use MAM) is honoured exactly.
    pub maxchars: Option<u32>,
    /// Only messages of the last this many seconds.
    pub seconds: Option<u32>,
    /// Only messages since this date (seconds since the epoch).
    pub since: Option<i64>,
}

/// What a user's presence to an occupant JID asks: the `<x/>` of a join,
/// with the history it wants; None: not a join (a presence update).
pub fn join_request(presence: &Presence) -> Option<HistoryRequest> {
    presence.payloads.iter().find_map(|p| {
        let muc = Muc::try_from(p.clone()).ok()?;
        let history = muc.history.unwrap_or_default();
        Some(HistoryRequest {
            maxstanzas: history.maxstanzas,
            maxchars: history.maxchars,
            seconds: history.seconds,
            since: history.since.map(|d| d.0.timestamp()),
        })
    })
}

/// The message that tells joined resources the room's configuration
/// changed: status 104 (name, description, avatar), 172 (real JIDs now
/// shown) or 173 (no longer).
pub fn config_changed(room: &BareJid, to: Jid, code: u16) -> Message {
    let mut message = Message::new_with_type(MessageType::Groupchat, Some(to));
    message.from = Some(room.clone().into());
    let status = Element::builder("status", ns::MUC_USER)
        .attr(attr("code"), code.to_string())
        .build();
    message
        .payloads
        .push(Element::builder("x", ns::MUC_USER).append(status).build());
    message
}
