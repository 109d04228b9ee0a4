//! The user's clients in a room: a join (every participant's presence,
//! the user's own with its status codes, the history asked for, the
//! subject, the room's picture), a client leaving, and self-ping's
//! question, whether a client is in.

use jid::{FullJid, Jid};

use super::{ParticipantId, RoomId, Rooms};
use crate::roster::{Roster, RosterError};
use crate::sender::Pace;
use crate::stanza::muc::{Change, HistoryRequest};

/// Why the user's join was refused.
#[derive(Debug, thiserror::Error)]
pub enum JoinRefused {
    /// The user asked for a nick other than the network's (XEP-0045 lets
    /// the service refuse it; the network decides the nick).
    #[error("{0}")]
    Nick(String),
    /// The network took the user out of the room (`forbidden`).
    #[error("{0}")]
    Removed(String),
    /// A roster or database failure.
    #[error(transparent)]
    Roster(#[from] RosterError),
}

impl Rooms {
    /// The user's client `resource` joins the room asking for `nick`:
    /// every other participant's presence, then the user's own (110; 100
    /// in a group; 210 when the network's nick is not the one asked), then
    /// the history it asked for, then the subject, then (when the room has
    /// an avatar) the room's presence with its hash. The caller has had
    /// the plugin fill the participants.
    pub fn join(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        resource: FullJid,
        nick: &str,
        history: &HistoryRequest,
    ) -> Result<(), JoinRefused> {
        if self.room(room)?.info.removed {
            return Err(JoinRefused::Removed(
                "you are not in this group on the legacy network any more".into(),
            ));
        }
        let user = self.user_participant(roster, room)?;
        let user_nick = self.participant(room, user)?.nick.clone();
        let r = self.room(room)?;
        // Once in, the nick is the network's: another one (a change, or a
        // second client asking for its own) is refused.
        if !r.joined.is_empty() && nick != user_nick {
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
        let subject = self.subject_message(room, to.clone())?;
        roster.paced(subject, Pace::Free);
        if self.room(room)?.info.avatar_hash.is_some() {
            roster.paced(self.room_presence(room, to)?, Pace::Free);
        }
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
}
