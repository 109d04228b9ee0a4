//! The host side of every WIT import: what a plugin's calls do.
//!
//! Each function is a thin translation between WIT types and the
//! [`Roster`](crate::roster::Roster) or the database; the XMPP meaning lives
//! there. A contact handle is only an index, checked on every use.

use wasmtime::component::Resource;

use super::bindings::gatehouse::gateway::{roster, session, types};
use super::streams::StreamError;
use super::{ContactRef, HostState, SessionData};
use crate::roster::{Roster, RosterError, SendText};
use crate::stanza::presence::{Availability, ContactPresence};
use crate::stanza::vcard::VCard;
use xmpp_parsers::chatstates::ChatState;

type WitResult<T> = wasmtime::Result<Result<T, types::Error>>;

impl From<RosterError> for types::Error {
    fn from(e: RosterError) -> Self {
        match e {
            RosterError::NotFound(m) => types::Error::NotFound(m),
            RosterError::Invalid(m) => types::Error::Invalid(m),
            RosterError::LimitExceeded(m) => types::Error::LimitExceeded(m),
            RosterError::Store(e) => types::Error::Other(e.to_string()),
        }
    }
}

fn no_session() -> types::Error {
    types::Error::Other("this call needs a user's session".to_owned())
}

fn stream_error(e: StreamError) -> types::Error {
    match e {
        StreamError::Denied(..) => {
            tracing::warn!(error = %e, "a plugin was denied a connection");
            types::Error::Denied(e.to_string())
        }
        StreamError::TooMany => types::Error::LimitExceeded(e.to_string()),
        StreamError::NotOpen(_) => types::Error::NotFound(e.to_string()),
        StreamError::Connect(..) | StreamError::Tls(..) => types::Error::Other(e.to_string()),
    }
}

fn send_text(options: types::SendOptions) -> SendText {
    SendText {
        legacy_msg_id: options.legacy_msg_id,
        when: options.when,
        reply_to: options.reply_to,
        carbon: options.carbon,
    }
}

impl HostState {
    async fn open(&mut self, host: &str, port: u16, tls: bool) -> WitResult<u32> {
        let data = match self.data() {
            Ok(data) => data,
            Err(e) => return Ok(Err(e)),
        };
        Ok(data
            .streams
            .open(host, port, tls)
            .await
            .map_err(stream_error))
    }

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

    /// Runs a roster operation on the contact behind `handle`; its error
    /// becomes the WIT error the plugin sees.
    fn on_contact<T>(
        &mut self,
        handle: &Resource<ContactRef>,
        operation: impl FnOnce(&mut Roster, usize) -> Result<T, RosterError>,
    ) -> WitResult<T> {
        let id = self.contact_id(handle)?;
        Ok(self
            .data()
            .and_then(|d| operation(&mut d.roster, id).map_err(Into::into)))
    }

    fn data(&mut self) -> Result<&mut SessionData, types::Error> {
        self.session.as_mut().ok_or_else(no_session)
    }

    fn contact_id(&self, handle: &Resource<ContactRef>) -> wasmtime::Result<usize> {
        Ok(self.table.get(handle)?.0)
    }

    fn new_handle(&mut self, id: usize) -> wasmtime::Result<Resource<ContactRef>> {
        Ok(self.table.push(ContactRef(id))?)
    }
}

impl types::Host for HostState {}

impl roster::Host for HostState {
    async fn by_legacy_id(
        &mut self,
        legacy_id: String,
        jid_username: Option<String>,
    ) -> WitResult<Resource<ContactRef>> {
        let found = match self.data() {
            Ok(data) => data
                .roster
                .by_legacy_id(&legacy_id, jid_username.as_deref())
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

impl roster::HostContact for HostState {
    async fn legacy_id(&mut self, handle: Resource<ContactRef>) -> wasmtime::Result<String> {
        let id = self.contact_id(&handle)?;
        Ok(self
            .data()
            .ok()
            .and_then(|d| d.roster.get(id))
            .map(|c| c.legacy_id.clone())
            .unwrap_or_default())
    }

    async fn jid(&mut self, handle: Resource<ContactRef>) -> wasmtime::Result<String> {
        let id = self.contact_id(&handle)?;
        Ok(self
            .data()
            .ok()
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
            availability: match show {
                types::Show::Online => Availability::Online,
                types::Show::Chat => Availability::Chat,
                types::Show::Away => Availability::Away,
                types::Show::Xa => Availability::Xa,
                types::Show::Dnd => Availability::Dnd,
                types::Show::Offline => Availability::Offline,
            },
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
        self.table.delete(handle)?;
        Ok(())
    }
}

impl session::Host for HostState {
    async fn user_jid(&mut self) -> wasmtime::Result<String> {
        Ok(self
            .data()
            .map(|d| d.roster.user().to_string())
            .unwrap_or_default())
    }

    async fn registration(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .data()
            .map(|d| d.registration.clone())
            .unwrap_or_default())
    }

    async fn send_gateway_message(&mut self, text: String) -> wasmtime::Result<()> {
        if let Ok(data) = self.data() {
            let gateway = data.roster.gateway().clone();
            gateway.send_message(data.roster.user(), &text);
        }
        Ok(())
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        let Ok(data) = self.data() else {
            return Ok(None);
        };
        let user_id = data.roster.user_id();
        match data.roster.gateway().store.kv_get(user_id, &key) {
            Ok(value) => Ok(value),
            Err(e) => {
                tracing::error!(error = %e, "kv-get failed");
                Ok(None)
            }
        }
    }

    async fn kv_set(&mut self, key: String, value: Vec<u8>) -> WitResult<()> {
        let data = match self.data() {
            Ok(data) => data,
            Err(e) => return Ok(Err(e)),
        };
        let user_id = data.roster.user_id();
        let gateway = data.roster.gateway();
        let cap = u64::from(gateway.config.storage_kb) * 1024;
        match gateway.store.kv_set(user_id, &key, &value, cap) {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                tracing::warn!(gateway = %gateway.jid, user = %data.roster.user(), key, "kv-set refused: store full");
                Ok(Err(types::Error::LimitExceeded(format!(
                    "the key-value store is limited to {} KiB",
                    gateway.config.storage_kb
                ))))
            }
            // Losing a write silently would break the plugin's own
            // bookkeeping: stop the call instead.
            Err(e) => wasmtime::bail!("kv-set failed: {e}"),
        }
    }

    async fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
        if let Ok(data) = self.data() {
            let user_id = data.roster.user_id();
            if let Err(e) = data.roster.gateway().store.kv_delete(user_id, &key) {
                wasmtime::bail!("kv-delete failed: {e}");
            }
        }
        Ok(())
    }

    async fn open_stream(&mut self, host: String, port: u16) -> WitResult<u32> {
        self.open(&host, port, false).await
    }

    async fn open_tls_stream(&mut self, host: String, port: u16) -> WitResult<u32> {
        self.open(&host, port, true).await
    }

    async fn stream_write(&mut self, stream: u32, data: Vec<u8>) -> WitResult<()> {
        Ok(self.data().and_then(|d| {
            // What the plugin stored before telling the legacy network is
            // kept, whatever happens next.
            d.roster.gateway().store.commit().map_err(|e| {
                tracing::error!(error = %e, "cannot commit before a stream write");
                types::Error::Other("the gateway's database is failing".into())
            })?;
            d.streams.write(stream, data).map_err(stream_error)
        }))
    }

    async fn close_stream(&mut self, stream: u32) -> wasmtime::Result<()> {
        if let Ok(data) = self.data() {
            data.streams.close(stream);
        }
        Ok(())
    }

    async fn set_timer(&mut self, delay_ms: u32, token: String) -> wasmtime::Result<()> {
        if let Ok(data) = self.data() {
            data.timers.push((delay_ms, token));
        }
        Ok(())
    }

    async fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let user = self
            .session
            .as_ref()
            .map(|d| d.roster.user().to_string())
            .unwrap_or_default();
        let gateway = self
            .session
            .as_ref()
            .map(|d| d.roster.gateway().jid.to_string())
            .unwrap_or_default();
        match level {
            types::LogLevel::Trace => tracing::trace!(%gateway, %user, "plugin: {message}"),
            types::LogLevel::Debug => tracing::debug!(%gateway, %user, "plugin: {message}"),
            types::LogLevel::Info => tracing::info!(%gateway, %user, "plugin: {message}"),
            types::LogLevel::Warn => tracing::warn!(%gateway, %user, "plugin: {message}"),
            types::LogLevel::Error => tracing::error!(%gateway, %user, "plugin: {message}"),
        }
        Ok(())
    }
}
