//! Groupchat messages: a participant's texts, corrections, retractions,
//! reactions, markers and chat states to the room; the user's own
//! reflected back to their joined clients; each (but markers and chat
//! states) written to the room's archive before it goes out.
//!
//! A message's `<stanza-id>` is its legacy id when the network gives one
//! (so that it is the same after a restart or a reload), else a fresh id
//! of the gateway's. Retractions, reactions and markers name the
//! `<stanza-id>` of their message (a groupchat rule); corrections its `id`.

use jid::Jid;
use xmpp_parsers::{
    chatstates::ChatState,
    message::{Message, MessageType},
};

use super::archiving::{Dated, parse_archived};
use super::{ParticipantId, RoomId, Rooms};
use crate::roster::{Roster, RosterError};
use crate::sender::Pace;
use crate::stanza::{
    correction, markers,
    muc::{self, Groupchat},
    ns, reactions, reply, retraction,
};

/// Options for a participant's message, as the plugin gives them.
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

/// What a participant's message is, beyond its envelope.
enum Content<'a> {
    Text(&'a str),
    Correction { original: String, body: &'a str },
    Retraction(String),
    Reactions(String, &'a [String]),
}

impl Rooms {
    /// A text from a participant; returns its XMPP id.
    pub fn send_text(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        body: &str,
        options: GroupText,
    ) -> Result<String, RosterError> {
        roster.within_limit("a message", body.len(), self.gateway.config.max_text_kb)?;
        self.send(roster, room, p, Content::Text(body), options)
    }

    /// A participant's correction of its message `legacy_msg_id`; returns
    /// the correction's XMPP id.
    pub fn correct(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        legacy_msg_id: &str,
        body: &str,
        options: GroupText,
    ) -> Result<String, RosterError> {
        roster.within_limit("a correction", body.len(), self.gateway.config.max_text_kb)?;
        roster.id_within_limit("a message's legacy id", legacy_msg_id)?;
        let original = self.xmpp_id_of(room, legacy_msg_id)?;
        self.send(
            roster,
            room,
            p,
            Content::Correction { original, body },
            options,
        )
    }

    /// A participant's retraction of message `legacy_msg_id`.
    pub fn retract(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        legacy_msg_id: &str,
    ) -> Result<(), RosterError> {
        roster.id_within_limit("a message's legacy id", legacy_msg_id)?;
        let target = self.stanza_id_of(room, legacy_msg_id)?;
        self.send(
            roster,
            room,
            p,
            Content::Retraction(target),
            GroupText::default(),
        )
        .map(|_| ())
    }

    /// A participant's reactions to message `legacy_msg_id`.
    pub fn react(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        legacy_msg_id: &str,
        emojis: &[String],
    ) -> Result<(), RosterError> {
        roster.reactions_within_limit(emojis)?;
        roster.id_within_limit("a message's legacy id", legacy_msg_id)?;
        let target = self.stanza_id_of(room, legacy_msg_id)?;
        self.send(
            roster,
            room,
            p,
            Content::Reactions(target, emojis),
            GroupText::default(),
        )
        .map(|_| ())
    }

    /// A participant read the room up to message `legacy_msg_id`.
    pub fn displayed(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        legacy_msg_id: &str,
    ) -> Result<(), RosterError> {
        roster.id_within_limit("a message's legacy id", legacy_msg_id)?;
        roster.room_for("a read marker")?;
        let target = self.stanza_id_of(room, legacy_msg_id)?;
        let Some(from) = self.occupant_from(room, p)? else {
            return Ok(());
        };
        let mut marker = markers::displayed(from, self.room(room)?.jid.clone().into(), &target);
        marker.type_ = MessageType::Groupchat;
        self.with_occupant_id(room, p, &mut marker)?;
        self.to_joined(roster, room, marker, Pace::Free)
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
        let Some(from) = self.occupant_from(room, p)? else {
            return Ok(());
        };
        let mut message = Message::new_with_type(MessageType::Groupchat, None::<Jid>);
        message.from = Some(from);
        message.payloads.push(state.into());
        self.with_occupant_id(room, p, &mut message)?;
        self.to_joined(roster, room, message, Pace::Free)
    }

    /// Archives and sends a participant's message of any kind.
    fn send(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        p: ParticipantId,
        content: Content<'_>,
        mut options: GroupText,
    ) -> Result<String, RosterError> {
        if let Some(legacy) = options.legacy_msg_id.clone() {
            roster.id_within_limit("a message's legacy id", &legacy)?;
            // The network gave this text before (an echo of it, a backfill
            // of what is archived): it is there already, under the one
            // `<stanza-id>` it may have. A correction or a retraction
            // with an old id is a new message: it gets a fresh one.
            let r = self.room(room)?;
            if let Some(held) = self
                .gateway
                .store
                .archived_by_legacy_id(r.row_id, &legacy)?
            {
                if matches!(content, Content::Text(_)) {
                    return Ok(held.xmpp_id);
                }
                options.legacy_msg_id = None;
            }
        }
        if let Some(replied) = &options.reply_to {
            roster.id_within_limit("a replied message's legacy id", replied)?;
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
        let envelope = Groupchat {
            from: from.clone(),
            id: &id,
            stanza_id: &id,
            occupant_id: Some(&participant.occupant_id),
            when: options.when,
        };
        let mut message = match content {
            Content::Text(body) => envelope.text(&r.jid, body),
            Content::Correction { original, body } => {
                let mut message = envelope.text(&r.jid, body);
                correction::mark_correction(&mut message, &original);
                message
            }
            Content::Retraction(target) => {
                let kind = retraction::retraction(from, r.jid.clone().into(), id.clone(), &target);
                envelope.wrap(&r.jid, kind)
            }
            Content::Reactions(target, emojis) => {
                let kind = reactions::reactions(from, r.jid.clone().into(), &target, emojis);
                envelope.wrap(&r.jid, kind)
            }
        };
        if let Some(replied) = &options.reply_to {
            let (target, author) = self.reply_target(room, replied)?;
            reply::mark_reply(&mut message, &target, &author);
        }
        self.archive_as(
            room,
            &message,
            &id,
            &id,
            options.legacy_msg_id.as_deref(),
            Dated {
                when: options.when,
                live: !options.archive_only,
            },
        )?;
        if !options.archive_only {
            self.to_joined(roster, room, message, Pace::Text)?;
        }
        Ok(id)
    }

    /// The user's message to the room, which the network took
    /// (`legacy_id`, if it gave one): archived, and reflected to every
    /// joined client as the user's occupant, under the id their client
    /// gave it. Any kind reflects: texts, corrections, retractions and
    /// reactions.
    pub fn reflect(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        sent: &Message,
        legacy_id: Option<&str>,
    ) -> Result<(), RosterError> {
        // The network took the user out during the call: nothing to
        // reflect to, nor a participant to make again.
        if self.room(room)?.info.removed {
            return Ok(());
        }
        let user = self.user_participant(roster, room)?;
        let participant = self.participant(room, user)?;
        let r = self.room(room)?;
        let from: Jid = r
            .occupant_jid(&participant.nick)
            .map(Into::into)
            .unwrap_or_else(|| r.jid.clone().into());
        // A legacy id the archive holds already (or one too long to be an
        // attribute) does not name this message: a fresh id does.
        let held = match legacy_id {
            Some(legacy) => {
                legacy.len() > crate::roster::MAX_ID_BYTES
                    || self
                        .gateway
                        .store
                        .archived_stanza_id(r.row_id, legacy)?
                        .is_some()
            }
            None => true,
        };
        let legacy_id = legacy_id.filter(|_| !held);
        let stanza_id = legacy_id
            .map(str::to_owned)
            .unwrap_or_else(|| self.gateway.new_id());
        let id = sent
            .id
            .as_ref()
            .map(|id| id.0.clone())
            .unwrap_or_else(|| stanza_id.clone());
        let mut message = Groupchat {
            from,
            id: &id,
            stanza_id: &stanza_id,
            occupant_id: Some(&participant.occupant_id),
            when: None,
        }
        .envelope(&r.jid);
        message.bodies = sent.bodies.clone();
        // What the client put in, but the ids the room stamps.
        for payload in &sent.payloads {
            let stamped =
                payload.is("stanza-id", muc::SID) || payload.is("occupant-id", muc::OCCUPANT_ID);
            if !stamped && !payload.is("markable", ns::CHAT_MARKERS) {
                message.payloads.push(payload.clone());
            }
        }
        self.archive_as(
            room,
            &message,
            &stanza_id,
            &id,
            legacy_id,
            Dated {
                when: None,
                live: true,
            },
        )?;
        self.to_joined(roster, room, message, Pace::Free)
    }

    /// The user's chat state or read marker, which the network took, to
    /// every joined client, as a MUC service shows them to all occupants
    /// (the user's other clients learn what was read); never archived.
    pub fn reflect_signal(
        &mut self,
        roster: &mut Roster,
        room: RoomId,
        sent: &Message,
    ) -> Result<(), RosterError> {
        if self.room(room)?.info.removed {
            return Ok(());
        }
        let user = self.user_participant(roster, room)?;
        let Some(from) = self.occupant_from(room, user)? else {
            return Ok(());
        };
        let mut message = Message::new_with_type(MessageType::Groupchat, None);
        message.from = Some(from);
        message.id = sent.id.clone();
        message.payloads = sent
            .payloads
            .iter()
            .filter(|p| p.ns() == ns::CHATSTATES || p.is("displayed", ns::CHAT_MARKERS))
            .cloned()
            .collect();
        self.with_occupant_id(room, user, &mut message)?;
        self.to_joined(roster, room, message, Pace::Free)
    }

    /// The legacy id of the archived message a client names by its
    /// `<stanza-id>` or its `id`.
    pub fn legacy_id_of(&self, room: RoomId, id: &str) -> Result<Option<String>, RosterError> {
        let r = self.room(room)?;
        Ok(self.gateway.store.archived_legacy_id(r.row_id, id)?)
    }

    /// What a reply names: the replied message's `<stanza-id>` and its
    /// author's occupant JID (XEP-0461 in groupchat), or the room's when
    /// the archive does not hold it.
    fn reply_target(&self, room: RoomId, legacy_id: &str) -> Result<(String, Jid), RosterError> {
        let r = self.room(room)?;
        let stanza_id = self.stanza_id_of(room, legacy_id)?;
        let author = self
            .gateway
            .store
            .archived_by_legacy_id(r.row_id, legacy_id)?
            .and_then(|row| parse_archived(&row))
            .and_then(|m| m.from)
            .unwrap_or_else(|| r.jid.clone().into());
        Ok((stanza_id, author))
    }

    /// The `id` of the archived message with this legacy id (else the id).
    fn xmpp_id_of(&self, room: RoomId, legacy_id: &str) -> Result<String, RosterError> {
        let r = self.room(room)?;
        Ok(self
            .gateway
            .store
            .archived_xmpp_id(r.row_id, legacy_id)?
            .unwrap_or_else(|| legacy_id.to_owned()))
    }

    /// The `<stanza-id>` of the archived message with this legacy id (else
    /// the id).
    fn stanza_id_of(&self, room: RoomId, legacy_id: &str) -> Result<String, RosterError> {
        let r = self.room(room)?;
        Ok(self
            .gateway
            .store
            .archived_stanza_id(r.row_id, legacy_id)?
            .unwrap_or_else(|| legacy_id.to_owned()))
    }

    fn occupant_from(&self, room: RoomId, p: ParticipantId) -> Result<Option<Jid>, RosterError> {
        let participant = self.participant(room, p)?;
        Ok(self
            .room(room)?
            .occupant_jid(&participant.nick)
            .map(Into::into))
    }

    fn with_occupant_id(
        &self,
        room: RoomId,
        p: ParticipantId,
        message: &mut Message,
    ) -> Result<(), RosterError> {
        let participant = self.participant(room, p)?;
        message
            .payloads
            .push(muc::occupant_id(&participant.occupant_id));
        Ok(())
    }

    /// A copy of `message` to each joined client.
    pub(super) fn to_joined(
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
