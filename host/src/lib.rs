//! Gatehouse: an XMPP gateway host whose legacy-network logic runs as
//! sandboxed WebAssembly components.
//!
//! # Layout
//!
//! The way in, one module per step of a stanza from the server:
//!
//! - [`link`]: the component link (XEP-0114) to the XMPP server, only the
//!   transport: handshake, reconnection with capped backoff, reading, and
//!   writing the queue it is handed, which outlives connections.
//! - [`router`]: sends each stanza from the link where it belongs: the
//!   gateway JID, a user's session, an answer to the gateway's own request,
//!   or an error reply.
//! - [`gateway`]: one per configured plugin: service discovery,
//!   registration (XEP-0077, each run as a task of its own, one user's in
//!   order), ad-hoc commands (XEP-0050), the users' presences, the table
//!   of sessions.
//! - [`session`]: one actor per registered user: a mailbox, a plugin
//!   instance, events handled one at a time, in order; the one call path
//!   that contains a crash; login and retries; the host side of every
//!   import (key-value store, timers, streams, HTTP, log).
//! - [`plugin`]: wasmtime, knowing nothing of sessions: the engine and its
//!   epoch ticker, compiling and linking a plugin, instances and the one
//!   path every export call takes, the gateway's own service instance, and
//!   the one checked way to the network (grants, resolve-check-connect,
//!   raw `wasi:http`).
//!
//! The way out mirrors it: the plugin's imports act on the [`roster`]
//! (slidge's `LegacyRoster` and `LegacyContact`) and on [`groups`]
//! (`LegacyBookmarks`, `LegacyMUC`, `LegacyParticipant`: the rooms the
//! gateway serves as a MUC service, with their archive), whose operations
//! produce the stanzas they mean; after each call the session hands them to the
//! gateway's [`sender`], which takes from each session's paced queue in
//! turn, commits the database before it passes a batch to the link (so a
//! stanza never acknowledges a write a kill could undo), and takes out of
//! each stanza what XML cannot carry.
//!
//! Below both ways: [`context`] holds what every part of a gateway shares
//! (its settings, the outbox, stanza ids, the server's XEP-0356 grants,
//! roster-push tracking); [`store`] is SQLite (schema, migrations, every
//! query, the retention of the message id map and the rooms' archives); [`stanza`] builds and parses the stanzas, one XEP family per
//! module; [`files`] keeps the files plugins send to users (scratch
//! files, the shelf and the host's own HTTP endpoint that serves it).
//!
//! Around them: [`supervisor`] starts every gateway of a configuration,
//! applies a new one on SIGHUP and shuts down cleanly on SIGTERM (within
//! a bound, whatever the plugins do);
//! [`config`] reads the operator's TOML file; [`metrics`] counts what
//! flows and serves it to Prometheus. For plugin authors, [`plugin::check`]
//! tells whether a file is a plugin this host runs, and [`scaffold`]
//! writes a new plugin's skeleton.
//!
//! No two modules import each other, directly or round about
//! (`../shared/tools/module-graph`): `plugin` is generic over the session's
//! state rather than naming it, and `context` and `roster` import nothing
//! of `session` or `gateway`.

#![warn(missing_docs)]

pub mod config;
pub mod context;
pub mod files;
pub mod gateway;
pub mod groups;
pub mod link;
pub mod metrics;
pub mod plugin;
pub mod roster;
pub mod router;
pub mod scaffold;
pub mod sender;
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
    /// The file endpoint could not listen.
    #[error(transparent)]
    Files(#[from] files::endpoint::ServeError),
    /// The file endpoint's folder could not be made.
    #[error("files.dir: {0}")]
    FilesDir(std::io::Error),
}

/// Starts every gateway of a configuration and serves them until the task
/// is dropped, or until the database loses writes (fail-stop: then it
/// returns the error) (for tests and embedders; `gatehouse run` uses
/// [`supervisor::run_until_signalled`], which also reloads and shuts down).
pub async fn run(config: Config) -> Result<(), StartError> {
    let supervisor = supervisor::Supervisor::start(config).await?;
    let reason = supervisor.store_failed().await;
    supervisor.abort();
    Err(StartError::Store(store::StoreError::Failed(reason)))
}
