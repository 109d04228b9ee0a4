//! A plugin file compiled, linked and ready to instantiate.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use super::bindings;
use super::state::{HostState, Imports};
use super::{Instance, PluginError, cache, epoch};
use crate::stanza::register::RegistrationForm;

/// What one plugin instance may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory, in MiB.
    pub memory_mb: u32,
    /// Wall-clock time per call.
    pub call_timeout: Duration,
}

/// What a plugin said about its network.
#[derive(Debug, Clone)]
pub struct GatewayInfo {
    /// The network's human name.
    pub name: String,
    /// The XEP-0100 gateway type.
    pub network_type: String,
    /// The registration form.
    pub form: RegistrationForm,
}

/// A compiled, linked plugin, ready to instantiate instances whose
/// session state is `S`.
pub struct PluginRuntime<S: 'static> {
    engine: Engine,
    pre: bindings::GatewayPluginPre<HostState<S>>,
    limits: Limits,
    /// What the plugin said about its network when it was loaded.
    pub info: GatewayInfo,
    /// The SHA-256 of the file it was loaded from: a reload of the same
    /// bytes is skipped.
    pub digest: [u8; 32],
}

impl<S: 'static> std::fmt::Debug for PluginRuntime<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("network", &self.info.name)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A plugin file's bytes with their SHA-256, hashed on a blocking thread
/// (a Python plugin is 18 MB).
pub async fn digested(bytes: Vec<u8>) -> (Vec<u8>, [u8; 32]) {
    use xmpp_parsers::sha2::{Digest, Sha256};
    let sha256 = |bytes: &[u8]| -> [u8; 32] { Sha256::digest(bytes).into() };
    let bytes = Arc::new(bytes);
    let shared = bytes.clone();
    let digest = tokio::task::spawn_blocking(move || sha256(&shared))
        .await
        // No blocking thread to be had (the runtime is ending): hash here.
        .unwrap_or_else(|_| sha256(&bytes));
    (Arc::unwrap_or_clone(bytes), digest)
}

impl<S: Send + 'static> PluginRuntime<S>
where
    HostState<S>: Imports,
{
    /// Compiles and links a plugin file (compilation runs on a blocking
    /// thread: it takes tens of milliseconds to seconds), then asks it about
    /// its network.
    pub async fn load(
        engine: &Engine,
        path: &Path,
        limits: Limits,
        cache: Option<&Path>,
    ) -> Result<Self, PluginError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| PluginError::Read {
                path: path.to_owned(),
                source,
            })?;
        let (bytes, digest) = digested(bytes).await;
        Self::from_bytes(engine, path, bytes, digest, limits, cache).await
    }

    /// [`PluginRuntime::load`] for a file already read and hashed (`path`
    /// names it in errors).
    pub async fn from_bytes(
        engine: &Engine,
        path: &Path,
        bytes: Vec<u8>,
        digest: [u8; 32],
        limits: Limits,
        cache: Option<&Path>,
    ) -> Result<Self, PluginError> {
        let compile_engine = engine.clone();
        let cache = cache.map(Path::to_owned);
        let component = tokio::task::spawn_blocking(move || {
            cache::component(&compile_engine, &bytes, cache.as_deref())
        })
        .await
        .map_err(|e| PluginError::Compile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?
        .map_err(|e| PluginError::Compile {
            path: path.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let link_error = |e: wasmtime::Error| PluginError::Link {
            path: path.to_owned(),
            reason: format!("{e:#}"),
        };
        let mut linker = Linker::<HostState<S>>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link_error)?;
        bindings::GatewayPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(link_error)?;
        let pre = linker.instantiate_pre(&component).map_err(link_error)?;
        let pre = bindings::GatewayPluginPre::new(pre).map_err(link_error)?;
        let mut runtime = PluginRuntime {
            engine: engine.clone(),
            pre,
            limits,
            info: GatewayInfo {
                name: String::new(),
                network_type: String::new(),
                form: RegistrationForm {
                    title: String::new(),
                    instructions: String::new(),
                    fields: vec![],
                },
            },
            digest,
        };
        let mut service = runtime.instantiate(HostState::service()).await?;
        runtime.info = service.gateway_info().await?;
        Ok(runtime)
    }

    /// A new instance owning `state`, under the runtime's limits.
    pub async fn instantiate(&self, state: HostState<S>) -> Result<Instance<S>, PluginError> {
        self.instantiate_or_keep(state)
            .await
            .map_err(|(error, _)| error)
    }

    /// [`PluginRuntime::instantiate`], giving `state` back when it fails:
    /// a session's state outlives a plugin that cannot start.
    pub async fn instantiate_or_keep(
        &self,
        mut state: HostState<S>,
    ) -> Result<Instance<S>, (PluginError, HostState<S>)> {
        state.cap_memory((self.limits.memory_mb as usize) << 20);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        // Each tick: out of budget, stop the call; else let other tasks run
        // (a busy plugin never holds a thread for more than a tick). Through
        // tokio's own `yield_now`, which lets the runtime poll its I/O
        // driver first: a plain wake would put the spinning call straight
        // back in the run queue, and sockets (the component link itself)
        // would be read only every 61 of its ticks.
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.ticks_left == 0 {
                return Ok(UpdateDeadline::Interrupt);
            }
            state.ticks_left -= 1;
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        let mut instance = Instance::new(store, self.limits);
        instance.arm();
        let _ticking = epoch::TICKER.start();
        let instantiating = self.pre.instantiate_async(instance.store_mut());
        let plugin = match tokio::time::timeout(self.limits.call_timeout, instantiating).await {
            Ok(Ok(plugin)) => plugin,
            Ok(Err(e)) => {
                let error = instance.classify(e);
                return Err((error, instance.into_state()));
            }
            Err(_) => {
                let error = instance.timed_out();
                return Err((error, instance.into_state()));
            }
        };
        instance.set_plugin(plugin);
        Ok(instance)
    }
}
