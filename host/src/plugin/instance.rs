//! One live instance of a plugin, and the one path every export call takes:
//! the call's time budget armed, the epoch ticker held, a span, the failure
//! classified from typed signals (the epoch interrupt's trap code, the
//! memory cap's flag), and the call counted in the metrics.
//!
//! Two bounds hold a call to `call_timeout`: the epoch budget stops a
//! plugin that computes, and a wall-clock timeout stops one that waits in
//! the host (a WASI clock sleep, a poll, a connection), where no
//! WebAssembly runs and no epoch tick can reach it. Either way the call's
//! future is dropped and the instance is dead.

use wasmtime::component::Resource;
use wasmtime::{Store, Trap};

use super::bindings::{self, exports::gatehouse::gateway::plugin::Guest};
use super::runtime::Limits;
use super::state::HostState;
use super::{ContactRef, PluginError, epoch};

/// One live instance of a plugin with its store.
pub struct Instance<S: 'static> {
    store: Store<HostState<S>>,
    /// Set once instantiation succeeded.
    plugin: Option<bindings::GatewayPlugin>,
    limits: Limits,
}

impl<S: Send + 'static> Instance<S> {
    pub(super) fn new(store: Store<HostState<S>>, limits: Limits) -> Self {
        Instance {
            store,
            plugin: None,
            limits,
        }
    }

    pub(super) fn store_mut(&mut self) -> &mut Store<HostState<S>> {
        &mut self.store
    }

    pub(super) fn set_plugin(&mut self, plugin: bindings::GatewayPlugin) {
        self.plugin = Some(plugin);
    }

    /// Gives the next call its full time budget.
    pub(super) fn arm(&mut self) {
        let ticks = self.limits.call_timeout.as_millis() / epoch::EPOCH_TICK.as_millis();
        self.store.data_mut().ticks_left = u64::try_from(ticks).unwrap_or(u64::MAX);
        self.store.set_epoch_deadline(1);
    }

    /// What a failed call means: a deadline, the memory cap, or a crash.
    pub(super) fn classify(&self, error: wasmtime::Error) -> PluginError {
        if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return PluginError::Deadline(self.limits.call_timeout.as_millis() as u64);
        }
        if self.store.data().memory.exceeded {
            return PluginError::Memory(self.limits.memory_mb);
        }
        PluginError::Trap(format!("{error:?}"))
    }

    /// A call (or the instantiation) outlived its wall-clock bound: the
    /// store was left mid-call, so nothing may run on it again.
    pub(super) fn timed_out(&mut self) -> PluginError {
        self.plugin = None;
        PluginError::Deadline(self.limits.call_timeout.as_millis() as u64)
    }

    /// The state, taken back from a dead or finished instance.
    pub fn into_state(self) -> HostState<S> {
        self.store.into_data()
    }

    /// The host state, for the session to read between calls.
    pub fn state(&mut self) -> &mut HostState<S> {
        self.store.data_mut()
    }

    /// Calls the export `export` (its name in Rust, `on_text`, which is the
    /// span's and the metrics' label) through `call`, which is handed the
    /// plugin's exports and the store.
    pub(super) async fn call<R>(
        &mut self,
        export: &'static str,
        call: impl AsyncFnOnce(&Guest, &mut Store<HostState<S>>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.arm();
        let _ticking = epoch::TICKER.start();
        let plugin = self
            .plugin
            .as_ref()
            .ok_or_else(|| PluginError::Instantiate("not instantiated".into()))?;
        let started = std::time::Instant::now();
        let running = tracing::Instrument::instrument(
            call(plugin.gatehouse_gateway_plugin(), &mut self.store),
            tracing::debug_span!("plugin_call", export),
        );
        let result = match tokio::time::timeout(self.limits.call_timeout, running).await {
            Ok(result) => result.map_err(|e| self.classify(e)),
            Err(_) => Err(self.timed_out()),
        };
        let failure = result.as_ref().err().map(PluginError::failure_label);
        crate::metrics::METRICS.plugin_call(export, started.elapsed(), failure);
        result
    }

    /// [`Instance::call`] for an export that takes a contact: the plugin is
    /// given a handle of its own on it, which it may keep or drop.
    pub(super) async fn call_with_contact<R>(
        &mut self,
        export: &'static str,
        contact: usize,
        call: impl AsyncFnOnce(
            &Guest,
            &mut Store<HostState<S>>,
            Resource<ContactRef>,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.call_with_handle(export, ContactRef(contact), call)
            .await
    }

    /// [`Instance::call`] for an export that takes a resource (a contact,
    /// a room): the plugin is given a handle of its own on it.
    pub(super) async fn call_with_handle<H: Send + 'static, R>(
        &mut self,
        export: &'static str,
        value: H,
        call: impl AsyncFnOnce(&Guest, &mut Store<HostState<S>>, Resource<H>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let handle = self
            .store
            .data_mut()
            .push_handle(value)
            .map_err(|e| PluginError::Trap(e.to_string()))?;
        self.call(export, async |plugin, store| {
            call(plugin, store, handle).await
        })
        .await
    }
}
