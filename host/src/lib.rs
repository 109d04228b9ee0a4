//! Gatehouse: an XMPP gateway host whose legacy-network logic runs as
//! sandboxed WebAssembly components.
//!
//! # Layout
//!
//! A stanza's way through the host, one module per step:
//!
//! - [`link`]: the component link (XEP-0114) to the XMPP server: handshake,
//!   reconnection with capped backoff, and the outgoing queue that outlives
//!   connections.
//! - [`router`]: sends each stanza from the link where it belongs: the
//!   gateway JID, a user's session, or an error reply.
//! - [`gateway`]: one per configured plugin: service discovery, registration
//!   (XEP-0077), the users' presences, the table of sessions.
//! - [`session`]: one actor per registered user: a mailbox, a plugin
//!   instance, events handled one at a time, in order; login and retries.
//! - [`roster`]: slidge's `LegacyRoster` and `LegacyContact`: contacts as
//!   singletons per session, legacy id ⇄ JID local part, roster pushes,
//!   presences and messages from puppets.
//! - [`plugin`]: wasmtime: compiling and linking a plugin, instances, the
//!   host side of every WIT import, and the epoch ticker behind call
//!   deadlines.
//! - [`store`]: SQLite: schema, migrations and every query.
//!
//! Around the way: [`supervisor`] starts every gateway of a configuration,
//! applies a new one on SIGHUP and shuts down cleanly on SIGTERM; the
//! gateway's ad-hoc commands (XEP-0050) live in `gateway::commands`.
//!
//! Beside the way: [`config`] reads the operator's TOML file (with who may
//! register, the size caps, `[log]` and `[metrics]`), [`metrics`] counts
//! what flows and serves it to Prometheus, and [`stanza`]
//! builds and parses the stanzas, one XEP family per module. For plugin
//! authors, [`plugin::check`] tells whether a file is a plugin this host
//! runs, and [`scaffold`] writes a new plugin's skeleton.

#![warn(missing_docs)]

pub mod config;
pub mod gateway;
pub mod link;
pub mod metrics;
pub mod plugin;
pub mod roster;
pub mod router;
pub mod scaffold;
pub mod session;
pub mod stanza;
pub mod store;
pub mod supervisor;

use config::Config;

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugin(#[from] plugin::PluginError),
    /// A gateway's JID is not a JID.
    #[error("gateway {0}: not a valid JID")]
    Jid(String),
    /// A `tls_ca` file could not be read.
    #[error("tls_ca: {0}")]
    Tls(String),
    /// The metrics endpoint could not listen.
    #[error(transparent)]
    Metrics(#[from] metrics::ServeError),
}

/// Starts every gateway of a configuration and serves them until the task
/// is dropped (for tests and embedders; `gatehouse run` uses
/// [`supervisor::run_until_signalled`], which also reloads and shuts down).
pub async fn run(config: Config) -> Result<(), StartError> {
    let _supervisor = supervisor::Supervisor::start(config).await?;
    std::future::pending().await
}
