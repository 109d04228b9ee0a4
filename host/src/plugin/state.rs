//! What one store holds: the WASI context (no files, no sockets, no
//! stdio), the wasi:http hooks with the operator's grants, the resource
//! table of contact handles, the memory cap, the running call's time
//! budget, and the session's own state `S`, which the runtime only carries.

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::SinkOutputStream;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::gatehouse::gateway::{roster, session, types};
use super::grants::Grant;
use super::http::HttpGrants;

/// Every import of the contract, implemented by the session's state; the
/// runtime links a plugin only against a state that has them all.
pub trait Imports:
    types::Host + roster::Host + roster::HostContact + session::Host + Send + 'static
{
}

impl<T> Imports for T where
    T: types::Host + roster::Host + roster::HostContact + session::Host + Send + 'static
{
}

/// The memory cap of one store. Growing past it traps the instance (a
/// plugin handed an allocation failure may mishandle it), and says so in a
/// flag the call path reads, rather than in an error text.
#[derive(Debug, Default)]
pub(super) struct MemoryCap {
    bytes: usize,
    /// Set when the instance asked for more than `bytes`.
    pub(super) exceeded: bool,
}

/// The trap a memory growth past the cap raises.
#[derive(Debug, thiserror::Error)]
#[error("the instance asked for {desired} bytes of memory, over its cap of {cap}")]
struct OverMemoryCap {
    desired: usize,
    cap: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.bytes {
            self.exceeded = true;
            return Err(OverMemoryCap {
                desired,
                cap: self.bytes,
            }
            .into());
        }
        Ok(maximum.is_none_or(|max| desired <= max))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

/// Everything an instance's host calls can reach.
pub struct HostState<S> {
    wasi: WasiCtx,
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_grants: HttpGrants,
    table: ResourceTable,
    session: Option<S>,
    pub(super) memory: MemoryCap,
    /// Epoch ticks the running call may still use.
    pub(super) ticks_left: u64,
}

impl<S> HostState<S> {
    /// State for an instance serving a session, whose plugin may reach
    /// `grants` over wasi:http.
    pub fn for_session(session: S, grants: Vec<Grant>) -> Self {
        Self::new(Some(session), grants)
    }

    /// State for the gateway's own instance, which serves no user (gateway
    /// info, registration checks, the id mapping).
    pub fn service() -> Self {
        Self::new(None, Vec::new())
    }

    fn new(session: Option<S>, grants: Vec<Grant>) -> Self {
        // No files, no environment, no sockets, no inherited stdio: what a
        // plugin prints goes nowhere (it logs through `session.log`).
        let wasi = WasiCtx::builder()
            .stdout(SinkOutputStream)
            .stderr(SinkOutputStream)
            .build();
        HostState {
            wasi,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            http_grants: HttpGrants::new(grants),
            table: ResourceTable::new(),
            session,
            memory: MemoryCap::default(),
            ticks_left: 0,
        }
    }

    /// Caps the store's linear memory.
    pub(super) fn cap_memory(&mut self, bytes: usize) {
        self.memory = MemoryCap {
            bytes,
            exceeded: false,
        };
    }

    /// The session's state, if this store serves a session.
    pub fn session(&mut self) -> Option<&mut S> {
        self.session.as_mut()
    }

    /// The session's state and the handle table, for an import that turns
    /// a handle into a contact and acts on it.
    pub fn parts(&mut self) -> (&mut ResourceTable, Option<&mut S>) {
        (&mut self.table, self.session.as_mut())
    }

    /// The table of resource handles the plugin holds.
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// Gives the session's state back, to build the next instance's.
    pub fn into_session(self) -> Option<S> {
        self.session
    }
}

impl<S: Send> wasmtime_wasi_http::WasiHttpView for HostState<S> {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            hooks: &mut self.http_grants,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

impl<S: Send> WasiView for HostState<S> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
