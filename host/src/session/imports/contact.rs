//! The `roster` interface: contacts looked up and acted on.

use wasmtime::component::Resource;
use xmpp_parsers::chatstates::ChatState;

use super::{State, WitResult, send_text};
use crate::plugin::ContactRef;
use crate::plugin::bindings::gatehouse::gateway::{roster, types};
use crate::roster::RosterError;
use crate::stanza::presence::ContactPresence;
use crate::stanza::vcard::VCard;

impl State {
    fn chat_state(
        &mut self,
        handle: Resource<ContactRef>,
        state: ChatState,
    ) -> wasmtime::Result<()> {
        if let Err(e) = self.on_contact(&handle, |roster, id| roster.chat_state(id, state))? {
            tracing::warn!(error = %e, "chat state failed");
        }
        Ok(())
    }
}

impl roster::Host for State {
    async fn by_legacy_id(&mut self, legacy_id: String) -> WitResult<Resource<ContactRef>> {
        let data = match self.data() {
            Ok(data) => data,
            Err(e) => return Ok(Err(e)),
        };
        // A new contact's JID local part is the plugin's to choose, asked
        // of the gateway's own instance (this one is busy in this call).
        let username = match data.roster.known(&legacy_id) {
            Some(_) => None,
            None => {
                // Refused before the mapping instance ever sees it.
                if let Err(e) = data
                    .roster
                    .id_within_limit("a contact's legacy id", &legacy_id)
                {
                    return Ok(Err(e.into()));
                }
                let service = data.service.clone();
                match service.legacy_id_to_jid_username(&legacy_id).await {
                    Ok(username) => username,
                    Err(e) => {
                        tracing::error!(error = %e, legacy_id, "legacy-id-to-jid-username crashed");
                        return Ok(Err(types::Error::Other(
                            "the plugin's legacy-id-to-jid-username crashed".into(),
                        )));
                    }
                }
            }
        };
        let found = match self.data() {
            Ok(data) => data
                .roster
                .by_legacy_id(&legacy_id, username.as_deref())
                .map_err(types::Error::from),
            Err(e) => Err(e),
        };
        match found {
            Ok(id) => Ok(Ok(self.new_handle(id)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn by_jid(&mut self, jid: String) -> WitResult<Resource<ContactRef>> {
        let found = match self.data() {
            Ok(data) => data.roster.by_jid(&jid).map_err(types::Error::from),
            Err(e) => Err(e),
        };
        match found {
            Ok(id) => Ok(Ok(self.new_handle(id)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn contacts(&mut self) -> wasmtime::Result<Vec<Resource<ContactRef>>> {
        let ids = match self.data() {
            Ok(data) => data.roster.ids(),
            Err(_) => 0..0,
        };
        ids.map(|id| self.new_handle(id)).collect()
    }
}

impl roster::HostContact for State {
    async fn legacy_id(&mut self, handle: Resource<ContactRef>) -> wasmtime::Result<String> {
        let (id, data) = self.contact_and_session(&handle)?;
        Ok(data
            .and_then(|d| d.roster.get(id))
            .map(|c| c.legacy_id.clone())
            .unwrap_or_default())
    }

    async fn jid(&mut self, handle: Resource<ContactRef>) -> wasmtime::Result<String> {
        let (id, data) = self.contact_and_session(&handle)?;
        Ok(data
            .and_then(|d| d.roster.get(id))
            .map(|c| c.jid.to_string())
            .unwrap_or_default())
    }

    async fn set_name(
        &mut self,
        handle: Resource<ContactRef>,
        name: Option<String>,
    ) -> wasmtime::Result<()> {
        if let Err(e) = self.on_contact(&handle, |roster, id| roster.set_name(id, name))? {
            tracing::warn!(error = %e, "set-name failed");
        }
        Ok(())
    }

    async fn add_to_roster(&mut self, handle: Resource<ContactRef>) -> WitResult<()> {
        self.on_contact(&handle, |roster, id| roster.add_to_roster(id))
    }

    async fn remove_from_roster(&mut self, handle: Resource<ContactRef>) -> WitResult<()> {
        self.on_contact(&handle, |roster, id| roster.remove_from_roster(id))
    }

    async fn set_presence(
        &mut self,
        handle: Resource<ContactRef>,
        show: types::Show,
        status: Option<String>,
        last_seen: Option<u64>,
    ) -> wasmtime::Result<()> {
        let presence = ContactPresence {
            availability: super::availability(show),
            status,
            last_seen,
        };
        if let Err(e) = self.on_contact(&handle, |roster, id| roster.set_presence(id, presence))? {
            tracing::warn!(error = %e, "set-presence failed");
        }
        Ok(())
    }

    async fn send_text(
        &mut self,
        handle: Resource<ContactRef>,
        body: String,
        options: types::SendOptions,
    ) -> WitResult<String> {
        self.on_contact(&handle, |roster, id| {
            roster.send_text(id, &body, send_text(options))
        })
    }

    async fn send_file(
        &mut self,
        handle: Resource<ContactRef>,
        source: types::FileSource,
        file: types::FileInfo,
        options: types::SendOptions,
    ) -> WitResult<String> {
        let (id, data) = self.contact_and_session(&handle)?;
        let Some(data) = data else {
            return Ok(Err(super::no_session()));
        };
        if let Err(e) = data
            .roster
            .get(id)
            .ok_or(RosterError::NotFound("no such contact".into()))
        {
            return Ok(Err(e.into()));
        }
        Ok(
            super::files::shelve(data, source, &file).and_then(|shared| {
                data.roster
                    .send_file(id, &shared, file.caption.as_deref(), send_text(options))
                    .map_err(Into::into)
            }),
        )
    }

    async fn set_avatar(
        &mut self,
        handle: Resource<ContactRef>,
        avatar: Option<Vec<u8>>,
        unique_id: Option<String>,
    ) -> WitResult<()> {
        self.on_contact(&handle, |roster, id| {
            roster.set_avatar(id, avatar, unique_id)
        })
    }

    async fn set_vcard(
        &mut self,
        handle: Resource<ContactRef>,
        vcard: types::Vcard,
    ) -> wasmtime::Result<()> {
        let vcard = VCard {
            full_name: vcard.full_name,
            given: vcard.given,
            surname: vcard.surname,
            birthday: vcard.birthday,
            phones: vcard.phones,
            note: vcard.note,
            url: vcard.url,
            email: vcard.email,
            country: vcard.country,
            locality: vcard.locality,
        };
        if let Err(e) = self.on_contact(&handle, |roster, id| roster.set_vcard(id, vcard))? {
            tracing::warn!(error = %e, "set-vcard failed");
        }
        Ok(())
    }

    async fn composing(&mut self, handle: Resource<ContactRef>) -> wasmtime::Result<()> {
        self.chat_state(handle, ChatState::Composing)
    }

    async fn paused(&mut self, handle: Resource<ContactRef>) -> wasmtime::Result<()> {
        self.chat_state(handle, ChatState::Paused)
    }

    async fn active(&mut self, handle: Resource<ContactRef>) -> wasmtime::Result<()> {
        self.chat_state(handle, ChatState::Active)
    }

    async fn inactive(&mut self, handle: Resource<ContactRef>) -> wasmtime::Result<()> {
        self.chat_state(handle, ChatState::Inactive)
    }

    async fn received(
        &mut self,
        handle: Resource<ContactRef>,
        legacy_msg_id: String,
    ) -> WitResult<()> {
        self.on_contact(&handle, |roster, id| roster.received(id, &legacy_msg_id))
    }

    async fn displayed(
        &mut self,
        handle: Resource<ContactRef>,
        legacy_msg_id: String,
        carbon: bool,
    ) -> WitResult<()> {
        self.on_contact(&handle, |roster, id| {
            roster.displayed(id, &legacy_msg_id, carbon)
        })
    }

    async fn correct(
        &mut self,
        handle: Resource<ContactRef>,
        legacy_msg_id: String,
        body: String,
        options: types::SendOptions,
    ) -> WitResult<String> {
        self.on_contact(&handle, |roster, id| {
            roster.correct(id, &legacy_msg_id, &body, send_text(options))
        })
    }

    async fn retract(
        &mut self,
        handle: Resource<ContactRef>,
        legacy_msg_id: String,
        carbon: bool,
    ) -> WitResult<()> {
        self.on_contact(&handle, |roster, id| {
            roster.retract(id, &legacy_msg_id, carbon)
        })
    }

    async fn react(
        &mut self,
        handle: Resource<ContactRef>,
        legacy_msg_id: String,
        emojis: Vec<String>,
        carbon: bool,
    ) -> WitResult<()> {
        self.on_contact(&handle, |roster, id| {
            roster.react(id, &legacy_msg_id, &emojis, carbon)
        })
    }

    async fn drop(&mut self, handle: Resource<ContactRef>) -> wasmtime::Result<()> {
        self.drop_contact(handle)?;
        Ok(())
    }
}
