//! Hot reload: a changed plugin file is compiled (off the async threads)
//! and linked; if that works, every session of the gateway moves to the new
//! code between two events; if not, the old plugin keeps serving and the
//! reason is logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, oneshot};
use wasmtime::Engine;

use super::state::{HostState, Imports};
use super::{Limits, PluginRuntime, digested};

/// How long a file must stay quiet before it is read when the watcher did
/// not see its writer finish (a close after writing, or a rename into
/// place): writers (cp, cargo) touch it several times.
const SETTLE: Duration = Duration::from_millis(300);

/// Where a reloaded plugin goes.
pub type ReloadSender<S> = mpsc::UnboundedSender<Arc<PluginRuntime<S>>>;

/// What the watcher saw happen to the plugin file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// A writer finished (closed the file after writing it, or renamed a
    /// finished file into place): read it now.
    Complete,
    /// A write is under way: read it once it is over (or quiet).
    Partial,
    /// A reload was asked for, changed or not.
    Forced,
}

impl Change {
    fn of(kind: &EventKind) -> Option<Change> {
        match kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => {
                Some(Change::Complete)
            }
            EventKind::Create(_) | EventKind::Modify(_) => Some(Change::Partial),
            _ => None,
        }
    }
}

/// How a reload went: what was loaded, or why nothing was.
pub type ReloadOutcome = Result<String, String>;

/// Those waiting for the outcome of the next reload.
type Waiters = Arc<Mutex<Vec<oneshot::Sender<ReloadOutcome>>>>;

/// Asks for a reload now, whether or not the file changed (a signal, a
/// command).
#[derive(Debug, Clone)]
pub struct ReloadTrigger {
    changes: mpsc::UnboundedSender<Change>,
    waiters: Waiters,
}

impl ReloadTrigger {
    /// Reloads the plugin file.
    pub fn reload(&self) {
        let _ = self.changes.send(Change::Forced);
    }

    /// Reloads the plugin file and tells how it went (for an operator's
    /// command); Err if the watcher is gone.
    pub async fn reload_and_report(&self) -> ReloadOutcome {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        self.reload();
        rx.await
            .unwrap_or_else(|_| Err("the plugin watcher has stopped".into()))
    }
}

fn count_reload(outcome: &str) {
    crate::metrics::METRICS
        .reloads
        .get_or_create(&vec![("outcome", outcome.to_owned())])
        .inc();
}

/// Tells every waiter how the reload went.
fn report(waiters: &Waiters, outcome: &ReloadOutcome) {
    let waiting = std::mem::take(&mut *waiters.lock().unwrap_or_else(|p| p.into_inner()));
    for waiter in waiting {
        let _ = waiter.send(outcome.clone());
    }
}

/// Watches `path` (through its folder, so that an atomic rename over it is
/// seen) and sends each successfully loaded new version to `reloads`.
/// Runs until `reloads` is closed. The trigger reloads on demand.
pub fn watch<S: Send + 'static>(
    path: PathBuf,
    loaded: [u8; 32],
    engine: Engine,
    limits: Limits,
    cache: Option<PathBuf>,
    reloads: ReloadSender<S>,
) -> notify::Result<ReloadTrigger>
where
    HostState<S>: Imports,
{
    let (changed_tx, mut changed) = mpsc::unbounded_channel();
    let waiters = Waiters::default();
    let trigger = ReloadTrigger {
        changes: changed_tx.clone(),
        waiters: waiters.clone(),
    };
    let name = path.file_name().map(|n| n.to_owned());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.paths.iter().any(|p| p.file_name() == name.as_deref())
            && let Some(change) = Change::of(&event.kind)
        {
            let _ = changed_tx.send(change);
        }
    })?;
    let folder = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    watcher.watch(&folder, RecursiveMode::NonRecursive)?;
    let mut loaded = loaded;
    tokio::spawn(async move {
        // The watcher lives as long as this task.
        let _watcher = watcher;
        while let Some(mut change) = changed.recv().await {
            if change == Change::Partial {
                // Wait for the writer to finish, or for the file to go quiet.
                let deadline = tokio::time::Instant::now() + SETTLE;
                while change == Change::Partial {
                    match tokio::time::timeout_at(deadline, changed.recv()).await {
                        Ok(Some(next)) => change = next,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
            }
            // One read serves every event the writer caused so far.
            while let Ok(next) = changed.try_recv() {
                if next == Change::Forced {
                    change = next;
                }
            }
            let bytes = match tokio::fs::read(&path).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::error!(plugin = %path.display(), error = %e, "reload failed: the old plugin keeps serving");
                    report(
                        &waiters,
                        &Err(format!("cannot read {}: {e}", path.display())),
                    );
                    continue;
                }
            };
            let (bytes, digest) = digested(bytes).await;
            if change != Change::Forced && digest == loaded {
                tracing::debug!(plugin = %path.display(), "plugin file touched but unchanged");
                continue;
            }
            let started = std::time::Instant::now();
            let cache = cache.as_deref();
            match PluginRuntime::from_bytes(&engine, &path, bytes, digest, limits, cache).await {
                Ok(runtime) => {
                    let took = started.elapsed();
                    tracing::info!(plugin = %path.display(), ?took, "plugin reloaded");
                    loaded = digest;
                    count_reload("ok");
                    let network = runtime.info.name.clone();
                    if reloads.send(Arc::new(runtime)).is_err() {
                        return;
                    }
                    report(
                        &waiters,
                        &Ok(format!(
                            "{} ({network}, sha-256 {}…) loaded in {} ms",
                            path.display(),
                            &hex::encode(digest)[..12],
                            took.as_millis()
                        )),
                    );
                }
                Err(e) => {
                    tracing::error!(plugin = %path.display(), error = %e, "reload failed: the old plugin keeps serving");
                    count_reload("failed");
                    report(&waiters, &Err(format!("{e}; the old plugin keeps serving")));
                }
            }
        }
    });
    Ok(trigger)
}
