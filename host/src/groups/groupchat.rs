//! Groupchat messages: a participant's texts to the room, the user's own
//! reflected back to their joined clients, each written to the room's
//! archive first; and the archive read back as history on join.
//!
//! A message's `<stanza-id>` is its legacy id when the network gives one
//! (so that it is the same after a restart or a reload, and corrections,
//! retractions and reactions, which name the `<stanza-id>` in groupchat,
//! find it), else a fresh id of the gateway's.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::{
    chatstates::ChatState,
    delay::Delay,
    message::{Message, MessageType},
};

use super::{ParticipantId, RoomId, Rooms};
use crate::roster::{Roster, RosterError};
use crate::sender::Pace;
use crate::stanza::{muc::Groupchat, presence::timestamp, reply};

/// How many archived messages a join gets when the client does not say.
pub const DEFAULT_HISTORY: u32 = 20;
/// The most a join gets, whatever the client asks.
pub const MAX_HISTORY: u32 = 100;

/// Options for a participant's text, as the plugin gives them.
#[derive(Debug, Clone, Default)]
pub struct GroupText {
    /// The network's id for it.
    pub legacy_msg_id: Option<String>,
    /// When it was sent, if not now.
    pub when: Option<u64>,
    /// The legacy id of the message it replies to.
    pub reply_to: Option<String>,
    /// Archived, never sent live (backfill).
    pub archive_only: bool,
}

impl Rooms {
    /// A text from a participant: archived, then sent to every joined
    /// client (unless archive-only). Returns its XMPP id.
    pub fn send_text(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        body: &str,
        options: GroupText,
    ) -> Result<String, RosterError> {
        roster.within_limit("a message", body.len(), self.gateway.config.max_text_kb)?;
        if let Some(legacy) = &options.legacy_msg_id {
            roster.id_within_limit("a message's legacy id", legacy)?;
        }
        roster.room_for("a message")?;
        let participant = self.participant(room, p)?;
        if !participant.present && !options.archive_only {
            return Err(RosterError::NotFound(format!(
                "{} is not in the room",
                participant.nick
            )));
        }
        let r = self.room(room)?;
        let from: Jid = r
            .occupant_jid(&participant.nick)
            .map(Into::into)
            .unwrap_or_else(|| r.jid.clone().into());
        let id = options
            .legacy_msg_id
            .clone()
            .unwrap_or_else(|| self.gateway.new_id());
        let mut message = Groupchat {
            from,
            id: &id,
            stanza_id: &id,
            occupant_id: Some(&participant.occupant_id),
            when: options.when,
        }
        .text(&r.jid, body);
        if let Some(replied) = &options.reply_to {
            let target = self
                .gateway
                .store
                .archived_stanza_id(r.row_id, replied)?
                .unwrap_or_else(|| replied.clone());
            reply::mark_reply(&mut message, &target, &r.jid.clone().into());
        }
        self.archive(
            room,
            &message,
            &id,
            options.legacy_msg_id.as_deref(),
            options.when,
        )?;
        if !options.archive_only {
            self.to_joined(roster, room, message, Pace::Text)?;
        }
        Ok(id)
    }

    /// The user's text, which the network took (`legacy_id`, if it gave
    /// one): archived, and reflected to every joined client under the id
    /// their client gave it.
    pub fn reflect(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        client_id: Option<&str>,
        body: &str,
        legacy_id: Option<&str>,
    ) -> Result<(), RosterError> {
        let user = self.user_participant(roster, room)?;
        let participant = self.participant(room, user)?;
        let r = self.room(room)?;
        let from: Jid = r
            .occupant_jid(&participant.nick)
            .map(Into::into)
            .unwrap_or_else(|| r.jid.clone().into());
        let stanza_id = legacy_id
            .map(str::to_owned)
            .unwrap_or_else(|| self.gateway.new_id());
        let id = client_id
            .map(str::to_owned)
            .unwrap_or_else(|| stanza_id.clone());
        let message = Groupchat {
            from,
            id: &id,
            stanza_id: &stanza_id,
            occupant_id: Some(&participant.occupant_id),
            when: None,
        }
        .text(&r.jid, body);
        self.archive(room, &message, &stanza_id, legacy_id, None)?;
        self.to_joined(roster, room, message, Pace::Free)
    }

    /// A participant's chat state, to every joined client (not archived).
    pub fn chat_state(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        state: ChatState,
    ) -> Result<(), RosterError> {
        roster.room_for("a chat state")?;
        let participant = self.participant(room, p)?;
        let r = self.room(room)?;
        let Some(from) = r.occupant_jid(&participant.nick) else {
            return Ok(());
        };
        let mut message = Message::new_with_type(MessageType::Groupchat, None::<Jid>);
        message.from = Some(from.into());
        message.payloads.push(state.into());
        message
            .payloads
            .push(crate::stanza::muc::occupant_id(&participant.occupant_id));
        self.to_joined(roster, room, message, Pace::Free)
    }

    /// The legacy id of the archived message with this `<stanza-id>`.
    pub fn legacy_id_of(
        &self,
        room: RoomId,
        stanza_id: &str,
    ) -> Result<Option<String>, RosterError> {
        let r = self.room(room)?;
        Ok(self.gateway.store.archived_legacy_id(r.row_id, stanza_id)?)
    }

    /// The oldest archived message's legacy id and date, for `backfill`.
    pub fn oldest(&self, room: RoomId) -> Result<Option<(Option<String>, u64)>, RosterError> {
        let r = self.room(room)?;
        Ok(self
            .gateway
            .store
            .archive_oldest(r.row_id)?
            .map(|row| (row.legacy_id, u64::try_from(row.at).unwrap_or(0))))
    }

    /// The newest `count` archived messages (at most [`MAX_HISTORY`]), to
    /// `to`, each dated.
    pub(super) fn history(
        &self,
        room: RoomId,
        count: u32,
        to: &Jid,
    ) -> Result<Vec<Message>, RosterError> {
        let r = self.room(room)?;
        let rows = self
            .gateway
            .store
            .archive_last(r.row_id, count.min(MAX_HISTORY))?;
        let mut messages = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(mut message) = row
                .xml
                .parse::<Element>()
                .ok()
                .and_then(|e| Message::try_from(e).ok())
            else {
                tracing::warn!(room = %r.jid, id = row.id, "an archived message does not parse");
                continue;
            };
            message.to = Some(to.clone());
            if !message
                .payloads
                .iter()
                .any(|p| p.is("delay", crate::stanza::ns::DELAY))
                && let Some(stamp) = u64::try_from(row.at).ok().and_then(timestamp)
            {
                message.payloads.push(
                    Delay {
                        from: Some(r.jid.clone().into()),
                        stamp,
                        data: None,
                    }
                    .into(),
                );
            }
            messages.push(message);
        }
        Ok(messages)
    }

    fn archive(
        &self,
        room: RoomId,
        message: &Message,
        stanza_id: &str,
        legacy_id: Option<&str>,
        when: Option<u64>,
    ) -> Result<(), RosterError> {
        let r = self.room(room)?;
        let at = when
            .and_then(|w| i64::try_from(w).ok())
            .unwrap_or_else(unix_now);
        let xml = String::from(&Element::from(message.clone()));
        self.gateway
            .store
            .archive(r.row_id, stanza_id, legacy_id, at, &xml)?;
        Ok(())
    }

    /// A copy of `message` to each joined client.
    fn to_joined(
        &self,
        roster: &mut Roster,
        room: RoomId,
        message: Message,
        pace: Pace,
    ) -> Result<(), RosterError> {
        for resource in &self.room(room)?.joined {
            let mut copy = message.clone();
            copy.to = Some(resource.clone().into());
            roster.paced(copy, pace);
        }
        Ok(())
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
