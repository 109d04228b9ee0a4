//! The `groups` interface's `participant`: a member of a room, acted on.

use wasmtime::component::Resource;
use xmpp_parsers::chatstates::ChatState;

use super::{State, WitResult};
use crate::groups::Standing;
use crate::plugin::bindings::gatehouse::gateway::{groups, types};
use crate::plugin::{ContactRef, ParticipantRef};
use crate::stanza::muc::{Affiliation, Change, Role};

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

    async fn role(&mut self, handle: Resource<ParticipantRef>) -> wasmtime::Result<groups::Role> {
        let role = self.on_participant(&handle, |rooms, _, room, p| {
            Ok(rooms.participant(room, p)?.role)
        })?;
        Ok(match role {
            Ok(Role::Moderator) => groups::Role::Moderator,
            Ok(Role::Participant) => groups::Role::Participant,
            Ok(Role::Visitor) => groups::Role::Visitor,
            Ok(Role::None) | Err(_) => groups::Role::None,
        })
    }

    async fn affiliation(
        &mut self,
        handle: Resource<ParticipantRef>,
    ) -> wasmtime::Result<groups::Affiliation> {
        let affiliation = self.on_participant(&handle, |rooms, _, room, p| {
            Ok(rooms.participant(room, p)?.affiliation)
        })?;
        Ok(match affiliation {
            Ok(Affiliation::Owner) => groups::Affiliation::Owner,
            Ok(Affiliation::Admin) => groups::Affiliation::Admin,
            Ok(Affiliation::Member) => groups::Affiliation::Member,
            Ok(Affiliation::Outcast) => groups::Affiliation::Outcast,
            Ok(Affiliation::None) | Err(_) => groups::Affiliation::None,
        })
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
            rooms.send_text(roster, room, p, &body, super::groups::group_text(options))
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
            rooms.correct(
                roster,
                room,
                p,
                &legacy_msg_id,
                &body,
                super::groups::group_text(options),
            )
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
        status: Option<String>,
    ) -> wasmtime::Result<()> {
        let availability = super::availability(show);
        let result = self.on_participant(&handle, |rooms, roster, room, p| {
            rooms.set_presence(roster, room, p, availability, status)
        });
        self.warn_failed("set-presence", result)
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
