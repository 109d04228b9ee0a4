//! The plugin runtime: wasmtime, the compiled component, and instances.
//!
//! One [`PluginRuntime`] per plugin file: the engine compiles the component
//! once and links it into a pre-instantiated `PluginPre`; each session then
//! gets its own [`Instance`] (its own `Store`) in microseconds. A call that
//! traps poisons its store, so the instance is dropped and the session's
//! state, which lives in the store's data rather than in the guest, is
//! taken back with [`Instance::into_state`] for the next instance.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::SinkOutputStream;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use xmpp_parsers::chatstates::ChatState;

use crate::roster::{ContactId, Roster};
use crate::stanza::register::{FieldKind, FormField, RegistrationForm};

mod cache;
pub mod check;
pub mod epoch;
mod host;
mod http;
pub mod reload;
pub mod streams;

/// The bindings generated from `wit/`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gateway-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "gatehouse:gateway/roster.contact": super::ContactRef },
    });
}

use bindings::gatehouse::gateway::types as wit;

/// Why a plugin could not be loaded or called.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a component wasmtime can compile.
    #[error("plugin {path} does not compile: {reason}")]
    Compile {
        /// The file.
        path: PathBuf,
        /// wasmtime's reason.
        reason: String,
    },
    /// The component does not fit the contract.
    #[error("plugin {path} does not fit the gatehouse:gateway contract: {reason}")]
    Link {
        /// The file.
        path: PathBuf,
        /// wasmtime's reason.
        reason: String,
    },
    /// Instantiation failed.
    #[error("plugin instantiation failed: {0}")]
    Instantiate(String),
    /// A call trapped (a panic, an abort, a bad memory access…); the
    /// instance is dead.
    #[error("the plugin crashed: {0}")]
    Trap(String),
    /// A call ran past its deadline and was stopped; the instance is dead.
    #[error("the plugin ran past its {0} ms deadline and was stopped")]
    Deadline(u64),
    /// The instance asked for more memory than its cap; it is dead.
    #[error("the plugin used more than its {0} MiB of memory and was stopped")]
    Memory(u32),
}

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

/// The host's side of a `contact` resource handle: an index into the
/// session's roster. Handles are per store, so a new instance simply gets
/// new ones.
#[derive(Debug, Clone, Copy)]
pub struct ContactRef(pub ContactId);

/// Everything an instance's host calls can reach: its session's roster (the
/// user, the gateway's outbox and database) and an empty WASI context.
pub struct HostState {
    wasi: WasiCtx,
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_grants: http::HttpGrants,
    table: ResourceTable,
    session: Option<SessionData>,
    limits: StoreLimits,
    /// Epoch ticks the running call may still use.
    ticks_left: u64,
}

/// The session-side data of an instance, kept across instances.
pub struct SessionData {
    /// The user's contacts.
    pub roster: Roster,
    /// The registration form the user filled.
    pub registration: Vec<(String, String)>,
    /// Timers the plugin set during the running export, as (delay in ms,
    /// token); the session schedules them once it returns.
    pub timers: Vec<(u32, String)>,
    /// The network connections the host holds for the session.
    pub streams: streams::Streams,
}

impl HostState {
    /// State for an instance serving a session.
    pub fn for_session(data: SessionData) -> Self {
        Self::new(Some(data))
    }

    /// State for the gateway's own instance, which serves no user (gateway
    /// info, registration checks).
    pub fn service() -> Self {
        Self::new(None)
    }

    fn new(session: Option<SessionData>) -> Self {
        // No files, no environment, no sockets, no inherited stdio: what a
        // plugin prints goes nowhere (it logs through `session.log`).
        let wasi = WasiCtx::builder()
            .stdout(SinkOutputStream)
            .stderr(SinkOutputStream)
            .build();
        let grants = session
            .as_ref()
            .map(|data| data.streams.grants().to_vec())
            .unwrap_or_default();
        HostState {
            wasi,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            http_grants: http::HttpGrants::new(grants),
            table: ResourceTable::new(),
            session,
            limits: StoreLimits::default(),
            ticks_left: 0,
        }
    }

    /// The session data, if this state serves a session.
    pub fn session(&mut self) -> Option<&mut SessionData> {
        self.session.as_mut()
    }

    /// Gives the session data back, to build the next instance's state.
    pub fn into_session(self) -> Option<SessionData> {
        self.session
    }
}

impl wasmtime_wasi_http::WasiHttpView for HostState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            hooks: &mut self.http_grants,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A compiled, linked plugin, ready to instantiate.
pub struct PluginRuntime {
    engine: Engine,
    pre: bindings::GatewayPluginPre<HostState>,
    limits: Limits,
    /// What the plugin said about its network when it was loaded.
    pub info: GatewayInfo,
    /// The SHA-256 of the file it was loaded from: a reload of the same
    /// bytes is skipped.
    pub digest: [u8; 32],
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

/// The engine every plugin shares, with its epoch ticking (for call
/// deadlines) on a thread that ends with the engine. With `pool_instances`
/// slots, instances come from the pooling allocator, each slot sized for
/// the largest `memory_mb`.
pub fn engine(pool_instances: u32, max_memory_mb: u32) -> Result<Engine, PluginError> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if pool_instances > 0 {
        let memory = (max_memory_mb as usize) << 20;
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        // A component built by a language toolchain holds a few core
        // instances, memories and tables (adapters, runtimes).
        pool.total_component_instances(pool_instances)
            .total_core_instances(pool_instances.saturating_mul(8))
            .total_memories(pool_instances.saturating_mul(2))
            .total_tables(pool_instances.saturating_mul(8))
            .total_stacks(pool_instances)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(32)
            .max_component_instance_size(1 << 20)
            .max_memory_size(memory);
        config.memory_reservation(memory as u64);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config).map_err(|e| PluginError::Instantiate(e.to_string()))?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("gatehouse-epoch".into())
        .spawn(move || epoch::TICKER.run(weak))
        .map_err(|e| PluginError::Instantiate(format!("epoch thread: {e}")))?;
    Ok(engine)
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("network", &self.info.name)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PluginRuntime {
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
        let mut linker = Linker::<HostState>::new(engine);
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
    pub async fn instantiate(&self, mut state: HostState) -> Result<Instance, PluginError> {
        state.limits = StoreLimitsBuilder::new()
            .memory_size((self.limits.memory_mb as usize) << 20)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // Each tick: out of budget, stop the call; else let other tasks run
        // (a busy plugin never holds a thread for more than a tick).
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.ticks_left == 0 {
                return Ok(UpdateDeadline::Interrupt);
            }
            state.ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        });
        let mut instance = Instance {
            store,
            plugin: None,
            limits: self.limits,
        };
        instance.arm();
        let _ticking = epoch::TICKER.start();
        let plugin = self
            .pre
            .instantiate_async(&mut instance.store)
            .await
            .map_err(|e| instance.classify(e))?;
        instance.plugin = Some(plugin);
        Ok(instance)
    }
}

/// One live instance of a plugin with its store.
pub struct Instance {
    store: Store<HostState>,
    /// Set once instantiation succeeded.
    plugin: Option<bindings::GatewayPlugin>,
    limits: Limits,
}

/// A text message the user sent, as the plugin receives it.
#[derive(Debug, Clone)]
pub struct TextMessage {
    /// The body.
    pub body: String,
    /// The client's id for it.
    pub xmpp_id: Option<String>,
    /// The legacy id of the message it replies to.
    pub reply_to: Option<String>,
}

/// Calls an export of an instance with its time budget armed, and
/// classifies a failure (deadline, memory cap, crash).
macro_rules! call {
    ($instance:ident . $method:ident ( $($arg:expr),* )) => {{
        $instance.arm();
        let _ticking = epoch::TICKER.start();
        let plugin = $instance
            .plugin
            .as_ref()
            .ok_or_else(|| PluginError::Instantiate("not instantiated".into()))?;
        // `call_login` → `login`.
        let export = &stringify!($method)["call_".len()..];
        let started = std::time::Instant::now();
        let result = tracing::Instrument::instrument(
            plugin
                .gatehouse_gateway_plugin()
                .$method(&mut $instance.store $(, $arg)*),
            tracing::debug_span!("plugin_call", export),
        )
        .await;
        let result = result.map_err(|e| $instance.classify(e));
        counted(export, started, result)
    }};
}

/// Counts a finished call in the metrics; returns its result.
fn counted<R>(
    export: &'static str,
    started: std::time::Instant,
    result: Result<R, PluginError>,
) -> Result<R, PluginError> {
    let failure = match &result {
        Ok(_) => None,
        Err(PluginError::Deadline(_)) => Some("deadline"),
        Err(PluginError::Memory(_)) => Some("memory"),
        Err(_) => Some("trap"),
    };
    crate::metrics::METRICS.plugin_call(export, started.elapsed(), failure);
    result
}

impl Instance {
    /// Gives the next call its full time budget.
    fn arm(&mut self) {
        let ticks = self.limits.call_timeout.as_millis() / epoch::EPOCH_TICK.as_millis();
        self.store.data_mut().ticks_left = u64::try_from(ticks).unwrap_or(u64::MAX);
        self.store.set_epoch_deadline(1);
    }

    /// What a failed call means: a deadline, the memory cap, or a crash.
    fn classify(&self, error: wasmtime::Error) -> PluginError {
        if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return PluginError::Deadline(self.limits.call_timeout.as_millis() as u64);
        }
        let text = format!("{error:?}");
        if text.contains("forcing trap when growing memory") {
            return PluginError::Memory(self.limits.memory_mb);
        }
        PluginError::Trap(text)
    }

    /// The state, taken back from a dead or finished instance.
    pub fn into_state(self) -> HostState {
        self.store.into_data()
    }

    /// The host state, for the session to read between calls.
    pub fn state(&mut self) -> &mut HostState {
        self.store.data_mut()
    }

    /// `gateway-info`.
    pub async fn gateway_info(&mut self) -> Result<GatewayInfo, PluginError> {
        let info = call!(self.call_gateway_info())?;
        Ok(GatewayInfo {
            form: RegistrationForm {
                title: format!("Registration to {}", info.name),
                instructions: info.instructions,
                fields: info
                    .registration_fields
                    .into_iter()
                    .map(|f| FormField {
                        var: f.var,
                        label: f.label,
                        kind: match f.kind {
                            wit::FieldKind::TextSingle => FieldKind::TextSingle,
                            wit::FieldKind::TextPrivate => FieldKind::TextPrivate,
                            wit::FieldKind::Boolean => FieldKind::Boolean,
                        },
                        required: f.required,
                        default_value: f.default_value,
                    })
                    .collect(),
            },
            name: info.name,
            network_type: info.network_type,
        })
    }

    /// `validate-registration`.
    pub async fn validate_registration(
        &mut self,
        form: &[(String, String)],
    ) -> Result<Result<(), String>, PluginError> {
        call!(self.call_validate_registration(&form.to_vec()))
    }

    /// `login`.
    pub async fn login(&mut self) -> Result<Result<String, String>, PluginError> {
        call!(self.call_login())
    }

    /// `logout`.
    pub async fn logout(&mut self) -> Result<(), PluginError> {
        call!(self.call_logout())
    }

    /// `fill-roster`.
    pub async fn fill_roster(&mut self) -> Result<Result<(), String>, PluginError> {
        call!(self.call_fill_roster())
    }

    /// `jid-username-to-legacy-id`.
    pub async fn jid_username_to_legacy_id(
        &mut self,
        username: &str,
        unescaped: &str,
    ) -> Result<Result<String, String>, PluginError> {
        call!(self.call_jid_username_to_legacy_id(username, unescaped))
    }

    /// `on-text`.
    pub async fn on_text(
        &mut self,
        contact: ContactId,
        message: TextMessage,
    ) -> Result<Result<Option<String>, String>, PluginError> {
        let message = wit::TextMessage {
            body: message.body,
            xmpp_id: message.xmpp_id,
            reply_to: message.reply_to,
        };
        self.with_contact("on_text", contact, async |plugin, store, handle| {
            plugin.call_on_text(store, handle, &message).await
        })
        .await
    }

    /// `update-contact-info`.
    pub async fn update_contact_info(
        &mut self,
        contact: ContactId,
    ) -> Result<Result<(), String>, PluginError> {
        self.with_contact(
            "update_contact_info",
            contact,
            async |plugin, store, handle| plugin.call_update_contact_info(store, handle).await,
        )
        .await
    }

    /// `fetch-vcard`.
    pub async fn fetch_vcard(
        &mut self,
        contact: ContactId,
    ) -> Result<Result<(), String>, PluginError> {
        self.with_contact("fetch_vcard", contact, async |plugin, store, handle| {
            plugin.call_fetch_vcard(store, handle).await
        })
        .await
    }

    /// `on-timer`.
    pub async fn on_timer(&mut self, token: &str) -> Result<(), PluginError> {
        call!(self.call_on_timer(token))
    }

    /// `on-stream-data`.
    pub async fn on_stream_data(&mut self, stream: u32, data: &[u8]) -> Result<(), PluginError> {
        call!(self.call_on_stream_data(stream, data))
    }

    /// `on-stream-closed`.
    pub async fn on_stream_closed(
        &mut self,
        stream: u32,
        reason: Option<&str>,
    ) -> Result<(), PluginError> {
        call!(self.call_on_stream_closed(stream, reason))
    }

    /// `on-chat-state`.
    pub async fn on_chat_state(
        &mut self,
        contact: ContactId,
        state: ChatState,
    ) -> Result<(), PluginError> {
        let state = match state {
            ChatState::Active => wit::ChatState::Active,
            ChatState::Composing => wit::ChatState::Composing,
            ChatState::Paused => wit::ChatState::Paused,
            ChatState::Inactive => wit::ChatState::Inactive,
            ChatState::Gone => wit::ChatState::Gone,
        };
        self.with_contact("on_chat_state", contact, async |plugin, store, handle| {
            plugin.call_on_chat_state(store, handle, state).await
        })
        .await
    }

    /// `on-displayed`.
    pub async fn on_displayed(
        &mut self,
        contact: ContactId,
        legacy_ids: Vec<String>,
    ) -> Result<(), PluginError> {
        self.with_contact("on_displayed", contact, async |plugin, store, handle| {
            plugin.call_on_displayed(store, handle, &legacy_ids).await
        })
        .await
    }

    /// `on-correct`.
    pub async fn on_correct(
        &mut self,
        contact: ContactId,
        legacy_id: &str,
        body: &str,
    ) -> Result<Result<(), String>, PluginError> {
        self.with_contact("on_correct", contact, async |plugin, store, handle| {
            plugin.call_on_correct(store, handle, legacy_id, body).await
        })
        .await
    }

    /// `on-retract`.
    pub async fn on_retract(
        &mut self,
        contact: ContactId,
        legacy_id: &str,
    ) -> Result<Result<(), String>, PluginError> {
        self.with_contact("on_retract", contact, async |plugin, store, handle| {
            plugin.call_on_retract(store, handle, legacy_id).await
        })
        .await
    }

    /// `on-react`.
    pub async fn on_react(
        &mut self,
        contact: ContactId,
        legacy_id: &str,
        emojis: Vec<String>,
    ) -> Result<Result<(), String>, PluginError> {
        self.with_contact("on_react", contact, async |plugin, store, handle| {
            plugin
                .call_on_react(store, handle, legacy_id, &emojis)
                .await
        })
        .await
    }

    /// Calls an export with a handle on a contact, lent for the call.
    async fn with_contact<R>(
        &mut self,
        export: &'static str,
        contact: ContactId,
        call: impl AsyncFnOnce(
            &bindings::exports::gatehouse::gateway::plugin::Guest,
            &mut Store<HostState>,
            wasmtime::component::Resource<ContactRef>,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let handle = self
            .store
            .data_mut()
            .table
            .push(ContactRef(contact))
            .map_err(|e| PluginError::Trap(e.to_string()))?;
        let borrowed = wasmtime::component::Resource::<ContactRef>::new_borrow(handle.rep());
        self.arm();
        let _ticking = epoch::TICKER.start();
        let plugin = self
            .plugin
            .as_ref()
            .ok_or_else(|| PluginError::Instantiate("not instantiated".into()))?;
        let started = std::time::Instant::now();
        let result = tracing::Instrument::instrument(
            call(plugin.gatehouse_gateway_plugin(), &mut self.store, borrowed),
            tracing::debug_span!("plugin_call", export),
        )
        .await;
        let result = result.map_err(|e| self.classify(e));
        let result = counted(export, started, result);
        // The handle was only lent; a dead store needs no cleanup.
        if result.is_ok() {
            let _ = self.store.data_mut().table.delete(handle);
        }
        result
    }
}
