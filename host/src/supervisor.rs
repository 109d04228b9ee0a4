//! The supervisor: runs every gateway of a configuration, applies a new
//! configuration while running, and shuts down cleanly.
//!
//! Each gateway is a link and a router task of its own (see [`crate::router`]);
//! the supervisor holds what they share (the database, the wasmtime engine,
//! the compiled-plugin cache) and one handle per gateway to stop it.
//!
//! A new configuration (SIGHUP) starts the gateways it adds, stops the ones
//! it removes, and restarts the ones whose settings changed (their users log
//! in again); the others run on untouched. A shutdown (SIGTERM) ends every
//! session — each logs out and shows its contacts offline, the gateway shows
//! itself offline — writes what is queued, closes the links and commits the
//! database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use wasmtime::Engine;

use crate::config::{Config, GatewayConfig};
use crate::plugin::reload::ReloadTrigger;
use crate::router::Control;
use crate::{StartError, context, gateway, link, plugin, router, sender, session, store};

/// One running gateway.
struct Running {
    config: GatewayConfig,
    control: mpsc::UnboundedSender<Control>,
    task: tokio::task::JoinHandle<()>,
    reload: Option<ReloadTrigger>,
}

impl Running {
    /// Asks the gateway to shut down (sessions, then the link) and waits.
    async fn stop(self) {
        let (done, wait) = oneshot::channel();
        if self.control.send(Control::Shutdown(done)).is_ok() {
            let _ = wait.await;
        }
        self.task.abort();
    }
}

/// The longest a clean shutdown waits for the gateways (their sessions'
/// logouts, the link's flush) before it cuts them short; below the
/// systemd unit's `TimeoutStopSec` (30 s), so that the database is still
/// committed before the service manager kills the process.
pub const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Every running gateway, and what they share.
pub struct Supervisor {
    config: Config,
    store: store::Store,
    engine: Engine,
    cache: PathBuf,
    /// By gateway JID.
    gateways: BTreeMap<String, Running>,
    /// The metrics endpoint's task, if one is configured.
    metrics: Option<tokio::task::JoinHandle<()>>,
    /// The files' shelf and its endpoint's task, if `[files]` is set.
    files: Option<(Arc<crate::files::Shelf>, crate::files::endpoint::Serving)>,
}

impl Supervisor {
    /// Opens the database and starts every gateway of `config`.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let store = store::Store::open(&config.store.path)?;
        let days = |d: u32| std::time::Duration::from_secs(u64::from(d) * 86_400);
        let archive = config.store.archive_retention_days;
        store.spawn_committer(
            days(config.store.message_retention_days),
            (archive > 0).then(|| days(archive)),
        );
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
        let mut supervisor = Supervisor {
            config: config.clone(),
            store,
            engine,
            cache,
            gateways: BTreeMap::new(),
            metrics: None,
            files: None,
        };
        if let Some(metrics) = &config.metrics {
            supervisor.metrics = Some(crate::metrics::serve(metrics.listen).await?);
        }
        if let Some(files) = &config.files {
            let shelf = Arc::new(crate::files::Shelf::open(files).map_err(StartError::FilesDir)?);
            let task = crate::files::endpoint::serve(files.listen, shelf.clone()).await?;
            supervisor.files = Some((shelf, task));
        }
        for gateway_config in config.gateways {
            supervisor.start_gateway(gateway_config).await?;
        }
        Ok(supervisor)
    }

    /// Starts one gateway: loads its plugin, starts its sessions, its link
    /// and its router.
    async fn start_gateway(&mut self, config: GatewayConfig) -> Result<(), StartError> {
        let jid =
            jid::BareJid::new(&config.jid).map_err(|_| StartError::Jid(config.jid.clone()))?;
        let limits = plugin::Limits {
            memory_mb: config.memory_mb,
            call_timeout: std::time::Duration::from_millis(config.call_timeout_ms),
        };
        let runtime = Arc::new(
            session::Runtime::load(&self.engine, &config.plugin, limits, Some(&self.cache)).await?,
        );
        tracing::info!(gateway = %jid, plugin = %config.plugin.display(), network = runtime.info.name, "plugin loaded");
        warn_if_beside_the_database(&config.plugin, &self.config.store.path);
        let (outbox, outbox_rx) = sender::outbox(jid.as_str());
        let link_config = link::LinkConfig {
            server: self.config.xmpp.server.clone(),
            jid: jid.clone(),
            secret: config.secret.clone(),
        };
        let tls = plugin::tls_config(&config.tls_ca).map_err(StartError::Tls)?;
        let ctx = Arc::new(
            context::GatewayContext::new(
                config.clone(),
                jid.clone(),
                outbox,
                self.store.clone(),
                runtime.info.clone(),
                tls,
            )
            .with_files(self.files.as_ref().map(|(shelf, _)| shelf.clone())),
        );
        let (reloads, reloads_rx) = mpsc::unbounded_channel();
        let mut gateway = gateway::Gateway::new(ctx, runtime.clone());
        let reload = match plugin::reload::watch(
            config.plugin.clone(),
            runtime.digest,
            self.engine.clone(),
            limits,
            Some(self.cache.clone()),
            reloads,
        ) {
            Ok(trigger) => {
                gateway.set_reload_trigger(trigger.clone());
                Some(trigger)
            }
            Err(e) => {
                tracing::warn!(gateway = %jid, error = %e, "cannot watch the plugin file: no hot reload");
                None
            }
        };
        let users = gateway.start_sessions()?;
        tracing::info!(gateway = %jid, users, "sessions started");
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(router::serve(
            gateway,
            link_config,
            outbox_rx,
            reloads_rx,
            control_rx,
        ));
        self.gateways.insert(
            config.jid.clone(),
            Running {
                config,
                control,
                task,
                reload,
            },
        );
        Ok(())
    }

    /// Stops one gateway and waits until its link is closed.
    async fn stop_gateway(&mut self, jid: &str) {
        let Some(running) = self.gateways.remove(jid) else {
            return;
        };
        running.stop().await;
        tracing::info!(gateway = jid, "gateway stopped");
    }

    /// Stops every gateway's tasks at once, without a clean shutdown (for
    /// a failed database: nothing more may be sent).
    pub fn abort(self) {
        for running in self.gateways.into_values() {
            running.task.abort();
        }
    }

    /// Resolves once the database has lost writes (see [`store::Store::failed`]).
    pub fn store_failed(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        self.store.failed()
    }

    /// Reloads every plugin file, changed or not (SIGUSR1).
    pub fn reload_plugins(&self) {
        tracing::info!(plugins = self.gateways.len(), "reloading the plugins");
        for running in self.gateways.values() {
            if let Some(trigger) = &running.reload {
                trigger.reload();
            }
        }
    }

    /// Moves to a new configuration: starts the gateways it adds, stops the
    /// ones it removes, restarts the ones whose settings changed. A gateway
    /// that cannot start is logged and left out; the others run on.
    pub async fn apply(&mut self, new: Config) {
        if new.store.path != self.config.store.path {
            tracing::warn!(
                "store.path changed: the database cannot move while running; restart to use the new one"
            );
        }
        if new.engine.pool_instances != self.config.engine.pool_instances {
            tracing::warn!("engine.pool_instances changed: restart to apply it");
        }
        if new.metrics != self.config.metrics {
            if let Some(task) = self.metrics.take() {
                task.abort();
            }
            if let Some(metrics) = &new.metrics {
                match crate::metrics::serve(metrics.listen).await {
                    Ok(task) => self.metrics = Some(task),
                    Err(e) => tracing::error!(error = %e, "metrics endpoint not started"),
                }
            }
            self.config.metrics = new.metrics.clone();
        }
        if new.files != self.config.files {
            tracing::warn!("[files] changed: restart to apply it");
        }
        if new.log != self.config.log {
            tracing::warn!("[log] changed: restart to apply it");
        }
        let server_changed = new.xmpp.server != self.config.xmpp.server;
        let wanted: BTreeMap<String, GatewayConfig> = new
            .gateways
            .iter()
            .map(|g| (g.jid.clone(), g.clone()))
            .collect();
        let running: Vec<String> = self.gateways.keys().cloned().collect();
        let (mut added, mut removed, mut restarted) = (0, 0, 0);
        for jid in &running {
            match wanted.get(jid) {
                None => {
                    self.stop_gateway(jid).await;
                    removed += 1;
                }
                Some(config)
                    if server_changed
                        || self.gateways.get(jid).map(|r| &r.config) != Some(config) =>
                {
                    self.stop_gateway(jid).await;
                    restarted += 1;
                }
                Some(_) => {}
            }
        }
        self.config.xmpp = new.xmpp.clone();
        self.config.gateways = new.gateways.clone();
        for (jid, config) in wanted {
            if self.gateways.contains_key(&jid) {
                continue;
            }
            let new = !running.contains(&jid);
            match self.start_gateway(config).await {
                Ok(()) if new => added += 1,
                Ok(()) => {}
                Err(e) => tracing::error!(gateway = jid, error = %e, "cannot start the gateway"),
            }
        }
        tracing::info!(added, removed, restarted, "configuration applied");
    }

    /// Stops every gateway (sessions logged out, queues flushed, links
    /// closed) and commits the database.
    pub async fn shutdown(mut self) {
        let gateways = std::mem::take(&mut self.gateways);
        let count = gateways.len();
        let aborts: Vec<_> = gateways.values().map(|r| r.task.abort_handle()).collect();
        let stops = futures::future::join_all(gateways.into_values().map(Running::stop));
        // Whatever the plugins do, the process ends within the service
        // manager's stop timeout. The sessions' and the flush's own bounds
        // keep the gateways inside it; this is the last resort, cutting
        // short what is still stopping.
        if tokio::time::timeout(SHUTDOWN_WAIT, stops).await.is_err() {
            tracing::warn!(
                seconds = SHUTDOWN_WAIT.as_secs(),
                "gateways still stopping; ending them without waiting"
            );
            for abort in aborts {
                abort.abort();
            }
        }
        if let Some(task) = self.metrics.take() {
            task.abort();
        }
        match self.store.commit() {
            Ok(()) => tracing::info!(gateways = count, "shut down; database committed"),
            Err(e) => tracing::error!(error = %e, "shut down, but the last commit failed"),
        }
    }
}

/// Why `gatehouse run` could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration file does not load.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A signal handler could not be installed.
    #[error("cannot listen for signals: {0}")]
    Signal(std::io::Error),
    /// A gateway could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The database lost writes: the process stops (fail-stop) without
    /// sending what depended on them; restarted, it goes on from the
    /// database.
    #[error("the database lost writes ({0}): stopped without sending what depended on them")]
    Store(String),
}

/// Runs the gateways of a configuration (loaded from `path`) until SIGTERM
/// or SIGINT, then shuts down cleanly. SIGHUP reads the file again and applies it (a file that
/// does not load is logged, and the running configuration stays); SIGUSR1
/// reloads every plugin.
pub async fn run_until_signalled(path: &Path, config: Config) -> Result<(), RunError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).map_err(RunError::Signal)?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(RunError::Signal)?;
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Signal)?;
    let mut supervisor = Supervisor::start(config).await.map_err(RunError::Start)?;
    let failed = supervisor.store_failed();
    tokio::pin!(failed);
    loop {
        tokio::select! {
            reason = &mut failed => return Err(RunError::Store(reason)),
            _ = hup.recv() => match Config::load(path) {
                Ok(config) => {
                    tracing::info!(config = %path.display(), "SIGHUP: applying the configuration");
                    supervisor.apply(config).await;
                }
                Err(e) => tracing::error!(error = %e, "SIGHUP: the configuration does not load; keeping the running one"),
            },
            _ = usr1.recv() => supervisor.reload_plugins(),
            _ = term.recv() => {
                tracing::info!("SIGTERM: shutting down");
                break;
            }
            _ = int.recv() => {
                tracing::info!("SIGINT: shutting down");
                break;
            }
        }
    }
    let store = supervisor.store.clone();
    supervisor.shutdown().await;
    match store.failure() {
        Some(reason) => Err(RunError::Store(reason)),
        None => Ok(()),
    }
}

/// The plugin watcher watches the plugin's folder: if the database lives
/// there too, every commit wakes it (and costs the gateway CPU).
fn warn_if_beside_the_database(plugin: &Path, database: &Path) {
    // The configuration made both paths absolute.
    let folder = |p: &Path| p.parent().and_then(|f| f.canonicalize().ok());
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
