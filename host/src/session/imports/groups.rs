//! The `groups` interface: rooms and participants looked up and acted on.
//! A room handle is a room's index, a participant handle a (room,
//! participant) pair, both checked on every use.

use wasmtime::component::Resource;
use xmpp_parsers::chatstates::ChatState;

use super::{State, WitResult, no_session};
use crate::groups::{Detail, GroupText, ParticipantId, RoomId, Rooms, Standing};
use crate::plugin::bindings::gatehouse::gateway::{groups, types};
use crate::plugin::{ContactRef, MucRef, ParticipantRef};
use crate::roster::{Roster, RosterError};
use crate::stanza::muc::{Affiliation, Change, Role};

fn group_text(options: groups::GroupSendOptions) -> GroupText {
    GroupText {
        legacy_msg_id: options.legacy_msg_id,
        when: options.when,
        reply_to: options.reply_to,
        archive_only: options.archive_only,
    }
}

fn not_yet(what: &str) -> types::Error {
    types::Error::Unsupported(format!(
        "{what} in groups is not supported by this host yet"
    ))
}

impl State {
    /// Runs a groups operation on the room behind `handle`.
    fn on_room<T>(
        &mut self,
        handle: &Resource<MucRef>,
        operation: impl FnOnce(&mut Rooms, &mut Roster, RoomId) -> Result<T, RosterError>,
    ) -> WitResult<T> {
        let MucRef(room) = self.handle(handle)?;
        Ok(self
            .session()
            .ok_or_else(no_session)
            .and_then(|d| operation(&mut d.rooms, &mut d.roster, room).map_err(Into::into)))
    }

    /// Runs a groups operation on the participant behind `handle`.
    fn on_participant<T>(
        &mut self,
        handle: &Resource<ParticipantRef>,
        operation: impl FnOnce(&mut Rooms, &mut Roster, RoomId, ParticipantId) -> Result<T, RosterError>,
    ) -> WitResult<T> {
        let ParticipantRef { room, participant } = self.handle(handle)?;
        Ok(self.session().ok_or_else(no_session).and_then(|d| {
            operation(&mut d.rooms, &mut d.roster, room, participant).map_err(Into::into)
        }))
    }

    /// A participant handle from an operation that finds or makes one.
    fn participant_handle(
        &mut self,
        room: RoomId,
        found: Result<ParticipantId, types::Error>,
    ) -> WitResult<Resource<ParticipantRef>> {
        match found {
            Ok(participant) => Ok(Ok(self.push_handle(ParticipantRef { room, participant })?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Logs what a call without a result could not do.
    fn warn_failed<T>(&self, what: &str, result: WitResult<T>) -> wasmtime::Result<()> {
        if let Err(e) = result? {
            tracing::warn!(error = ?e, "{what} failed");
        }
        Ok(())
    }
}

impl groups::Host for State {
    async fn by_legacy_id(&mut self, legacy_id: String) -> WitResult<Resource<MucRef>> {
        let Some(data) = self.session() else {
            return Ok(Err(no_session()));
        };
        let username = match data.rooms.known(&legacy_id) {
            Some(_) => None,
            None => {
                if let Err(e) = data
                    .roster
                    .id_within_limit("a group's legacy id", &legacy_id)
                {
                    return Ok(Err(e.into()));
                }
                let service = data.service.clone();
                match service.muc_legacy_id_to_jid_username(&legacy_id).await {
                    Ok(username) => username,
                    Err(e) => {
                        tracing::error!(error = %e, legacy_id, "muc-legacy-id-to-jid-username crashed");
                        return Ok(Err(types::Error::Other(
                            "the plugin's muc-legacy-id-to-jid-username crashed".into(),
                        )));
                    }
                }
            }
        };
        let found = match self.session() {
            Some(d) => d
                .rooms
                .by_legacy_id(&d.roster, &legacy_id, username.as_deref())
                .map_err(types::Error::from),
            None => Err(no_session()),
        };
        match found {
            Ok(room) => Ok(Ok(self.push_handle(MucRef(room))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn by_jid(&mut self, jid: String) -> WitResult<Resource<MucRef>> {
        let found = match (self.session(), jid::Jid::new(&jid)) {
            (None, _) => Err(no_session()),
            (Some(_), Err(e)) => Err(types::Error::Invalid(format!("{jid:?}: {e}"))),
            (Some(d), Ok(parsed)) => d
                .rooms
                .by_jid(&parsed)
                .ok_or_else(|| types::Error::NotFound(format!("{jid} is no known group"))),
        };
        match found {
            Ok(room) => Ok(Ok(self.push_handle(MucRef(room))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn mucs(&mut self) -> wasmtime::Result<Vec<Resource<MucRef>>> {
        let ids = self.session().map(|d| d.rooms.ids()).unwrap_or(0..0);
        ids.map(|room| Ok(self.push_handle(MucRef(room))?))
            .collect()
    }
}

impl groups::HostMuc for State {
    async fn legacy_id(&mut self, handle: Resource<MucRef>) -> wasmtime::Result<String> {
        let MucRef(room) = self.handle(&handle)?;
        Ok(self
            .session()
            .and_then(|d| d.rooms.get(room))
            .map(|r| r.legacy_id.clone())
            .unwrap_or_default())
    }

    async fn jid(&mut self, handle: Resource<MucRef>) -> wasmtime::Result<String> {
        let MucRef(room) = self.handle(&handle)?;
        Ok(self
            .session()
            .and_then(|d| d.rooms.get(room))
            .map(|r| r.jid.to_string())
            .unwrap_or_default())
    }

    async fn set_name(
        &mut self,
        handle: Resource<MucRef>,
        name: Option<String>,
    ) -> wasmtime::Result<()> {
        let result = self.on_room(&handle, |rooms, roster, room| {
            rooms.set_detail(roster, room, Detail::Name(name))
        });
        self.warn_failed("set-name", result)
    }

    async fn set_description(
        &mut self,
        handle: Resource<MucRef>,
        description: Option<String>,
    ) -> wasmtime::Result<()> {
        let result = self.on_room(&handle, |rooms, roster, room| {
            rooms.set_detail(roster, room, Detail::Description(description))
        });
        self.warn_failed("set-description", result)
    }

    async fn set_subject(
        &mut self,
        handle: Resource<MucRef>,
        subject: Option<String>,
        setter: Option<String>,
        when: Option<u64>,
    ) -> WitResult<()> {
        self.on_room(&handle, |rooms, roster, room| {
            rooms.set_subject(roster, room, subject, setter, when)
        })
    }

    async fn set_type(
        &mut self,
        handle: Resource<MucRef>,
        kind: groups::MucType,
    ) -> wasmtime::Result<()> {
        let channel = matches!(kind, groups::MucType::Channel);
        let result = self.on_room(&handle, |rooms, roster, room| {
            rooms.set_detail(roster, room, Detail::Channel(channel))
        });
        self.warn_failed("set-type", result)
    }

    async fn set_avatar(
        &mut self,
        _handle: Resource<MucRef>,
        _avatar: Option<Vec<u8>>,
        _unique_id: Option<String>,
    ) -> WitResult<()> {
        Ok(Err(not_yet("an avatar")))
    }

    async fn set_participant_count(
        &mut self,
        handle: Resource<MucRef>,
        count: Option<u32>,
    ) -> wasmtime::Result<()> {
        let result = self.on_room(&handle, |rooms, roster, room| {
            rooms.set_detail(roster, room, Detail::Count(count))
        });
        self.warn_failed("set-participant-count", result)
    }

    async fn set_user_nick(&mut self, handle: Resource<MucRef>, nick: String) -> WitResult<()> {
        self.on_room(&handle, |rooms, roster, room| {
            rooms.set_user_nick(roster, room, &nick)
        })
    }

    async fn add_to_bookmarks(
        &mut self,
        handle: Resource<MucRef>,
        autojoin: bool,
    ) -> WitResult<()> {
        self.on_room(&handle, |rooms, roster, room| {
            rooms.add_to_bookmarks(roster, room, autojoin)
        })
    }

    async fn remove_from_bookmarks(&mut self, handle: Resource<MucRef>) -> WitResult<()> {
        self.on_room(&handle, |rooms, roster, room| {
            rooms.remove_from_bookmarks(roster, room)
        })
    }

    async fn participant_by_nick(
        &mut self,
        handle: Resource<MucRef>,
        nick: String,
    ) -> WitResult<Resource<ParticipantRef>> {
        let MucRef(room) = self.handle(&handle)?;
        let found = self.on_room(&handle, |rooms, roster, room| {
            rooms.participant_by_nick(roster, room, &nick)
        })?;
        self.participant_handle(room, found)
    }

    async fn participant_by_contact(
        &mut self,
        handle: Resource<MucRef>,
        contact: Resource<ContactRef>,
    ) -> WitResult<Resource<ParticipantRef>> {
        let MucRef(room) = self.handle(&handle)?;
        let contact = self.contact(&contact)?;
        let found = self.on_room(&handle, |rooms, roster, room| {
            rooms.participant_by_contact(roster, room, contact)
        })?;
        self.participant_handle(room, found)
    }

    async fn participant_by_legacy_id(
        &mut self,
        handle: Resource<MucRef>,
        legacy_id: String,
    ) -> WitResult<Resource<ParticipantRef>> {
        let MucRef(room) = self.handle(&handle)?;
        // The contact first, as `roster.by-legacy-id` would make it.
        let contact = match <State as crate::plugin::bindings::gatehouse::gateway::roster::Host>::by_legacy_id(self, legacy_id).await? {
            Ok(contact) => contact,
            Err(e) => return Ok(Err(e)),
        };
        let id = self.contact(&contact)?;
        self.drop_contact(contact)?;
        let found = self.on_room(&handle, |rooms, roster, room| {
            rooms.participant_by_contact(roster, room, id)
        })?;
        self.participant_handle(room, found)
    }

    async fn user_participant(
        &mut self,
        handle: Resource<MucRef>,
    ) -> wasmtime::Result<Resource<ParticipantRef>> {
        let MucRef(room) = self.handle(&handle)?;
        let found = self.on_room(&handle, |rooms, roster, room| {
            rooms.user_participant(roster, room)
        })?;
        match self.participant_handle(room, found)? {
            Ok(handle) => Ok(handle),
            // The user's participant is always there to make: a failure
            // here is the database's, and ends the call.
            Err(e) => Err(wasmtime::Error::msg(format!("user-participant: {e:?}"))),
        }
    }

    async fn participants(
        &mut self,
        handle: Resource<MucRef>,
    ) -> wasmtime::Result<Vec<Resource<ParticipantRef>>> {
        let MucRef(room) = self.handle(&handle)?;
        let present: Vec<ParticipantId> = self
            .session()
            .and_then(|d| d.rooms.get(room))
            .map(|r| r.present().map(|(i, _)| i).collect())
            .unwrap_or_default();
        present
            .into_iter()
            .map(|participant| Ok(self.push_handle(ParticipantRef { room, participant })?))
            .collect()
    }

    async fn remove_participant(
        &mut self,
        _handle: Resource<MucRef>,
        participant: Resource<ParticipantRef>,
    ) -> wasmtime::Result<()> {
        let result = self.on_participant(&participant, |rooms, roster, room, p| {
            rooms.remove(roster, room, p, Change::Left)
        });
        self.warn_failed("remove-participant", result)
    }

    async fn drop(&mut self, handle: Resource<MucRef>) -> wasmtime::Result<()> {
        self.drop_handle(handle)?;
        Ok(())
    }
}

impl groups::HostParticipant for State {
    async fn nick(&mut self, handle: Resource<ParticipantRef>) -> wasmtime::Result<String> {
        let nick = self.on_participant(&handle, |rooms, _, room, p| {
            Ok(rooms.participant(room, p)?.nick.clone())
        })?;
        Ok(nick.unwrap_or_default())
    }

    async fn is_user(&mut self, handle: Resource<ParticipantRef>) -> wasmtime::Result<bool> {
        let is_user = self.on_participant(&handle, |rooms, _, room, p| {
            Ok(rooms.participant(room, p)?.is_user)
        })?;
        Ok(is_user.unwrap_or(false))
    }

    async fn contact(
        &mut self,
        handle: Resource<ParticipantRef>,
    ) -> wasmtime::Result<Option<Resource<ContactRef>>> {
        let contact = self.on_participant(&handle, |rooms, _, room, p| {
            Ok(rooms.participant(room, p)?.contact)
        })?;
        match contact {
            Ok(Some(id)) => Ok(Some(self.push_contact(id)?)),
            _ => Ok(None),
        }
    }

    async fn send_text(
        &mut self,
        handle: Resource<ParticipantRef>,
        body: String,
        options: groups::GroupSendOptions,
    ) -> WitResult<String> {
        self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.send_text(roster, room, p, &body, group_text(options))
        })
    }

    async fn correct(
        &mut self,
        handle: Resource<ParticipantRef>,
        legacy_msg_id: String,
        body: String,
        options: groups::GroupSendOptions,
    ) -> WitResult<String> {
        self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.correct(roster, room, p, &legacy_msg_id, &body, group_text(options))
        })
    }

    async fn retract(
        &mut self,
        handle: Resource<ParticipantRef>,
        legacy_msg_id: String,
    ) -> WitResult<()> {
        self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.retract(roster, room, p, &legacy_msg_id)
        })
    }

    async fn react(
        &mut self,
        handle: Resource<ParticipantRef>,
        legacy_msg_id: String,
        emojis: Vec<String>,
    ) -> WitResult<()> {
        self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.react(roster, room, p, &legacy_msg_id, &emojis)
        })
    }

    async fn displayed(
        &mut self,
        handle: Resource<ParticipantRef>,
        legacy_msg_id: String,
    ) -> WitResult<()> {
        self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.displayed(roster, room, p, &legacy_msg_id)
        })
    }

    async fn composing(&mut self, handle: Resource<ParticipantRef>) -> wasmtime::Result<()> {
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.chat_state(roster, room, p, ChatState::Composing)
        });
        self.warn_failed("a chat state", result)
    }

    async fn paused(&mut self, handle: Resource<ParticipantRef>) -> wasmtime::Result<()> {
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.chat_state(roster, room, p, ChatState::Paused)
        });
        self.warn_failed("a chat state", result)
    }

    async fn active(&mut self, handle: Resource<ParticipantRef>) -> wasmtime::Result<()> {
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.chat_state(roster, room, p, ChatState::Active)
        });
        self.warn_failed("a chat state", result)
    }

    async fn inactive(&mut self, handle: Resource<ParticipantRef>) -> wasmtime::Result<()> {
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.chat_state(roster, room, p, ChatState::Inactive)
        });
        self.warn_failed("a chat state", result)
    }

    async fn set_presence(
        &mut self,
        handle: Resource<ParticipantRef>,
        show: types::Show,
        _status: Option<String>,
    ) -> wasmtime::Result<()> {
        if matches!(show, types::Show::Offline) {
            let result = self.on_participant(&handle, |rooms, roster, room, p| {
                rooms.remove(roster, room, p, Change::Left)
            });
            return self.warn_failed("set-presence", result);
        }
        Ok(())
    }

    async fn set_nick(&mut self, handle: Resource<ParticipantRef>, nick: String) -> WitResult<()> {
        self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.set_nick(roster, room, p, &nick)
        })
    }

    async fn leave(&mut self, handle: Resource<ParticipantRef>) -> wasmtime::Result<()> {
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.remove(roster, room, p, Change::Left)
        });
        self.warn_failed("leave", result)
    }

    async fn kick(
        &mut self,
        handle: Resource<ParticipantRef>,
        reason: Option<String>,
    ) -> wasmtime::Result<()> {
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.remove(roster, room, p, Change::Kicked(reason))
        });
        self.warn_failed("kick", result)
    }

    async fn ban(
        &mut self,
        handle: Resource<ParticipantRef>,
        reason: Option<String>,
    ) -> wasmtime::Result<()> {
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.remove(roster, room, p, Change::Banned(reason))
        });
        self.warn_failed("ban", result)
    }

    async fn set_affiliation(
        &mut self,
        handle: Resource<ParticipantRef>,
        affiliation: groups::Affiliation,
    ) -> wasmtime::Result<()> {
        let affiliation = match affiliation {
            groups::Affiliation::Owner => Affiliation::Owner,
            groups::Affiliation::Admin => Affiliation::Admin,
            groups::Affiliation::Member => Affiliation::Member,
            groups::Affiliation::Outcast => Affiliation::Outcast,
            groups::Affiliation::None => Affiliation::None,
        };
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.set_standing(roster, room, p, Standing::Affiliation(affiliation))
        });
        self.warn_failed("set-affiliation", result)
    }

    async fn set_role(
        &mut self,
        handle: Resource<ParticipantRef>,
        role: groups::Role,
    ) -> wasmtime::Result<()> {
        let role = match role {
            groups::Role::Moderator => Role::Moderator,
            groups::Role::Participant => Role::Participant,
            groups::Role::Visitor => Role::Visitor,
            groups::Role::None => Role::None,
        };
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.set_standing(roster, room, p, Standing::Role(role))
        });
        self.warn_failed("set-role", result)
    }

    async fn drop(&mut self, handle: Resource<ParticipantRef>) -> wasmtime::Result<()> {
        self.drop_handle(handle)?;
        Ok(())
    }
}
