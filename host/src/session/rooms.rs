//! The user's stanzas to rooms: joins and leaves (presences to
//! `room/Nick`), groupchat messages, private messages to occupants, and
//! iqs to the room (disco#info, disco#items, self-ping).

use jid::{FullJid, Jid};
use minidom::Element;
use xmpp_parsers::{
    iq::Iq,
    message::{Message, MessageType},
    presence::{Presence, Type as PresenceType},
    stanza_error::DefinedCondition,
};

use super::calls::Crashed;
use super::{LoginState, Session};
use crate::groups::{DEFAULT_HISTORY, JoinRefused, RoomId};
use crate::plugin::{ArchiveBound, TextMessage};
use crate::stanza::{
    disco,
    error::{iq_error, message_error, presence_error, stanza_error},
    escape, markers, message, muc, ns,
};

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
        data.rooms
            .by_legacy_id(&data.roster, &legacy_id, Some(&username))
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn logged_in(&self) -> Result<(), String> {
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
        let history = muc::join_request(&p).flatten().unwrap_or(DEFAULT_HISTORY);
        self.prepare_room(room).await;
        let Some(data) = self.data() else { return };
        match data
            .rooms
            .join(&mut data.roster, room, from, &nick, history)
        {
            Ok(()) => {}
            Err(JoinRefused::Nick(text)) => refuse(self, DefinedCondition::NotAcceptable, text),
            Err(JoinRefused::Roster(e)) => {
                refuse(self, DefinedCondition::InternalServerError, e.to_string())
            }
        }
    }

    /// The first join of a session: the plugin fills the participants,
    /// then goes back in time from the archive's oldest message.
    async fn prepare_room(&mut self, room: RoomId) {
        let Some(data) = self.data() else { return };
        let Some(r) = data.rooms.get(room) else {
            return;
        };
        if r.filled {
            return;
        }
        let oldest = data.rooms.oldest(room).ok().flatten();
        data.rooms.mark_filled(room);
        let result = self
            .call("fill-participants", async |i| {
                i.fill_participants(room).await
            })
            .await;
        if let Ok(Err(reason)) = result {
            tracing::warn!(gateway = %self.ctx.jid, user = %self.user, ?reason, "fill-participants failed");
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
            // A private message to an occupant: its contact's, if any.
            let text = "private messages to participants without a contact are not supported";
            if message::body(&m).is_some() {
                self.send(reply_error(
                    DefinedCondition::FeatureNotImplemented,
                    text.into(),
                ));
            }
            return;
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
        let id = m.id.as_ref().map(|id| id.0.clone());
        if let Some(body) = message::body(&m) {
            let message = TextMessage {
                body: body.to_owned(),
                xmpp_id: id.clone(),
                reply_to: None,
            };
            let result = self
                .call("a message", async |i| {
                    i.on_muc_text(room, message.clone()).await
                })
                .await;
            match result {
                Ok(Ok(legacy_id)) => {
                    if let Some(data) = self.data()
                        && let Err(e) = data.rooms.reflect(
                            &mut data.roster,
                            room,
                            id.as_deref(),
                            body,
                            legacy_id.as_deref(),
                        )
                    {
                        tracing::error!(error = %e, "reflecting a groupchat message failed");
                    }
                }
                Ok(Err(reason)) => {
                    self.send(reply_error(DefinedCondition::UndefinedCondition, reason))
                }
                Err(Crashed) => self.send(reply_error(
                    DefinedCondition::InternalServerError,
                    "the gateway's plugin crashed".into(),
                )),
            }
            return;
        }
        if let Some(markers::Signal::ChatState(state)) = markers::signal(&m) {
            let _ = self
                .call("a chat state", async |i| {
                    i.on_muc_chat_state(room, state).await
                })
                .await;
        }
    }

    /// An iq to a room (disco) or an occupant (self-ping).
    pub(super) async fn on_room_iq(&mut self, iq: Iq, room: RoomId) {
        let (from, to, id, payload) = match iq {
            Iq::Get {
                from,
                to,
                id,
                payload,
            } => (from, to, id, payload),
            Iq::Set { from, to, id, .. } => {
                let error = stanza_error(DefinedCondition::FeatureNotImplemented, "");
                self.send(iq_error(from, to, &id, error));
                return;
            }
            Iq::Result { .. } | Iq::Error { .. } => return,
        };
        let occupant = to.as_ref().is_some_and(|t| t.resource().is_some());
        let answer: Result<Option<Element>, (DefinedCondition, String)> =
            match (payload.name(), payload.ns().as_str(), occupant) {
                ("ping", ns::PING, true) => {
                    let full = from.as_ref().and_then(|f| f.try_as_full().ok()).cloned();
                    let joined = match (full, self.data()) {
                        (Some(f), Some(d)) => d.rooms.is_joined(room, &f),
                        _ => false,
                    };
                    if joined {
                        Ok(None)
                    } else {
                        Err((DefinedCondition::NotAcceptable, "not in the room".into()))
                    }
                }
                ("ping", ns::PING, false) => Ok(None),
                ("query", ns::DISCO_INFO, false) => {
                    match self.data().and_then(|d| d.rooms.get(room)) {
                        Some(r) => Ok(Some(
                            disco::room_info(&disco::RoomInfo {
                                name: r.info.name.as_deref(),
                                private: r.non_anonymous(),
                                description: r.info.description.as_deref(),
                                occupants: r
                                    .info
                                    .participant_count
                                    .map(|n| n as usize)
                                    .unwrap_or_else(|| r.present().count()),
                            })
                            .into(),
                        )),
                        None => Err((DefinedCondition::ItemNotFound, String::new())),
                    }
                }
                ("query", ns::DISCO_ITEMS, false) => {
                    Ok(Some(Element::builder("query", ns::DISCO_ITEMS).build()))
                }
                _ => Err((DefinedCondition::FeatureNotImplemented, String::new())),
            };
        match answer {
            Ok(payload) => self.send(Iq::Result {
                from: to,
                to: from,
                id,
                payload,
            }),
            Err((condition, text)) => {
                self.send(iq_error(from, to, &id, stanza_error(condition, text)))
            }
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
