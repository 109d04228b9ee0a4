//! Hot reload: a changed plugin file is compiled (off the async threads)
//! and linked; if that works, every session of the gateway moves to the new
//! code between two events; if not, the old plugin keeps serving and the
//! reason is logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use wasmtime::Engine;

use super::{Limits, PluginRuntime};

/// How long a file must stay quiet before it is read: writers (cp, cargo)
/// touch it several times.
const SETTLE: Duration = Duration::from_millis(300);

/// Where a reloaded plugin goes.
pub type ReloadSender = mpsc::UnboundedSender<Arc<PluginRuntime>>;

/// Asks for a reload now, whether or not the file changed (a signal, a
/// command).
#[derive(Debug, Clone)]
pub struct ReloadTrigger(mpsc::UnboundedSender<()>);

impl ReloadTrigger {
    /// Reloads the plugin file.
    pub fn reload(&self) {
        let _ = self.0.send(());
    }
}

/// Watches `path` (through its folder, so that an atomic rename over it is
/// seen) and sends each successfully loaded new version to `reloads`.
/// Runs until `reloads` is closed. The trigger reloads on demand.
pub fn watch(
    path: PathBuf,
    engine: Engine,
    limits: Limits,
    cache: Option<PathBuf>,
    reloads: ReloadSender,
) -> notify::Result<ReloadTrigger> {
    let (changed_tx, mut changed) = mpsc::unbounded_channel();
    let trigger = ReloadTrigger(changed_tx.clone());
    let name = path.file_name().map(|n| n.to_owned());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.paths.iter().any(|p| p.file_name() == name.as_deref())
        {
            let _ = changed_tx.send(());
        }
    })?;
    let folder = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    watcher.watch(&folder, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        // The watcher lives as long as this task.
        let _watcher = watcher;
        while changed.recv().await.is_some() {
            // Let the writer finish, then take every event it caused.
            tokio::time::sleep(SETTLE).await;
            while changed.try_recv().is_ok() {}
            let started = std::time::Instant::now();
            match PluginRuntime::load(&engine, &path, limits, cache.as_deref()).await {
                Ok(runtime) => {
                    tracing::info!(plugin = %path.display(), took = ?started.elapsed(), "plugin reloaded");
                    if reloads.send(Arc::new(runtime)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(plugin = %path.display(), error = %e, "reload failed: the old plugin keeps serving");
                }
            }
        }
    });
    Ok(trigger)
}
