//! The `groups` interface: rooms looked up and acted on (participants in
//! `participant`). A room handle is a room's index, a participant handle a
//! (room, participant) pair, both checked on every use.

use wasmtime::component::Resource;

use super::{State, WitResult, no_session};
use crate::groups::{Detail, GroupText, ParticipantId, RoomId, Rooms};
use crate::plugin::bindings::gatehouse::gateway::{groups, types};
use crate::plugin::{ContactRef, MucRef, ParticipantRef};
use crate::roster::{Roster, RosterError};
use crate::stanza::muc::Change;

pub(super) fn group_text(options: groups::GroupSendOptions) -> GroupText {
    GroupText {
        legacy_msg_id: options.legacy_msg_id,
        when: options.when,
        reply_to: options.reply_to,
        archive_only: options.archive_only,
    }
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
    pub(super) fn on_participant<T>(
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
    pub(super) fn warn_failed<T>(&self, what: &str, result: WitResult<T>) -> wasmtime::Result<()> {
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
                .by_legacy_id(&mut d.roster, &legacy_id, username.as_deref())
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
        handle: Resource<MucRef>,
        avatar: Option<Vec<u8>>,
        unique_id: Option<String>,
    ) -> WitResult<()> {
        self.on_room(&handle, |rooms, roster, room| {
            rooms.set_avatar(roster, room, avatar, unique_id)
        })
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
            // The user's participant is exempt from the caps and the
            // backlog: a failure here is the database's (fail-stop) or a
            // room handle of another store, and ends the call.
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
        handle: Resource<MucRef>,
        participant: Resource<ParticipantRef>,
    ) -> wasmtime::Result<()> {
        let MucRef(this_room) = self.handle(&handle)?;
        let result = self.on_participant(&participant, |rooms, roster, room, p| {
            if room != this_room {
                return Err(RosterError::Invalid(
                    "the participant is another room's".into(),
                ));
            }
            rooms.remove(roster, room, p, Change::Left)
        });
        self.warn_failed("remove-participant", result)
    }

    async fn drop(&mut self, handle: Resource<MucRef>) -> wasmtime::Result<()> {
        self.drop_handle(handle)?;
        Ok(())
    }
}
