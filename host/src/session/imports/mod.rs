//! The host side of every import the plugin calls, for a session's store:
//! `contact` (the roster and its contacts), `groups` and `participant`
//! (the rooms and their members) and `services` (the session's
//! key-value store, timers, streams, HTTP and log). Each function is a thin
//! translation between WIT types and the [`Roster`] or the session's
//! services; the XMPP meaning lives there. A contact handle is only an
//! index, checked on every use.

use wasmtime::component::Resource;

use super::streams::StreamError;
use super::{SessionData, State};
use crate::plugin::bindings::gatehouse::gateway::types;
use crate::plugin::{ConnectError, ContactRef};
use crate::roster::{Roster, RosterError, SendText};
use crate::stanza::presence::Availability;

mod contact;
mod files;
mod groups;
mod participant;
mod services;

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

/// A plugin's `show` as the host's availability.
fn availability(show: types::Show) -> Availability {
    match show {
        types::Show::Online => Availability::Online,
        types::Show::Chat => Availability::Chat,
        types::Show::Away => Availability::Away,
        types::Show::Xa => Availability::Xa,
        types::Show::Dnd => Availability::Dnd,
        types::Show::Offline => Availability::Offline,
    }
}

fn no_session() -> types::Error {
    types::Error::Other("this call needs a user's session".to_owned())
}

fn stream_error(e: StreamError) -> types::Error {
    match e {
        StreamError::Denied(..) | StreamError::Net(ConnectError::Internal(..)) => {
            tracing::warn!(error = %e, "a plugin was denied a connection");
            types::Error::Denied(e.to_string())
        }
        StreamError::TooMany | StreamError::Backlogged(_) => {
            types::Error::LimitExceeded(e.to_string())
        }
        StreamError::NotOpen(_) => types::Error::NotFound(e.to_string()),
        StreamError::Invalid(..) => types::Error::Invalid(e.to_string()),
        StreamError::Net(_) => types::Error::Other(e.to_string()),
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

impl State {
    /// Runs a roster operation on the contact behind `handle`; its error
    /// becomes the WIT error the plugin sees.
    fn on_contact<T>(
        &mut self,
        handle: &Resource<ContactRef>,
        operation: impl FnOnce(&mut Roster, usize) -> Result<T, RosterError>,
    ) -> WitResult<T> {
        let (id, data) = self.contact_and_session(handle)?;
        Ok(data
            .ok_or_else(no_session)
            .and_then(|d| operation(&mut d.roster, id).map_err(Into::into)))
    }

    fn data(&mut self) -> Result<&mut SessionData, types::Error> {
        self.session().ok_or_else(no_session)
    }

    fn new_handle(&mut self, id: usize) -> wasmtime::Result<Resource<ContactRef>> {
        Ok(self.push_contact(id)?)
    }
}

impl types::Host for State {}
