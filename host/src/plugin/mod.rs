//! The plugin runtime: wasmtime, the compiled component, and instances.
//!
//! One [`PluginRuntime`] per plugin file: the engine compiles the component
//! once and links it into a pre-instantiated `PluginPre`; each session then
//! gets its own [`Instance`] (its own `Store`) in microseconds. A call that
//! traps poisons its store, so the instance is dropped and the session's
//! state, which lives in the store's data rather than in the guest, is
//! taken back with [`Instance::into_state`] for the next instance.

use std::path::{Path, PathBuf};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use xmpp_parsers::chatstates::ChatState;

use crate::roster::{ContactId, Roster};
use crate::stanza::register::{FieldKind, FormField, RegistrationForm};

mod host;

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
    table: ResourceTable,
    session: Option<SessionData>,
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
        HostState {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            table: ResourceTable::new(),
            session,
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
    /// What the plugin said about its network when it was loaded.
    pub info: GatewayInfo,
}

/// The engine every plugin shares.
pub fn engine() -> Result<Engine, PluginError> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    Engine::new(&config).map_err(|e| PluginError::Instantiate(e.to_string()))
}

impl PluginRuntime {
    /// Compiles and links a plugin file (compilation runs on a blocking
    /// thread: it takes tens of milliseconds to seconds), then asks it about
    /// its network.
    pub async fn load(engine: &Engine, path: &Path) -> Result<Self, PluginError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| PluginError::Read {
                path: path.to_owned(),
                source,
            })?;
        let compile_engine = engine.clone();
        let component =
            tokio::task::spawn_blocking(move || Component::new(&compile_engine, &bytes))
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
        bindings::GatewayPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(link_error)?;
        let pre = linker.instantiate_pre(&component).map_err(link_error)?;
        let pre = bindings::GatewayPluginPre::new(pre).map_err(link_error)?;
        let mut runtime = PluginRuntime {
            engine: engine.clone(),
            pre,
            info: GatewayInfo {
                name: String::new(),
                network_type: String::new(),
                form: RegistrationForm {
                    title: String::new(),
                    instructions: String::new(),
                    fields: vec![],
                },
            },
        };
        let mut service = runtime.instantiate(HostState::service()).await?;
        runtime.info = service.gateway_info().await?;
        Ok(runtime)
    }

    /// A new instance owning `state`.
    pub async fn instantiate(&self, state: HostState) -> Result<Instance, PluginError> {
        let mut store = Store::new(&self.engine, state);
        let plugin = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| PluginError::Instantiate(format!("{e:#}")))?;
        Ok(Instance { store, plugin })
    }
}

/// One live instance of a plugin with its store.
pub struct Instance {
    store: Store<HostState>,
    plugin: bindings::GatewayPlugin,
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

fn trap(e: wasmtime::Error) -> PluginError {
    PluginError::Trap(format!("{e:?}"))
}

impl Instance {
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
        let info = self
            .plugin
            .gatehouse_gateway_plugin()
            .call_gateway_info(&mut self.store)
            .await
            .map_err(trap)?;
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
        self.plugin
            .gatehouse_gateway_plugin()
            .call_validate_registration(&mut self.store, &form.to_vec())
            .await
            .map_err(trap)
    }

    /// `login`.
    pub async fn login(&mut self) -> Result<Result<String, String>, PluginError> {
        self.plugin
            .gatehouse_gateway_plugin()
            .call_login(&mut self.store)
            .await
            .map_err(trap)
    }

    /// `logout`.
    pub async fn logout(&mut self) -> Result<(), PluginError> {
        self.plugin
            .gatehouse_gateway_plugin()
            .call_logout(&mut self.store)
            .await
            .map_err(trap)
    }

    /// `fill-roster`.
    pub async fn fill_roster(&mut self) -> Result<Result<(), String>, PluginError> {
        self.plugin
            .gatehouse_gateway_plugin()
            .call_fill_roster(&mut self.store)
            .await
            .map_err(trap)
    }

    /// `jid-username-to-legacy-id`.
    pub async fn jid_username_to_legacy_id(
        &mut self,
        username: &str,
        unescaped: &str,
    ) -> Result<Result<String, String>, PluginError> {
        self.plugin
            .gatehouse_gateway_plugin()
            .call_jid_username_to_legacy_id(&mut self.store, username, unescaped)
            .await
            .map_err(trap)
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
        self.with_contact(contact, async |plugin, store, handle| {
            plugin.call_on_text(store, handle, &message).await
        })
        .await
    }

    /// `update-contact-info`.
    pub async fn update_contact_info(
        &mut self,
        contact: ContactId,
    ) -> Result<Result<(), String>, PluginError> {
        self.with_contact(contact, async |plugin, store, handle| {
            plugin.call_update_contact_info(store, handle).await
        })
        .await
    }

    /// `fetch-vcard`.
    pub async fn fetch_vcard(
        &mut self,
        contact: ContactId,
    ) -> Result<Result<(), String>, PluginError> {
        self.with_contact(contact, async |plugin, store, handle| {
            plugin.call_fetch_vcard(store, handle).await
        })
        .await
    }

    /// `on-timer`.
    pub async fn on_timer(&mut self, token: &str) -> Result<(), PluginError> {
        self.plugin
            .gatehouse_gateway_plugin()
            .call_on_timer(&mut self.store, token)
            .await
            .map_err(trap)
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
        self.with_contact(contact, async |plugin, store, handle| {
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
        self.with_contact(contact, async |plugin, store, handle| {
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
        self.with_contact(contact, async |plugin, store, handle| {
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
        self.with_contact(contact, async |plugin, store, handle| {
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
        self.with_contact(contact, async |plugin, store, handle| {
            plugin
                .call_on_react(store, handle, legacy_id, &emojis)
                .await
        })
        .await
    }

    /// Calls an export with a handle on a contact, lent for the call.
    async fn with_contact<R>(
        &mut self,
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
        let result = call(
            self.plugin.gatehouse_gateway_plugin(),
            &mut self.store,
            borrowed,
        )
        .await
        .map_err(trap);
        // The handle was only lent; a dead store needs no cleanup.
        if result.is_ok() {
            let _ = self.store.data_mut().table.delete(handle);
        }
        result
    }
}
