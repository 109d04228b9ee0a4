//! slidge's `LegacyBookmarks`, `LegacyMUC` and `LegacyParticipant`: a
//! user's groups on the legacy network, each shown in XMPP as a MUC room
//! the gateway serves (`g0@gateway`), its members as occupants
//! (`g0@gateway/Nick`).
//!
//! Like contacts, rooms and participants are singletons per session and
//! host-held state: they outlive plugin instances and are written through
//! to the database, with each room's archive. Which of the user's clients
//! have joined a room is the session's alone (not stored): after a restart
//! clients find out by self-ping (XEP-0410) and join again.
//!
//! Operations produce the stanzas they mean into the [`Roster`]'s batch,
//! so that contacts' and rooms' stanzas leave in the order they were made,
//! through the same paced queue:
//!
//! - `rooms`: the room's details, subject and bookmarks;
//! - `occupants`: participants and their presences;
//! - `joins`: the user's clients joining and leaving;
//! - `groupchat`: messages to and from the room;
//! - `archiving`: what goes into the archive (date order, the size cap,
//!   tombstones) and the history a join gets;
//! - `archive`: the archive served by MAM.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jid::{BareJid, FullJid, Jid};
use serde::{Deserialize, Serialize};

use crate::context::GatewayContext;
use crate::roster::{ContactId, Roster, RosterError, local_part};
use crate::stanza::{
    escape,
    muc::{Affiliation, Role},
    presence::Availability,
};
use crate::store::UserRow;

mod archive;
mod archiving;
mod groupchat;
mod joins;
mod occupants;
mod rooms;

pub use archive::QueryRefused;
pub use archiving::DEFAULT_HISTORY;
pub use groupchat::GroupText;
pub use joins::JoinRefused;
pub use occupants::Standing;
pub use rooms::Detail;

/// A room's index in its session's list; stable for the session's life.
pub type RoomId = usize;
/// A participant's index in its room; stable for the session's life (one
/// that left keeps its index, marked gone).
pub type ParticipantId = usize;

/// A room's details, stored as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomInfo {
    /// The room's name.
    pub name: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its subject.
    pub subject: Option<String>,
    /// The nick of who set it (none: the room).
    pub subject_setter: Option<String>,
    /// When it was set.
    pub subject_date: Option<u64>,
    /// A public channel (open, semi-anonymous), not a group.
    pub channel: bool,
    /// How many participants the network says it has.
    pub participant_count: Option<u32>,
    /// The user's nick in it, as the network gives it.
    pub user_nick: Option<String>,
    /// The SHA-1 of its avatar.
    pub avatar_hash: Option<String>,
    /// The network's id for that avatar.
    pub avatar_unique_id: Option<String>,
    /// Whether it is in the user's bookmarks.
    pub bookmarked: bool,
    /// Whether its bookmark joins at once.
    pub autojoin: bool,
    /// Whether the network took the user out of it: their clients may not
    /// join until the plugin bookmarks it again.
    pub removed: bool,
}

/// A room's details as the database keeps them.
fn info_json(info: &RoomInfo) -> Result<String, RosterError> {
    serde_json::to_string(info).map_err(|e| RosterError::Invalid(format!("room details: {e}")))
}

/// One member of a room.
#[derive(Debug, Clone)]
pub struct Participant {
    /// Its database row id.
    pub row_id: i64,
    /// Its nick.
    pub nick: String,
    /// The contact it is, if any.
    pub contact: Option<ContactId>,
    /// Whether it is the user.
    pub is_user: bool,
    /// Its affiliation.
    pub affiliation: Affiliation,
    /// Its role.
    pub role: Role,
    /// Its XEP-0421 occupant id: stable for the same person in the room.
    pub occupant_id: String,
    /// Whether it is in the room (false once it left).
    pub present: bool,
    /// Its availability in the room (not stored: the plugin sets it again
    /// after a restart, as for contacts).
    pub availability: Availability,
    /// Its free-text status.
    pub status: Option<String>,
}

/// One legacy group.
#[derive(Debug, Clone)]
pub struct Room {
    /// Its database row id.
    pub row_id: i64,
    /// The group's id on the legacy network.
    pub legacy_id: String,
    /// The room's bare JID.
    pub jid: BareJid,
    /// Its details.
    pub info: RoomInfo,
    /// Its participants, present or gone.
    pub participants: Vec<Participant>,
    /// The user's clients that joined it, this session.
    pub joined: BTreeSet<FullJid>,
    /// Whether `fill-participants` ran for it this session.
    pub filled: bool,
}

impl Room {
    /// A participant's occupant JID, `room/Nick`.
    pub fn occupant_jid(&self, nick: &str) -> Option<FullJid> {
        self.jid.with_resource_str(nick).ok()
    }

    /// The present participant with this nick.
    pub fn by_nick(&self, nick: &str) -> Option<ParticipantId> {
        self.participants
            .iter()
            .position(|p| p.present && p.nick == nick)
    }

    /// The user's own participant, if present.
    pub fn user_participant(&self) -> Option<ParticipantId> {
        self.participants
            .iter()
            .position(|p| p.present && p.is_user)
    }

    /// Whether the room shows real JIDs (a group, not a channel).
    pub fn non_anonymous(&self) -> bool {
        !self.info.channel
    }

    /// The present participants.
    pub fn present(&self) -> impl Iterator<Item = (ParticipantId, &Participant)> {
        self.participants
            .iter()
            .enumerate()
            .filter(|(_, p)| p.present)
    }
}

/// The groups of one user of one gateway.
pub struct Rooms {
    gateway: Arc<GatewayContext>,
    user_id: i64,
    user: BareJid,
    /// The nick the user has until the plugin says otherwise.
    default_nick: String,
    rooms: Vec<Room>,
    by_legacy_id: HashMap<String, RoomId>,
    by_username: HashMap<String, RoomId>,
    /// Rooms created since the session last asked, for `update-muc-info`.
    created: Vec<RoomId>,
    /// How many messages the user's archives hold (at most
    /// `max_archive_messages`), counted at the session's first archived
    /// message rather than at its start; it can over-count what retention
    /// pruned, which trimming and refusing count again.
    archived: Option<u64>,
}

impl Rooms {
    /// The rooms of a user, as the database remembers them.
    pub fn load(
        gateway: Arc<GatewayContext>,
        user: &UserRow,
        roster: &mut Roster,
    ) -> Result<Self, RosterError> {
        let user_jid = BareJid::new(&user.jid)
            .map_err(|e| RosterError::Invalid(format!("stored user JID {}: {e}", user.jid)))?;
        let default_nick = user
            .registration
            .iter()
            .find(|(var, _)| var == "username")
            .map(|(_, value)| value.clone())
            .filter(|nick| !nick.is_empty())
            .or_else(|| user_jid.node().map(|n| n.to_string()))
            .unwrap_or_else(|| "me".to_owned());
        let mut rooms = Rooms {
            gateway,
            user_id: user.id,
            user: user_jid,
            default_nick,
            rooms: Vec::new(),
            by_legacy_id: HashMap::new(),
            by_username: HashMap::new(),
            created: Vec::new(),
            archived: None,
        };
        let by_row: HashMap<i64, ContactId> = roster
            .ids()
            .filter_map(|id| roster.get(id).map(|c| (c.row_id, id)))
            .collect();
        for row in rooms.gateway.store.rooms(user.id)? {
            let Some(jid) = rooms.gateway.jid_of(&row.jid_username) else {
                tracing::warn!(user = %rooms.user, username = row.jid_username, "skipping a stored room with a bad JID");
                continue;
            };
            let info = serde_json::from_str(&row.info).unwrap_or_default();
            let mut room = Room {
                row_id: row.id,
                legacy_id: row.legacy_id,
                jid,
                info,
                participants: Vec::new(),
                joined: BTreeSet::new(),
                filled: false,
            };
            for p in rooms.gateway.store.participants(row.id)? {
                room.participants.push(Participant {
                    row_id: p.id,
                    nick: p.nick,
                    contact: p.contact_id.and_then(|row| by_row.get(&row).copied()),
                    is_user: p.is_user,
                    affiliation: Affiliation::parse(&p.affiliation),
                    role: Role::parse(&p.role),
                    occupant_id: p.occupant_id,
                    present: true,
                    availability: Availability::Online,
                    status: None,
                });
            }
            roster.reserve_for_room(&row.jid_username);
            rooms.insert(room);
        }
        Ok(rooms)
    }

    /// The user this belongs to.
    pub fn user(&self) -> &BareJid {
        &self.user
    }

    /// A room by index.
    pub fn get(&self, id: RoomId) -> Option<&Room> {
        self.rooms.get(id)
    }

    /// Every room's index.
    pub fn ids(&self) -> std::ops::Range<RoomId> {
        0..self.rooms.len()
    }

    /// The known room with this legacy id.
    pub fn known(&self, legacy_id: &str) -> Option<RoomId> {
        self.by_legacy_id.get(legacy_id).copied()
    }

    /// The known room whose JID has this local part.
    pub fn by_username(&self, username: &str) -> Option<RoomId> {
        let prepared = escape::prepare_username(username)?;
        self.by_username.get(&prepared).copied()
    }

    /// The room behind a room or occupant JID, if known.
    pub fn by_jid(&self, jid: &Jid) -> Option<RoomId> {
        if jid.domain() != self.gateway.jid.domain() {
            return None;
        }
        self.by_username(jid.node()?.as_str())
    }

    /// The room with this legacy id, created (and stored) on first use,
    /// under `username` if the plugin maps ids itself, else the XEP-0106
    /// escape of the id. A local part a contact has is refused: rooms and
    /// contacts share the gateway's JIDs.
    pub fn by_legacy_id(
        &mut self,
        roster: &mut Roster,
        legacy_id: &str,
        username: Option<&str>,
    ) -> Result<RoomId, RosterError> {
        if let Some(&id) = self.by_legacy_id.get(legacy_id) {
            return Ok(id);
        }
        roster.id_within_limit("a group's legacy id", legacy_id)?;
        let username = local_part(legacy_id, username)?;
        let cap = self.gateway.config.max_groups;
        if self.rooms.len() >= cap as usize {
            tracing::warn!(gateway = %self.gateway.jid, user = %self.user, legacy_id, "group refused: max_groups reached");
            return Err(RosterError::LimitExceeded(format!(
                "this user has the most groups the gateway allows ({cap})"
            )));
        }
        if self.by_username.contains_key(&username) || roster.by_username(&username).is_some() {
            return Err(RosterError::Invalid(format!(
                "the JID local part {username:?} of group {legacy_id:?} is taken by another group or a contact; \
                 map them apart with the plugin's muc-legacy-id-to-jid-username"
            )));
        }
        let jid = self
            .gateway
            .jid_of(&username)
            .ok_or_else(|| RosterError::Invalid(format!("{username:?} makes no valid JID")))?;
        let row_id = self
            .gateway
            .store
            .insert_room(self.user_id, legacy_id, &username)?;
        roster.reserve_for_room(&username);
        let id = self.insert(Room {
            row_id,
            legacy_id: legacy_id.to_owned(),
            jid,
            info: RoomInfo::default(),
            participants: Vec::new(),
            joined: BTreeSet::new(),
            filled: false,
        });
        self.created.push(id);
        Ok(id)
    }

    /// The nick of the user's present participant in a room, if any.
    pub fn user_nick_in(&self, id: RoomId) -> Option<String> {
        let room = self.rooms.get(id)?;
        room.user_participant()
            .and_then(|p| room.participants.get(p))
            .map(|p| p.nick.clone())
    }

    /// Lets the next join ask the plugin to fill the room again.
    pub fn unfill(&mut self, id: RoomId) {
        if let Some(room) = self.rooms.get_mut(id) {
            room.filled = false;
        }
    }

    /// Notes that `fill-participants` ran for a room this session.
    pub fn mark_filled(&mut self, id: RoomId) {
        if let Some(room) = self.rooms.get_mut(id) {
            room.filled = true;
        }
    }

    /// The rooms created since the last call, for `update-muc-info`.
    pub fn take_created(&mut self) -> Vec<RoomId> {
        std::mem::take(&mut self.created)
    }

    fn room(&self, id: RoomId) -> Result<&Room, RosterError> {
        self.rooms
            .get(id)
            .ok_or_else(|| RosterError::NotFound(format!("no group #{id}")))
    }

    fn room_mut(&mut self, id: RoomId) -> Result<&mut Room, RosterError> {
        self.rooms
            .get_mut(id)
            .ok_or_else(|| RosterError::NotFound(format!("no group #{id}")))
    }

    /// Writes a room's details through to the database.
    fn store_info(&self, id: RoomId) -> Result<(), RosterError> {
        let room = self.room(id)?;
        let json = info_json(&room.info)?;
        self.gateway.store.set_room_info(room.row_id, &json)?;
        Ok(())
    }

    /// A XEP-0421 id for one person in one room, which tells nothing of
    /// who it is; made once and stored, so that it stays the same across
    /// nick changes and restarts.
    fn occupant_id(
        &self,
        room_legacy_id: &str,
        contact_row: Option<i64>,
        is_user: bool,
        nick: &str,
    ) -> String {
        use xmpp_parsers::sha2::{Digest, Sha256};
        let who = match (is_user, contact_row) {
            (true, _) => "user".to_owned(),
            (false, Some(row)) => format!("contact:{row}"),
            (false, None) => format!("nick:{nick}"),
        };
        let digest = Sha256::new()
            .chain_update(self.gateway.jid.as_str())
            .chain_update([0])
            .chain_update(self.user.as_str())
            .chain_update([0])
            .chain_update(room_legacy_id)
            .chain_update([0])
            .chain_update(who)
            .finalize();
        hex::encode(&digest[..16])
    }

    fn insert(&mut self, room: Room) -> RoomId {
        let id = self.rooms.len();
        self.by_legacy_id.insert(room.legacy_id.clone(), id);
        if let Some(node) = room.jid.node() {
            self.by_username.insert(node.as_str().to_owned(), id);
        }
        self.rooms.push(room);
        id
    }
}
