//! The user's stanzas to rooms: joins and leaves (presences to
//! `room/Nick`), groupchat messages and private messages to occupants
//! (iqs to the room are `room_iqs`).

use jid::{FullJid, Jid};
use xmpp_parsers::{
    message::{Message, MessageType},
    presence::{Presence, Type as PresenceType},
    stanza_error::DefinedCondition,
};

use super::calls::Crashed;
use super::{LoginState, Session};
use crate::groups::{JoinRefused, RoomId};
use crate::plugin::{ArchiveBound, TextMessage};
use crate::stanza::{
    correction,
    error::{message_error, presence_error, stanza_error},
    escape, markers, message, muc, reactions, reply, retraction,
};

/// What a user's groupchat message asks of the plugin.
enum RoomAction {
    Text(String, Option<String>),
    Correct(String, String),
    Retract(String),
    React(String, Vec<String>),
    Displayed(String),
    ChatState(xmpp_parsers::chatstates::ChatState),
}

impl Session {
    /// The room a stanza to `to` is for: a known one, or, for a join or a
    /// groupchat message (`create`), whatever the plugin maps the local
    /// part to. None: not a room (a contact, or nothing).
    pub(super) async fn room_for(
        &mut self,
        to: &Jid,
        create: bool,
    ) -> Result<Option<RoomId>, String> {
        if let Some(room) = self.data().and_then(|d| d.rooms.by_jid(to)) {
            return Ok(Some(room));
        }
        if !create {
            return Ok(None);
        }
        let username = to.node().map(|n| n.as_str().to_owned()).unwrap_or_default();
        let unescaped = escape::unescape(&username);
        let answer = self
            .call("jid-username-to-muc-legacy-id", async |i| {
                i.jid_username_to_muc_legacy_id(&username, &unescaped).await
            })
            .await;
        let legacy_id = match answer {
            Ok(Ok(legacy_id)) => legacy_id,
            Ok(Err(reason)) => return Err(reason),
            Err(Crashed) => return Err("the gateway's plugin crashed".into()),
        };
        let data = self.data().ok_or("session state lost")?;
        let room = data
            .rooms
            .by_legacy_id(&mut data.roster, &legacy_id, Some(&username))
            .map_err(|e| e.to_string())?;
        // The plugin named a group that has another JID: the client must
        // join that one, not an alias of it.
        match data.rooms.get(room) {
            Some(r) if r.jid.node().map(|n| n.as_str()) == Some(username.as_str()) => {
                Ok(Some(room))
            }
            Some(r) => Err(format!("this group is {}", r.jid)),
            None => Err("no such group".into()),
        }
    }

    pub(super) fn logged_in(&self) -> Result<(), String> {
        match &self.login {
            LoginState::LoggedIn { .. } => Ok(()),
            _ => Err("not logged in to the legacy network".to_owned()),
        }
    }

    /// A presence to `room/Nick`: a join (with the MUC `<x/>`), a leave
    /// (`unavailable`), or a nick change (refused: the network decides).
    pub(super) async fn on_room_presence(&mut self, p: Presence, room: Option<RoomId>) {
        let (Some(to), Some(from)) = (
            p.to.clone(),
            p.from.as_ref().and_then(|f| f.try_as_full().ok()).cloned(),
        ) else {
            return;
        };
        let refuse = |this: &mut Self, condition, text: String| {
            this.send(presence_error(
                p.from.clone(),
                p.to.clone(),
                p.id.clone(),
                stanza_error(condition, text),
            ));
        };
        if p.type_ == PresenceType::Unavailable {
            if let (Some(room), Some(data)) = (room, self.data()) {
                data.rooms.part(&mut data.roster, room, &from);
            }
            return;
        }
        if !matches!(p.type_, PresenceType::None) {
            return;
        }
        let request = muc::join_request(&p);
        // A presence update of a joined client (away, a status) to its own
        // occupant: not a join, and nothing to replay. (To another nick it
        // is a nick change, which `join` refuses.)
        let asked = to.resource().map(|r| r.to_string());
        if request.is_none()
            && let Some(room) = room
            && let Some(data) = self.data()
            && data.rooms.is_joined(room, &from)
            && asked.as_deref() == data.rooms.user_nick_in(room).as_deref()
        {
            return;
        }
        if let Err(text) = self.logged_in() {
            return refuse(self, DefinedCondition::RecipientUnavailable, text);
        }
        let room = match room {
            Some(room) => room,
            None => match self.room_for(&to, true).await {
                Ok(Some(room)) => room,
                Ok(None) => return,
                Err(text) => return refuse(self, DefinedCondition::ItemNotFound, text),
            },
        };
        let Some(nick) = to.resource().map(|r| r.to_string()) else {
            return refuse(
                self,
                DefinedCondition::JidMalformed,
                "a join names a nick: room/Nick".into(),
            );
        };
        let history = request.unwrap_or_default();
        // A room the network took the user out of: the plugin is asked
        // again (its fill may bookmark it anew: an IRC channel joined from
        // XMPP once more); else the join is refused.
        if let Some(data) = self.data()
            && data.rooms.get(room).is_some_and(|r| r.info.removed)
        {
            data.rooms.unfill(room);
        }
        self.prepare_room(room).await;
        let Some(data) = self.data() else { return };
        match data
            .rooms
            .join(&mut data.roster, room, from, &nick, &history)
        {
            Ok(()) => {}
            Err(JoinRefused::Nick(text)) => refuse(self, DefinedCondition::NotAcceptable, text),
            Err(JoinRefused::Removed(text)) => refuse(self, DefinedCondition::Forbidden, text),
            Err(JoinRefused::Roster(e)) => {
                refuse(self, DefinedCondition::InternalServerError, e.to_string())
            }
        }
    }

    /// The first join of a session: the plugin fills the participants,
    /// then goes back in time from the archive's oldest message.
    async fn prepare_room(&mut self, room: RoomId) {
        // A room this join created is described first (`update-muc-info`):
        // its kind decides the self-presence's codes.
        self.after_calls().await;
        let Some(data) = self.data() else { return };
        let Some(r) = data.rooms.get(room) else {
            return;
        };
        if r.filled {
            return;
        }
        let oldest = data.rooms.oldest(room).ok().flatten();
        let result = self
            .call("fill-participants", async |i| {
                i.fill_participants(room).await
            })
            .await;
        match result {
            // A crash: the next join tries again.
            Err(Crashed) => return,
            Ok(Err(reason)) => {
                tracing::warn!(gateway = %self.ctx.jid, user = %self.user, ?reason, "fill-participants failed");
            }
            Ok(Ok(())) => {}
        }
        if let Some(data) = self.data() {
            data.rooms.mark_filled(room);
        }
        let before = oldest.map(|(legacy_msg_id, when)| ArchiveBound {
            legacy_msg_id,
            when,
        });
        let result = self
            .call("backfill", async |i| i.backfill(room, before).await)
            .await;
        if let Ok(Err(reason)) = result {
            tracing::warn!(gateway = %self.ctx.jid, user = %self.user, ?reason, "backfill failed");
        }
    }

    /// A message to a room or one of its occupants.
    pub(super) async fn on_room_message(&mut self, m: Message, room: RoomId) {
        let reply_error = |condition, text: String| {
            message_error(
                m.from.clone(),
                m.to.clone(),
                m.id.as_ref().map(|id| id.0.clone()),
                stanza_error(condition, text),
            )
        };
        if m.type_ != MessageType::Groupchat {
            return self.private_message(m, room).await;
        }
        if let Err(text) = self.logged_in() {
            if message::body(&m).is_some() {
                self.send(reply_error(DefinedCondition::RecipientUnavailable, text));
            }
            return;
        }
        let from = m.from.as_ref().and_then(|f| f.try_as_full().ok()).cloned();
        let joined = match (from, self.data()) {
            (Some(from), Some(data)) => data.rooms.is_joined(room, &from),
            _ => false,
        };
        if !joined {
            self.send(reply_error(
                DefinedCondition::NotAcceptable,
                "join the room before writing to it".into(),
            ));
            return;
        }
        if !m.subjects.is_empty() && message::body(&m).is_none() {
            self.send(reply_error(
                DefinedCondition::Forbidden,
                "the subject is the legacy network's to set".into(),
            ));
            return;
        }
        let Some(action) = self.room_action(room, &m) else {
            return;
        };
        // Texts and their edits are archived with their reflection; read
        // markers and chat states are only shown.
        let reflects = !matches!(action, RoomAction::Displayed(_) | RoomAction::ChatState(_));
        let result = self.perform_in_room(room, action, &m).await;
        match result {
            Ok(Ok(legacy_id)) => {
                if let Some(data) = self.data() {
                    let rooms = &mut data.rooms;
                    let reflected = if reflects {
                        rooms.reflect(&mut data.roster, room, &m, legacy_id.as_deref())
                    } else {
                        rooms.reflect_signal(&mut data.roster, room, &m)
                    };
                    if let Err(e) = reflected {
                        tracing::error!(error = %e, "reflecting the user's message failed");
                    }
                }
            }
            Ok(Err(reason)) => self.send(reply_error(DefinedCondition::UndefinedCondition, reason)),
            Err(Crashed) => self.send(reply_error(
                DefinedCondition::InternalServerError,
                "the gateway's plugin crashed".into(),
            )),
        }
    }

    /// What a groupchat message asks, its ids translated through the
    /// archive (an id it does not know is passed as it is).
    fn room_action(&mut self, room: RoomId, m: &Message) -> Option<RoomAction> {
        let rooms = &self.data()?.rooms;
        let legacy = |id: String| match rooms.legacy_id_of(room, &id) {
            Ok(Some(legacy)) => legacy,
            Ok(None) => id,
            Err(e) => {
                tracing::error!(error = %e, "archive lookup failed");
                id
            }
        };
        if let Some((target, emojis)) = reactions::parse(m) {
            return Some(RoomAction::React(legacy(target), emojis));
        }
        if let Some(target) = retraction::retracted_id(m) {
            return Some(RoomAction::Retract(legacy(target)));
        }
        if let Some(body) = message::body(m) {
            if let Some(original) = correction::replaced_id(m) {
                return Some(RoomAction::Correct(legacy(original), body.to_owned()));
            }
            let reply_to = reply::replied_id(m).map(&legacy);
            let body = if reply_to.is_some() {
                reply::strip_fallback(m, body)
            } else {
                body.to_owned()
            };
            return Some(RoomAction::Text(body, reply_to));
        }
        match markers::signal(m)? {
            markers::Signal::ChatState(state) => Some(RoomAction::ChatState(state)),
            markers::Signal::Displayed(id) => Some(RoomAction::Displayed(legacy(id))),
        }
    }

    /// Calls the export for a room action; Ok carries the legacy id of a
    /// text the network took.
    async fn perform_in_room(
        &mut self,
        room: RoomId,
        action: RoomAction,
        m: &Message,
    ) -> Result<Result<Option<String>, String>, Crashed> {
        let during = "a message";
        let done = |r: Result<Result<(), String>, Crashed>| r.map(|r| r.map(|()| None));
        match action {
            RoomAction::Text(body, reply_to) => {
                let message = TextMessage {
                    body,
                    xmpp_id: m.id.as_ref().map(|id| id.0.clone()),
                    reply_to,
                };
                self.call(during, async |i| i.on_muc_text(room, message.clone()).await)
                    .await
            }
            RoomAction::Correct(legacy_id, body) => done(
                self.call(during, async |i| {
                    i.on_muc_correct(room, &legacy_id, &body).await
                })
                .await,
            ),
            RoomAction::Retract(legacy_id) => done(
                self.call(during, async |i| i.on_muc_retract(room, &legacy_id).await)
                    .await,
            ),
            RoomAction::React(legacy_id, emojis) => done(
                self.call(during, async |i| {
                    i.on_muc_react(room, &legacy_id, emojis.clone()).await
                })
                .await,
            ),
            RoomAction::Displayed(legacy_id) => self
                .call(during, async |i| i.on_muc_displayed(room, &legacy_id).await)
                .await
                .map(|()| Ok(None)),
            RoomAction::ChatState(state) => self
                .call(during, async |i| i.on_muc_chat_state(room, state).await)
                .await
                .map(|()| Ok(None)),
        }
    }

    /// A private message to an occupant: to its contact, if it has one
    /// (the conversation is the contact's); else refused.
    async fn private_message(&mut self, mut m: Message, room: RoomId) {
        let nick =
            m.to.as_ref()
                .and_then(|t| t.resource())
                .map(|r| r.to_string());
        let contact = self.data().and_then(|d| {
            let r = d.rooms.get(room)?;
            let p = r.by_nick(nick.as_deref()?)?;
            let contact = r.participants.get(p)?.contact?;
            d.roster.get(contact).map(|c| c.jid.clone())
        });
        match contact {
            Some(puppet) => {
                m.to = Some(puppet.into());
                Box::pin(self.on_message(m)).await;
            }
            None if message::body(&m).is_some() => {
                let error = message_error(
                    m.from.clone(),
                    m.to.clone(),
                    m.id.as_ref().map(|id| id.0.clone()),
                    stanza_error(
                        DefinedCondition::FeatureNotImplemented,
                        "this participant has no contact to write to privately",
                    ),
                );
                self.send(error);
            }
            None => {}
        }
    }

    /// One of the user's clients went offline: it left every room.
    pub(super) fn left_rooms(&mut self, resource: &Jid) {
        let full: Option<FullJid> = resource.try_as_full().ok().cloned();
        if let (Some(full), Some(data)) = (full, self.data()) {
            data.rooms.all_left(&mut data.roster, Some(&full));
        }
    }
}
