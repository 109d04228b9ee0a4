//! The plugin runtime: wasmtime, the compiled component, and instances.
//!
//! One [`PluginRuntime`] per plugin file: the engine compiles the component
//! once and links it into a pre-instantiated `PluginPre`; each session then
//! gets its own [`Instance`] (its own `Store`) in microseconds. A call that
//! traps poisons its store, so the instance is dropped and the session's
//! state, which lives in the store's data rather than in the guest, is
//! taken back with [`Instance::into_state`] for the next instance.
//!
//! This module knows nothing of rosters or sessions: the store's data is a
//! [`HostState`] generic over the session's own state `S`, and the session
//! module implements the contract's imports for it. So the runtime sits
//! below everything that uses it.
//!
//! - `engine`: the shared wasmtime engine and its epoch ticker ([`epoch`]);
//! - `runtime`: loading a file (with its compiled-code `cache`), linking,
//!   instantiating;
//! - `instance`: one instance and the one path every export call takes
//!   (deadline armed, span, failure classified, metric counted);
//! - `exports`, `group_exports`: each export as a typed method on
//!   [`Instance`];
//! - `state`: what a store holds, the memory cap among it;
//! - `service`: the gateway's own instance, which serves no user;
//! - `grants`, `connect`, `http`: what the operator lets a plugin reach,
//!   and the one way its connections (streams, HTTP, wasi:http) are made;
//! - [`check`] and [`reload`]: `gatehouse plugin check`, hot reload.

mod cache;
pub mod check;
mod connect;
mod engine;
pub mod epoch;
mod error;
mod exports;
mod grants;
mod group_exports;
mod http;
mod instance;
pub mod reload;
mod runtime;
mod service;
mod state;

/// The bindings generated from `wit/`.
pub mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gateway-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "gatehouse:gateway/roster.contact": super::ContactRef,
            "gatehouse:gateway/groups.muc": super::MucRef,
            "gatehouse:gateway/groups.participant": super::ParticipantRef,
        },
    });
}

pub use connect::{ConnectError, Connection, connect};
pub use engine::engine;
pub use error::PluginError;
pub use exports::{HttpResponse, MAX_REASON_BYTES, TextMessage, cut};
pub use grants::{Grant, reachable, tls_config};
pub use group_exports::ArchiveBound;
pub use instance::Instance;
pub use runtime::{GatewayInfo, Limits, PluginRuntime, digested};
pub use service::Service;
pub use state::{HandleError, HostState, Imports, MAX_CONTACT_HANDLES};

/// The host's side of a `contact` resource handle: an index into the
/// session's roster. Handles are per store, so a new instance simply gets
/// new ones.
#[derive(Debug, Clone, Copy)]
pub struct ContactRef(pub usize);

/// The host's side of a `muc` handle: an index into the session's rooms.
#[derive(Debug, Clone, Copy)]
pub struct MucRef(pub usize);

/// The host's side of a `participant` handle: a room's index and the
/// participant's index in it.
#[derive(Debug, Clone, Copy)]
pub struct ParticipantRef {
    /// The room.
    pub room: usize,
    /// The participant.
    pub participant: usize,
}
