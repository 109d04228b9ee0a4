//! A room's details (name, description, type, avatar, subject), and its place in
//! the user's bookmarks (XEP-0402 through the XEP-0356 `iq` privilege, or
//! a XEP-0249 invitation when the server does not grant it).

use jid::Jid;
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::{RoomId, Rooms};
use crate::roster::{Roster, RosterError, avatar_row};
use crate::sender::Pace;
use crate::stanza::{
    avatar::{self, AvatarInfo},
    bookmarks::{self, Bookmark},
    muc::{self, Change},
    privilege,
};
use crate::store::AvatarRow;

/// A room detail the plugin sets.
#[derive(Debug, Clone)]
pub enum Detail {
    /// The name.
    Name(Option<String>),
    /// The description.
    Description(Option<String>),
    /// A channel (true) or a group.
    Channel(bool),
    /// The participant count the network gives.
    Count(Option<u32>),
}

impl Rooms {
    /// Sets a detail; joined clients are told the room changed (104).
    pub fn set_detail(
        &mut self,
        roster: &mut Roster,
        id: RoomId,
        detail: Detail,
    ) -> Result<(), RosterError> {
        if let Detail::Name(Some(text)) | Detail::Description(Some(text)) = &detail {
            roster.within_limit(
                "a group's name or description",
                text.len(),
                self.gateway.config.max_text_kb,
            )?;
        }
        roster.room_for("a group's details")?;
        let room = self.room_mut(id)?;
        let before = room.info.clone();
        // What joined clients are told: 104 for what disco shows, 172/173
        // when the real JIDs start or stop being shown; nothing for a
        // count, which changes all the time.
        let code = match detail {
            Detail::Name(name) => {
                room.info.name = name;
                Some(104)
            }
            Detail::Description(text) => {
                room.info.description = text;
                Some(104)
            }
            Detail::Channel(channel) => {
                room.info.channel = channel;
                Some(if channel { 173 } else { 172 })
            }
            Detail::Count(count) => {
                room.info.participant_count = count;
                None
            }
        };
        if room.info == before {
            return Ok(());
        }
        self.store_info(id)?;
        let room = self.room(id)?;
        if let Some(code) = code {
            for resource in &room.joined {
                roster.paced(
                    muc::config_changed(&room.jid, resource.clone().into(), code),
                    Pace::Update,
                );
            }
        }
        Ok(())
    }

    /// Sets the room's avatar (none removes it): stored once by hash, and
    /// joined clients are told the room changed (104) and get the room's
    /// presence with the new hash (XEP-0153), as slidge does. The same
    /// `unique_id` again changes nothing, without hashing the bytes.
    pub fn set_avatar(
        &mut self,
        roster: &mut Roster,
        id: RoomId,
        data: Option<Vec<u8>>,
        unique_id: Option<String>,
    ) -> Result<(), RosterError> {
        if let Some(bytes) = &data {
            roster.within_limit("an avatar", bytes.len(), self.gateway.config.max_avatar_kb)?;
        }
        let room = self.room(id)?;
        if unique_id.is_some()
            && room.info.avatar_unique_id == unique_id
            && room.info.avatar_hash.is_some() == data.is_some()
        {
            return Ok(());
        }
        let info = match &data {
            Some(bytes) => Some(AvatarInfo::of(bytes).map_err(RosterError::Invalid)?),
            None => None,
        };
        let hash = info.as_ref().map(|i| i.hash.clone());
        let changed = room.info.avatar_hash != hash;
        roster.room_for("an avatar")?;
        // Written before it is taken for the room's: a failed write leaves
        // the room as it was, and the same call again tries again.
        let row_id = room.row_id;
        let mut details = room.info.clone();
        details.avatar_hash = hash;
        details.avatar_unique_id = unique_id;
        let json = super::info_json(&details)?;
        match (info, data) {
            (Some(info), Some(bytes)) if changed => {
                let avatar = avatar_row(&info, bytes);
                self.gateway.store.put_room_avatar(row_id, &avatar, &json)?;
            }
            _ => self.gateway.store.set_room_info(row_id, &json)?,
        }
        self.room_mut(id)?.info = details;
        if changed {
            let room = self.room(id)?;
            for resource in &room.joined {
                let to: Jid = resource.clone().into();
                roster.paced(
                    muc::config_changed(&room.jid, to.clone(), 104),
                    Pace::Update,
                );
                roster.paced(self.room_presence(id, to)?, Pace::Update);
            }
        }
        Ok(())
    }

    /// The room's own presence, from its bare JID, with its avatar's hash
    /// (empty: none), which clients show as the room's picture.
    pub(super) fn room_presence(&self, id: RoomId, to: Jid) -> Result<Presence, RosterError> {
        let room = self.room(id)?;
        let mut presence = Presence::new(PresenceType::None)
            .with_from(room.jid.clone())
            .with_to(to);
        presence
            .payloads
            .push(avatar::photo_update(room.info.avatar_hash.as_deref()));
        Ok(presence)
    }

    /// The room's avatar, with its bytes, if it has one (vcard-temp).
    pub fn avatar(&self, id: RoomId) -> Result<Option<AvatarRow>, RosterError> {
        match &self.room(id)?.info.avatar_hash {
            Some(hash) => Ok(self.gateway.store.avatar(hash)?),
            None => Ok(None),
        }
    }

    /// Sets the subject, who set it (a nick) and when; joined clients get
    /// the subject message.
    pub fn set_subject(
        &mut self,
        roster: &mut Roster,
        id: RoomId,
        subject: Option<String>,
        setter: Option<String>,
        when: Option<u64>,
    ) -> Result<(), RosterError> {
        if let Some(text) = &subject {
            roster.within_limit("a subject", text.len(), self.gateway.config.max_text_kb)?;
        }
        if let Some(nick) = &setter {
            self.valid_nick(roster, nick)?;
        }
        roster.room_for("a subject")?;
        let room = self.room_mut(id)?;
        room.info.subject = subject;
        room.info.subject_setter = setter;
        room.info.subject_date = when;
        self.store_info(id)?;
        let room = self.room(id)?;
        for resource in room.joined.clone() {
            roster.paced(self.subject_message(id, resource.into())?, Pace::Text);
        }
        Ok(())
    }

    /// The subject message of the join sequence (empty when none is set).
    pub(super) fn subject_message(
        &self,
        id: RoomId,
        to: Jid,
    ) -> Result<xmpp_parsers::message::Message, RosterError> {
        let room = self.room(id)?;
        let from: Jid = match room
            .info
            .subject_setter
            .as_deref()
            .and_then(|nick| room.occupant_jid(nick))
        {
            Some(occupant) => occupant.into(),
            None => room.jid.clone().into(),
        };
        Ok(muc::subject(
            from,
            to,
            room.info.subject.as_deref().unwrap_or(""),
            room.info.subject_date,
            &room.jid,
        ))
    }

    /// Adds the room to the user's bookmarks: published to their PEP as
    /// them when the server grants it, else an invitation.
    pub fn add_to_bookmarks(
        &mut self,
        roster: &mut Roster,
        id: RoomId,
        autojoin: bool,
    ) -> Result<(), RosterError> {
        let nick = self.user_nick(id)?;
        let pep = self.gateway.grants.can_publish_pep(&self.user);
        let room = self.room_mut(id)?;
        // Each login bookmarks the user's groups again: a publish is
        // idempotent (one item per room) and mends a bookmark the user
        // deleted; an invitation is not sent twice.
        let unchanged =
            room.info.bookmarked && room.info.autojoin == autojoin && !room.info.removed;
        if unchanged && !pep {
            return Ok(());
        }
        roster.room_for("a bookmark")?;
        let room = self.room_mut(id)?;
        room.info.bookmarked = true;
        room.info.autojoin = autojoin;
        room.info.removed = false;
        self.store_info(id)?;
        let room = self.room(id)?;
        let gateway: Jid = self.gateway.jid.clone().into();
        if pep {
            let publish = bookmarks::publish(&Bookmark {
                room: &room.jid,
                name: room.info.name.as_deref(),
                nick: Some(&nick),
                autojoin,
            });
            let iq = privilege::iq_as_user(gateway, &self.user, &self.gateway.new_id(), publish);
            roster.paced(iq, Pace::Update);
        } else {
            roster.paced(
                muc::invitation(
                    gateway,
                    self.user.clone().into(),
                    &room.jid,
                    room.info.name.as_deref(),
                ),
                Pace::Update,
            );
        }
        Ok(())
    }

    /// Takes the room out of the user's bookmarks; joined clients are told
    /// the user was removed from it (307 with 110).
    pub fn remove_from_bookmarks(
        &mut self,
        roster: &mut Roster,
        id: RoomId,
    ) -> Result<(), RosterError> {
        roster.room_for("a bookmark")?;
        self.send_self_gone(roster, id, &Change::Removed)?;
        self.take_out(roster, id)
    }

    /// The user left the room on the network, as they asked: joined
    /// clients get their own unavailable presence (110), and the room is
    /// out of the bookmarks until the plugin bookmarks it again.
    pub fn leave(&mut self, roster: &mut Roster, id: RoomId) -> Result<(), RosterError> {
        roster.room_for("a bookmark")?;
        self.send_self_gone(roster, id, &Change::Left)?;
        self.take_out(roster, id)
    }

    /// The user is out of the room on the network: no bookmark, no joined
    /// client, and no join until the plugin bookmarks it again.
    pub(super) fn take_out(&mut self, roster: &mut Roster, id: RoomId) -> Result<(), RosterError> {
        let room = self.room_mut(id)?;
        let was_bookmarked = room.info.bookmarked;
        room.info.bookmarked = false;
        room.info.removed = true;
        room.joined.clear();
        self.store_info(id)?;
        if was_bookmarked {
            self.retract_bookmark(roster, id)?;
        }
        Ok(())
    }

    /// Every bookmark the gateway published, retracted: the user
    /// unregisters, and their clients would autojoin rooms that answer
    /// `registration-required` for ever.
    pub fn retract_all(&self, roster: &mut Roster) {
        for id in self.ids() {
            if self.rooms[id].info.bookmarked
                && let Err(e) = self.retract_bookmark(roster, id)
            {
                tracing::warn!(error = %e, "retracting a bookmark failed");
            }
        }
    }

    fn retract_bookmark(&self, roster: &mut Roster, id: RoomId) -> Result<(), RosterError> {
        if !self.gateway.grants.can_publish_pep(&self.user) {
            return Ok(());
        }
        let room = self.room(id)?;
        let iq = privilege::iq_as_user(
            self.gateway.jid.clone().into(),
            &self.user,
            &self.gateway.new_id(),
            bookmarks::retract(&room.jid),
        );
        roster.paced(iq, Pace::Update);
        Ok(())
    }

    /// The user's nick in a room: the network's, else the registration's.
    pub fn user_nick(&self, id: RoomId) -> Result<String, RosterError> {
        let room = self.room(id)?;
        Ok(room
            .info
            .user_nick
            .clone()
            .unwrap_or_else(|| self.default_nick.clone()))
    }

    /// Refuses a nick that cannot be a JID resource.
    pub(super) fn valid_nick(&self, roster: &Roster, nick: &str) -> Result<(), RosterError> {
        roster.id_within_limit("a nick", nick)?;
        if nick.is_empty() || jid::ResourcePart::new(nick).is_err() {
            return Err(RosterError::Invalid(format!(
                "{nick:?} cannot be a nick (an XMPP resource)"
            )));
        }
        Ok(())
    }
}
