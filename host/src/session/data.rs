//! What a session keeps across plugin instances: the store's data outside
//! the guest, taken back after a crash or a reload and handed to the next
//! instance.

use std::sync::Arc;

use super::{Service, State, Streams};
use crate::context::GatewayContext;
use crate::files::ScratchFiles;
use crate::groups::Rooms;
use crate::plugin::HostState;
use crate::roster::Roster;

/// The session-side data of an instance.
pub struct SessionData {
    /// The gateway the session belongs to.
    pub ctx: Arc<GatewayContext>,
    /// The gateway's own instance, which maps new contacts' ids.
    pub service: Arc<Service>,
    /// The user's contacts.
    pub roster: Roster,
    /// The user's groups.
    pub rooms: Rooms,
    /// The registration form the user filled.
    pub registration: Vec<(String, String)>,
    /// Timers the plugin asked for during the running export, as (delay in
    /// ms, token); the session schedules them once it returns.
    pub requested_timers: Vec<(u32, String)>,
    /// How many timers the session has scheduled (it keeps them), so that
    /// the imports can cap the plugin's timers.
    pub scheduled_timers: usize,
    /// The network connections the host holds for the session.
    pub streams: Streams,
    /// The files the plugin is writing, not sent yet.
    pub files: ScratchFiles,
}

impl SessionData {
    /// A store's state holding this data, with the session's grants for
    /// wasi:http.
    pub fn into_state(self) -> State {
        let grants = self.streams.grants().to_vec();
        let tls = self.streams.tls().clone();
        HostState::for_session(self, grants, tls)
    }
}
