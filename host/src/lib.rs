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
//! Beside the way: [`config`] reads the operator's TOML file (with who may
//! register and the size caps), and [`stanza`]
//! builds and parses the stanzas, one XEP family per module. For plugin
//! authors, [`plugin::check`] tells whether a file is a plugin this host
//! runs, and [`scaffold`] writes a new plugin's skeleton.

#![warn(missing_docs)]

pub mod config;
pub mod gateway;
pub mod link;
pub mod plugin;
pub mod roster;
pub mod router;
pub mod scaffold;
pub mod session;
pub mod stanza;
pub mod store;

use std::sync::Arc;

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
}

/// Loads every gateway of a configuration and serves them until they end
/// (in practice, until the process is stopped).
pub async fn run(config: Config) -> Result<(), StartError> {
    let store = store::Store::open(&config.store.path)?;
    store.spawn_committer();
    let max_memory_mb = config
        .gateways
        .iter()
        .map(|g| g.memory_mb)
        .max()
        .unwrap_or(64);
    let engine = plugin::engine(config.engine.pool_instances, max_memory_mb)?;
    let cache = config
        .engine
        .cache_dir
        .clone()
        .unwrap_or_else(|| config.store.path.with_extension("cache"));
    let mut tasks = Vec::new();
    let mut triggers = Vec::new();
    for gateway_config in config.gateways {
        let jid = jid::BareJid::new(&gateway_config.jid)
            .map_err(|_| StartError::Jid(gateway_config.jid.clone()))?;
        let limits = plugin::Limits {
            memory_mb: gateway_config.memory_mb,
            call_timeout: std::time::Duration::from_millis(gateway_config.call_timeout_ms),
        };
        let runtime = Arc::new(
            plugin::PluginRuntime::load(&engine, &gateway_config.plugin, limits, Some(&cache))
                .await?,
        );
        tracing::info!(gateway = %jid, plugin = %gateway_config.plugin.display(), network = runtime.info.name, "plugin loaded");
        let plugin_path = gateway_config.plugin.clone();
        warn_if_beside_the_database(&plugin_path, &config.store.path);
        let (outbox, outbox_rx) = link::outbox();
        let link_config = link::LinkConfig {
            server: config.xmpp.server.clone(),
            jid: jid.clone(),
            secret: gateway_config.secret.clone(),
            store: store.clone(),
        };
        let tls = plugin::streams::tls_config(&gateway_config.tls_ca).map_err(StartError::Tls)?;
        let ctx = Arc::new(gateway::GatewayContext::new(
            gateway_config,
            jid.clone(),
            outbox,
            store.clone(),
            runtime.info.clone(),
            tls,
        ));
        let (reloads, reloads_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut gateway = gateway::Gateway::new(ctx, runtime.clone());
        match plugin::reload::watch(
            plugin_path,
            runtime.digest,
            engine.clone(),
            limits,
            Some(cache.clone()),
            reloads,
        ) {
            Ok(trigger) => {
                gateway.set_reload_trigger(trigger.clone());
                triggers.push(trigger);
            }
            Err(e) => {
                tracing::warn!(gateway = %jid, error = %e, "cannot watch the plugin file: no hot reload")
            }
        }
        let users = gateway.start_sessions()?;
        tracing::info!(gateway = %jid, users, "sessions started");
        tasks.push(tokio::spawn(router::serve(
            gateway,
            link_config,
            outbox_rx,
            reloads_rx,
        )));
    }
    reload_on_signal(triggers);
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// The plugin watcher watches the plugin's folder: if the database lives
/// there too, every commit wakes it (and costs the gateway CPU).
fn warn_if_beside_the_database(plugin: &std::path::Path, database: &std::path::Path) {
    // The configuration made both paths absolute.
    let folder = |p: &std::path::Path| p.parent().and_then(|f| f.canonicalize().ok());
    if let Some(shared) = folder(plugin)
        && folder(database).as_ref() == Some(&shared)
    {
        tracing::warn!(
            plugin = %plugin.display(),
            database = %database.display(),
            "the plugin shares its folder with the database: every database write wakes the plugin watcher; keep plugins in a folder of their own"
        );
    }
}

/// SIGUSR1 reloads every plugin file, changed or not.
fn reload_on_signal(triggers: Vec<plugin::reload::ReloadTrigger>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut signals = match signal(SignalKind::user_defined1()) {
        Ok(signals) => signals,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGUSR1: reload by replacing the plugin file");
            return;
        }
    };
    tokio::spawn(async move {
        while signals.recv().await.is_some() {
            tracing::info!(plugins = triggers.len(), "SIGUSR1: reloading the plugins");
            for trigger in &triggers {
                trigger.reload();
            }
        }
    });
}
