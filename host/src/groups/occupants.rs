//! Participants: looked up or created by nick, by contact or as the user,
//! their changes (nick, leave, kick, ban, affiliation, role) shown to the
//! user's joined clients as occupant presences, and the user's join.

use jid::{FullJid, Jid};

use super::{Participant, ParticipantId, RoomId, Rooms};
use crate::roster::{ContactId, Roster, RosterError};
use crate::sender::Pace;
use crate::stanza::muc::{self, Affiliation, Change, Occupant, Role};
use crate::store::ParticipantRow;

/// Why the user's join was refused.
#[derive(Debug, thiserror::Error)]
pub enum JoinRefused {
    /// The user asked for a nick other than the network's (XEP-0045 lets
    /// the service refuse it; the network decides the nick).
    #[error("{0}")]
    Nick(String),
    /// A roster or database failure.
    #[error(transparent)]
    Roster(#[from] RosterError),
}

/// A change to a participant's standing.
#[derive(Debug, Clone, Copy)]
pub enum Standing {
    /// Its affiliation.
    Affiliation(Affiliation),
    /// Its role.
    Role(Role),
}

impl Rooms {
    /// The present participant with this nick, created (no contact) on
    /// first use.
    pub fn participant_by_nick(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        nick: &str,
    ) -> Result<ParticipantId, RosterError> {
        if let Some(p) = self.room(room)?.by_nick(nick) {
            return Ok(p);
        }
        self.valid_nick(roster, nick)?;
        self.create(roster, room, nick.to_owned(), None, false)
    }

    /// The present participant a contact is, created on first use with the
    /// contact's name (or legacy id) as nick.
    pub fn participant_by_contact(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        contact: ContactId,
    ) -> Result<ParticipantId, RosterError> {
        if let Some(p) = self
            .room(room)?
            .present()
            .find(|(_, p)| p.contact == Some(contact))
            .map(|(i, _)| i)
        {
            return Ok(p);
        }
        let c = roster
            .get(contact)
            .ok_or_else(|| RosterError::NotFound(format!("no contact #{contact}")))?;
        let mut nick = c.name.clone().unwrap_or_else(|| c.legacy_id.clone());
        if self.room(room)?.by_nick(&nick).is_some() {
            nick = format!("{nick} ({})", c.legacy_id);
        }
        self.valid_nick(roster, &nick)?;
        self.create(roster, room, nick, Some(contact), false)
    }

    /// The user's own participant, created on first use with the user's
    /// nick in the room.
    pub fn user_participant(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
    ) -> Result<ParticipantId, RosterError> {
        if let Some(p) = self.room(room)?.user_participant() {
            return Ok(p);
        }
        let nick = self.user_nick(room)?;
        self.create(roster, room, nick, None, true)
    }

    fn create(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        nick: String,
        contact: Option<ContactId>,
        is_user: bool,
    ) -> Result<ParticipantId, RosterError> {
        let cap = self.gateway.config.max_participants;
        if self.room(room)?.present().count() >= cap as usize {
            tracing::warn!(gateway = %self.gateway.jid, user = %self.user, nick, "participant refused: max_participants reached");
            return Err(RosterError::LimitExceeded(format!(
                "this group has the most participants the gateway allows ({cap})"
            )));
        }
        roster.room_for("a participant")?;
        let contact_row = contact.and_then(|c| roster.get(c)).map(|c| c.row_id);
        let row = ParticipantRow {
            id: 0,
            nick: nick.clone(),
            contact_id: contact_row,
            is_user,
            affiliation: Affiliation::Member.as_str().to_owned(),
            role: Role::Participant.as_str().to_owned(),
        };
        let room_row = self.room(room)?.row_id;
        let row_id = self.gateway.store.insert_participant(room_row, &row)?;
        let occupant_id =
            self.occupant_id(&self.room(room)?.legacy_id, contact_row, is_user, &nick);
        let r = self.room_mut(room)?;
        r.participants.push(Participant {
            row_id,
            nick,
            contact,
            is_user,
            affiliation: Affiliation::Member,
            role: Role::Participant,
            occupant_id,
            present: true,
        });
        let id = r.participants.len() - 1;
        if !is_user {
            self.announce(roster, room, id, &Change::None)?;
        }
        Ok(id)
    }

    /// A participant by index, present or gone.
    pub fn participant(&self, room: RoomId, p: ParticipantId) -> Result<&Participant, RosterError> {
        self.room(room)?
            .participants
            .get(p)
            .ok_or_else(|| RosterError::NotFound(format!("no participant #{p}")))
    }

    fn present_mut(
        &mut self,
        room: RoomId,
        p: ParticipantId,
    ) -> Result<&mut Participant, RosterError> {
        match self.room_mut(room)?.participants.get_mut(p) {
            Some(participant) if participant.present => Ok(participant),
            _ => Err(RosterError::NotFound(format!(
                "participant #{p} is not in the room"
            ))),
        }
    }

    /// A participant takes a new nick: 303 from the old one, then the new.
    pub fn set_nick(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        nick: &str,
    ) -> Result<(), RosterError> {
        self.valid_nick(roster, nick)?;
        if self.participant(room, p)?.nick == nick {
            return Ok(());
        }
        if self.room(room)?.by_nick(nick).is_some() {
            return Err(RosterError::Invalid(format!(
                "another participant is called {nick:?}"
            )));
        }
        roster.room_for("a nick change")?;
        self.announce(roster, room, p, &Change::Renamed(nick.to_owned()))?;
        let participant = self.present_mut(room, p)?;
        participant.nick = nick.to_owned();
        let is_user = participant.is_user;
        self.store_participant(room, p)?;
        if is_user {
            self.room_mut(room)?.info.user_nick = Some(nick.to_owned());
            self.store_info(room)?;
        }
        self.announce(roster, room, p, &Change::None)
    }

    /// The user's nick as the network gives it: the user's participant, if
    /// there is one, is renamed.
    pub fn set_user_nick(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        nick: &str,
    ) -> Result<(), RosterError> {
        self.valid_nick(roster, nick)?;
        match self.room(room)?.user_participant() {
            Some(p) => self.set_nick(roster, room, p, nick),
            None => {
                self.room_mut(room)?.info.user_nick = Some(nick.to_owned());
                self.store_info(room)
            }
        }
    }

    /// A participant leaves, is kicked or banned. The user's own: their
    /// joined clients are out of the room.
    pub fn remove(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        change: Change,
    ) -> Result<(), RosterError> {
        if let Change::Kicked(Some(reason)) | Change::Banned(Some(reason)) = &change {
            roster.within_limit("a reason", reason.len(), self.gateway.config.max_text_kb)?;
        }
        roster.room_for("a participant leaving")?;
        self.announce(roster, room, p, &change)?;
        let participant = self.present_mut(room, p)?;
        participant.present = false;
        let (row_id, is_user) = (participant.row_id, participant.is_user);
        self.gateway.store.delete_participant(row_id)?;
        if is_user {
            self.room_mut(room)?.joined.clear();
        }
        Ok(())
    }

    /// A participant's affiliation or role changes.
    pub fn set_standing(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        standing: Standing,
    ) -> Result<(), RosterError> {
        roster.room_for("a participant's standing")?;
        let participant = self.present_mut(room, p)?;
        match standing {
            Standing::Affiliation(a) => participant.affiliation = a,
            Standing::Role(r) => participant.role = r,
        }
        self.store_participant(room, p)?;
        self.announce(roster, room, p, &Change::None)
    }

    fn store_participant(&self, room: RoomId, p: ParticipantId) -> Result<(), RosterError> {
        let participant = self.participant(room, p)?;
        self.gateway.store.update_participant(&ParticipantRow {
            id: participant.row_id,
            nick: participant.nick.clone(),
            contact_id: None,
            is_user: participant.is_user,
            affiliation: participant.affiliation.as_str().to_owned(),
            role: participant.role.as_str().to_owned(),
        })?;
        Ok(())
    }

    /// The user's client `resource` joins the room asking for `nick`:
    /// every other participant's presence, then the user's own (110; 100
    /// in a group; 210 when the network's nick is not the one asked), then
    /// `history` messages of the archive (the caller's default when
    /// none), then the subject. The caller has had the plugin fill the
    /// participants.
    pub fn join(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        resource: FullJid,
        nick: &str,
        history: u32,
    ) -> Result<(), JoinRefused> {
        let user = self.user_participant(roster, room)?;
        let user_nick = self.participant(room, user)?.nick.clone();
        let r = self.room(room)?;
        if r.joined.contains(&resource) && nick != user_nick {
            return Err(JoinRefused::Nick(format!(
                "your nick in this group is {user_nick:?}, as the legacy network gives it; it cannot be changed from XMPP"
            )));
        }
        let to: Jid = resource.clone().into();
        let others: Vec<ParticipantId> = r
            .present()
            .filter(|(_, p)| !p.is_user)
            .map(|(i, _)| i)
            .collect();
        for p in others {
            let presence = self.presence_of(roster, room, p, to.clone(), &Change::None, false)?;
            roster.paced(presence, Pace::Free);
        }
        let own = self.presence_of(
            roster,
            room,
            user,
            to.clone(),
            &Change::None,
            nick != user_nick,
        )?;
        roster.paced(own, Pace::Free);
        self.room_mut(room)?.joined.insert(resource);
        for message in self.history(room, history, &to)? {
            roster.paced(message, Pace::Free);
        }
        let subject = self.subject_message(room, to)?;
        roster.paced(subject, Pace::Free);
        Ok(())
    }

    /// One of the user's clients leaves the room.
    pub fn part(&mut self, roster: &mut Roster, room: RoomId, resource: &FullJid) {
        let Ok(r) = self.room_mut(room) else { return };
        if !r.joined.remove(resource) {
            return;
        }
        if let Some(user) = r.user_participant()
            && let Ok(presence) = self.presence_of(
                roster,
                room,
                user,
                resource.clone().into(),
                &Change::Left,
                false,
            )
        {
            roster.paced(presence, Pace::Free);
        }
    }

    /// Every client of the user that joined any room leaves it, for a
    /// client that went offline (`resource`) or, with none, a session
    /// that ends.
    pub fn all_left(&mut self, roster: &mut Roster, resource: Option<&FullJid>) {
        for room in self.ids() {
            let joined: Vec<FullJid> = self.rooms[room]
                .joined
                .iter()
                .filter(|j| resource.is_none_or(|r| *j == r))
                .cloned()
                .collect();
            for j in joined {
                self.part(roster, room, &j);
            }
        }
    }

    /// Whether the user's client `resource` is in the room (self-ping).
    pub fn is_joined(&self, room: RoomId, resource: &FullJid) -> bool {
        self.room(room).is_ok_and(|r| r.joined.contains(resource))
    }

    /// Tells the joined clients the user is out of the room.
    pub(super) fn send_self_gone(
        &self,
        roster: &mut Roster,
        room: RoomId,
        change: &Change,
    ) -> Result<(), RosterError> {
        let r = self.room(room)?;
        let Some(user) = r.user_participant() else {
            return Ok(());
        };
        for resource in r.joined.clone() {
            let presence = self.presence_of(roster, room, user, resource.into(), change, false)?;
            roster.paced(presence, Pace::Update);
        }
        Ok(())
    }

    /// A participant's presence (or change) to each joined client.
    fn announce(
        &self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        change: &Change,
    ) -> Result<(), RosterError> {
        for resource in self.room(room)?.joined.clone() {
            let presence = self.presence_of(roster, room, p, resource.into(), change, false)?;
            roster.paced(presence, Pace::Update);
        }
        Ok(())
    }

    fn presence_of(
        &self,
        roster: &Roster,
        room: RoomId,
        p: ParticipantId,
        to: Jid,
        change: &Change,
        nick_changed: bool,
    ) -> Result<xmpp_parsers::presence::Presence, RosterError> {
        let r = self.room(room)?;
        let participant = self.participant(room, p)?;
        let jid = r.occupant_jid(&participant.nick).ok_or_else(|| {
            RosterError::Invalid(format!("{:?} cannot be a nick", participant.nick))
        })?;
        let real_jid = match (r.non_anonymous(), participant.is_user, participant.contact) {
            (false, _, _) => None,
            (true, true, _) => Some(&self.user),
            (true, false, Some(c)) => roster.get(c).map(|c| &c.jid),
            (true, false, None) => None,
        };
        let occupant = Occupant {
            jid,
            real_jid,
            occupant_id: &participant.occupant_id,
            affiliation: participant.affiliation,
            role: participant.role,
        };
        Ok(muc::occupant_presence(
            &occupant,
            to,
            change,
            participant.is_user,
            r.non_anonymous(),
            nick_changed,
        ))
    }
}
