//! The gateway's own instance of its plugin that maps new contacts'
//! legacy ids to JID local parts for every session; it serves no user. It is a separate store from every session's, so a session
//! can ask it for a mapping in the middle of a call of its own (an
//! instance is never re-entered); sessions take turns on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::state::{HostState, Imports};
use super::{Instance, PluginError, PluginRuntime};

/// The gateway's service instance, made on first use and again after a
/// crash or a reload.
pub struct Service<S: 'static> {
    runtime: Mutex<Arc<PluginRuntime<S>>>,
    /// Bumped by each reload: an instance of an older generation is stale.
    generation: AtomicU64,
    instance: tokio::sync::Mutex<Option<(u64, Instance<S>)>>,
}

impl<S: Send + 'static> Service<S>
where
    HostState<S>: Imports,
{
    /// The service of a loaded plugin; instantiated when first needed.
    pub fn new(runtime: Arc<PluginRuntime<S>>) -> Self {
        Service {
            runtime: Mutex::new(runtime),
            generation: AtomicU64::new(0),
            instance: tokio::sync::Mutex::new(None),
        }
    }

    /// Moves to a reloaded plugin: the next call gets an instance of it.
    pub fn reload(&self, runtime: Arc<PluginRuntime<S>>) {
        *self.runtime.lock().unwrap_or_else(|p| p.into_inner()) = runtime;
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    fn runtime(&self) -> Arc<PluginRuntime<S>> {
        self.runtime
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `legacy-id-to-jid-username`; Err is a crash.
    pub async fn legacy_id_to_jid_username(
        &self,
        legacy_id: &str,
    ) -> Result<Option<String>, PluginError> {
        self.with_instance(async |i| i.legacy_id_to_jid_username(legacy_id).await)
            .await
    }

    /// `muc-legacy-id-to-jid-username`; Err is a crash.
    pub async fn muc_legacy_id_to_jid_username(
        &self,
        legacy_id: &str,
    ) -> Result<Option<String>, PluginError> {
        self.with_instance(async |i| i.muc_legacy_id_to_jid_username(legacy_id).await)
            .await
    }

    /// Runs `call` on a current instance; a failed call drops it.
    async fn with_instance<R>(
        &self,
        call: impl AsyncFnOnce(&mut Instance<S>) -> Result<R, PluginError>,
    ) -> Result<R, PluginError> {
        let mut slot = self.instance.lock().await;
        let generation = self.generation.load(Ordering::Relaxed);
        let mut instance = match slot.take() {
            Some((made, instance)) if made == generation => instance,
            _ => self.runtime().instantiate(HostState::service()).await?,
        };
        let result = call(&mut instance).await;
        if result.is_ok() {
            *slot = Some((generation, instance));
        }
        result
    }
}
