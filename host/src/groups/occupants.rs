//! Participants: looked up or created by nick, by contact or as the user,
//! their changes (nick, presence, leave, kick, ban, affiliation, role)
//! shown to the user's joined clients as occupant presences (the user's
//! own clients joining and leaving are `joins`).

use jid::Jid;

use super::{Participant, ParticipantId, RoomId, Rooms};
use crate::roster::{ContactId, Roster, RosterError};
use crate::sender::Pace;
use crate::stanza::muc::{self, Affiliation, Change, Occupant, Role};
use crate::stanza::presence::Availability;
use crate::store::ParticipantRow;

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
        // Someone who left and comes back under the same nick takes their
        // old place: a channel's comings and goings do not grow the list.
        let gone = self
            .room(room)?
            .participants
            .iter()
            .position(|p| !p.present && !p.is_user && p.contact.is_none() && p.nick == nick);
        self.create(roster, room, nick.to_owned(), None, false, gone)
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
        if self.room(room)?.by_nick(&nick).is_some() {
            return Err(RosterError::Invalid(format!(
                "another participant is called {nick:?}"
            )));
        }
        self.valid_nick(roster, &nick)?;
        let gone = self
            .room(room)?
            .participants
            .iter()
            .position(|p| !p.present && p.contact == Some(contact));
        self.create(roster, room, nick, Some(contact), false, gone)
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
        // The user's nick, unless a participant has it: then the nick with
        // a `_` more (the user's must not clash with anyone's).
        let mut nick = self.user_nick(room)?;
        while self.room(room)?.by_nick(&nick).is_some() {
            nick.push('_');
        }
        let gone = self
            .room(room)?
            .participants
            .iter()
            .position(|p| !p.present && p.is_user);
        self.create(roster, room, nick, None, true, gone)
    }

    /// Makes a participant (or brings back the one at `revive`, who left)
    /// and announces it to the joined clients. The user's own is exempt
    /// from the caps: it is always there to make.
    fn create(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        nick: String,
        contact: Option<ContactId>,
        is_user: bool,
        revive: Option<ParticipantId>,
    ) -> Result<ParticipantId, RosterError> {
        let cap = self.gateway.config.max_participants as usize;
        let r = self.room(room)?;
        if !is_user {
            // Those who left count too, at four times the cap: their
            // places are kept for the session's handles.
            if r.present().count() >= cap || (revive.is_none() && r.participants.len() >= cap * 4) {
                tracing::warn!(gateway = %self.gateway.jid, user = %self.user, nick, "participant refused: max_participants reached");
                return Err(RosterError::LimitExceeded(format!(
                    "this group has the most participants the gateway allows ({cap})"
                )));
            }
            roster.room_for("a participant")?;
        }
        let contact_row = contact.and_then(|c| roster.get(c)).map(|c| c.row_id);
        let occupant_id = match revive.and_then(|p| r.participants.get(p)) {
            Some(old) => old.occupant_id.clone(),
            None => self.occupant_id(&r.legacy_id, contact_row, is_user, &nick),
        };
        let row = ParticipantRow {
            id: 0,
            nick: nick.clone(),
            contact_id: contact_row,
            is_user,
            affiliation: Affiliation::Member.as_str().to_owned(),
            role: Role::Participant.as_str().to_owned(),
            occupant_id: occupant_id.clone(),
        };
        let row_id = self.gateway.store.insert_participant(r.row_id, &row)?;
        let participant = Participant {
            row_id,
            nick,
            contact,
            is_user,
            affiliation: Affiliation::Member,
            role: Role::Participant,
            occupant_id,
            present: true,
            availability: Availability::Online,
            status: None,
        };
        let r = self.room_mut(room)?;
        let id = match revive {
            Some(p) if p < r.participants.len() => {
                r.participants[p] = participant;
                p
            }
            _ => {
                r.participants.push(participant);
                r.participants.len() - 1
            }
        };
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
        let participant = self.present_mut(room, p)?;
        if participant.nick == nick {
            return Ok(());
        }
        let (row_id, is_user) = (participant.row_id, participant.is_user);
        let (affiliation, role) = (participant.affiliation, participant.role);
        if self.room(room)?.by_nick(nick).is_some() {
            return Err(RosterError::Invalid(format!(
                "another participant is called {nick:?}"
            )));
        }
        roster.room_for("a nick change")?;
        self.gateway
            .store
            .update_participant(row_id, nick, affiliation.as_str(), role.as_str())?;
        self.announce(roster, room, p, &Change::Renamed(nick.to_owned()))?;
        self.present_mut(room, p)?.nick = nick.to_owned();
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

    /// A participant leaves, is kicked or banned. The user's own: the
    /// network took the user out of the room (their clients are told so,
    /// with 307 when they merely left, and the bookmark goes).
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
        let participant = self.present_mut(room, p)?;
        let (row_id, is_user) = (participant.row_id, participant.is_user);
        roster.room_for("a participant leaving")?;
        self.gateway.store.delete_participant(row_id)?;
        if is_user {
            let change = match change {
                Change::Left => Change::Removed,
                other => other,
            };
            self.send_self_gone(roster, room, &change)?;
            self.present_mut(room, p)?.present = false;
            return self.take_out(roster, room);
        }
        self.announce(roster, room, p, &change)?;
        self.present_mut(room, p)?.present = false;
        Ok(())
    }

    /// A participant's availability and status in the room: offline is
    /// leaving; anything else its presence again, with `<show/>` and
    /// `<status/>`.
    pub fn set_presence(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        availability: Availability,
        status: Option<String>,
    ) -> Result<(), RosterError> {
        if availability == Availability::Offline {
            return self.remove(roster, room, p, Change::Left);
        }
        // A room holds thousands of them, each in every join: 1 KiB each.
        if let Some(text) = &status {
            roster.within_limit("a participant's status", text.len(), 1)?;
        }
        let participant = self.present_mut(room, p)?;
        if participant.availability == availability && participant.status == status {
            return Ok(());
        }
        // The user's own is theirs to show, not the network's.
        let shown = !participant.is_user;
        if shown {
            roster.room_for("a participant's presence")?;
        }
        let participant = self.present_mut(room, p)?;
        participant.availability = availability;
        participant.status = status;
        if shown {
            self.announce(roster, room, p, &Change::None)?;
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
        let participant = self.present_mut(room, p)?;
        let (mut affiliation, mut role) = (participant.affiliation, participant.role);
        match standing {
            Standing::Affiliation(a) => affiliation = a,
            Standing::Role(r) => role = r,
        }
        if (affiliation, role) == (participant.affiliation, participant.role) {
            return Ok(());
        }
        let (row_id, nick) = (participant.row_id, participant.nick.clone());
        roster.room_for("a participant's standing")?;
        self.gateway.store.update_participant(
            row_id,
            &nick,
            affiliation.as_str(),
            role.as_str(),
        )?;
        let participant = self.present_mut(room, p)?;
        participant.affiliation = affiliation;
        participant.role = role;
        self.announce(roster, room, p, &Change::None)
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
    pub(super) fn announce(
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

    pub(super) fn presence_of(
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
            show: participant.availability.show(),
            status: participant.status.as_deref(),
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
