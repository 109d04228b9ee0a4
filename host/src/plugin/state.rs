//! What one store holds: the WASI context (no files, no sockets, no
//! stdio), the wasi:http hooks with the operator's grants, the resource
//! table of contact handles, the memory cap, the running call's time
//! budget, and the session's own state `S`, which the runtime only carries.

use std::sync::Arc;

use tokio_rustls::rustls::ClientConfig;
use wasmtime::ResourceLimiter;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::pipe::SinkOutputStream;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::ContactRef;
use super::bindings::gatehouse::gateway::{groups, roster, session, types};
use super::grants::Grant;
use super::http::HttpGrants;

/// Every import of the contract, implemented by the session's state; the
/// runtime links a plugin only against a state that has them all.
pub trait Imports:
    types::Host
    + roster::Host
    + roster::HostContact
    + groups::Host
    + groups::HostMuc
    + groups::HostParticipant
    + session::Host
    + Send
    + 'static
{
}

impl<T> Imports for T where
    T: types::Host
        + roster::Host
        + roster::HostContact
        + groups::Host
        + groups::HostMuc
        + groups::HostParticipant
        + session::Host
        + Send
        + 'static
{
}

/// The memory cap of one store: its linear memories and its tables
/// together (a component may have several of each), each table element
/// counted as [`TABLE_ELEMENT_BYTES`]. Any growth that cannot be granted
/// traps the instance rather than hand the plugin a failure it may
/// mishandle; growth past the cap (or a memory's own maximum) also says so
/// in a flag the call path reads, rather than in an error text.
#[derive(Debug, Default)]
pub(super) struct MemoryCap {
    bytes: usize,
    /// What the store's memories and tables hold now.
    used: usize,
    /// Set when the instance asked for more memory than it may have.
    pub(super) exceeded: bool,
}

/// What one table element costs the host (a function reference and its
/// bookkeeping), for the cap.
const TABLE_ELEMENT_BYTES: usize = 16;

/// Most core instances, memories and tables one store may make: a
/// component of an interpreter (CPython) makes a few dozen instances and
/// a handful of memories and tables; far more is an attack on the cap.
const MAX_INSTANCES: usize = 100;
const MAX_MEMORIES: usize = 16;
const MAX_TABLES: usize = 100;

/// The trap a growth that cannot be granted raises.
#[derive(Debug, thiserror::Error)]
enum GrowthRefused {
    #[error("the instance asked for {desired} bytes of memory and tables, over its cap of {cap}")]
    Memory { desired: usize, cap: usize },
    #[error("the instance asked for {desired} table elements, over the table's maximum")]
    Table { desired: usize },
}

impl MemoryCap {
    /// Takes `more` bytes out of what is left, or flags the store.
    fn grow(&mut self, less: usize, more: usize) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(less).saturating_add(more);
        if total > self.bytes {
            self.exceeded = true;
            return Err(GrowthRefused::Memory {
                desired: total,
                cap: self.bytes,
            }
            .into());
        }
        self.used = total;
        Ok(true)
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(max) = maximum
            && desired > max
        {
            self.exceeded = true;
            return Err(GrowthRefused::Memory { desired, cap: max }.into());
        }
        self.grow(current, desired)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("the system could not grow the instance's memory"))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Err(GrowthRefused::Table { desired }.into());
        }
        self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("the system could not grow a table of the instance"))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

/// Most contact handles one instance may hold at once. A plugin that never
/// drops the handles it is given would otherwise grow the host's table
/// without bound, outside its memory cap; past this it is stopped (and
/// restarted with an empty table), as one past its memory cap is.
pub const MAX_CONTACT_HANDLES: usize = 65_536;

/// Why a contact handle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The instance holds [`MAX_CONTACT_HANDLES`] already.
    #[error("the plugin holds {MAX_CONTACT_HANDLES} contact handles without dropping them")]
    TooMany,
    /// The resource table refused.
    #[error(transparent)]
    Table(#[from] wasmtime::component::ResourceTableError),
}

/// Everything an instance's host calls can reach.
pub struct HostState<S> {
    wasi: WasiCtx,
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_grants: HttpGrants,
    table: ResourceTable,
    /// Contact handles the plugin holds.
    contact_handles: usize,
    session: Option<S>,
    pub(super) memory: MemoryCap,
    /// Epoch ticks the running call may still use.
    pub(super) ticks_left: u64,
}

impl<S> HostState<S> {
    /// State for an instance serving a session, whose plugin may reach
    /// `grants` over wasi:http, trusting `tls` for HTTPS.
    pub fn for_session(session: S, grants: Vec<Grant>, tls: Arc<ClientConfig>) -> Self {
        Self::new(Some(session), HttpGrants::new(grants, Some(tls)))
    }

    /// State for the gateway's own instance, which serves no user (gateway
    /// info, registration checks, the id mapping).
    pub fn service() -> Self {
        Self::new(None, HttpGrants::new(Vec::new(), None))
    }

    fn new(session: Option<S>, http_grants: HttpGrants) -> Self {
        // No files, no environment, no sockets, no inherited stdio: what a
        // plugin prints goes nowhere (it logs through `session.log`).
        let wasi = WasiCtx::builder()
            .stdout(SinkOutputStream)
            .stderr(SinkOutputStream)
            .build();
        HostState {
            wasi,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            http_grants,
            table: ResourceTable::new(),
            contact_handles: 0,
            session,
            memory: MemoryCap::default(),
            ticks_left: 0,
        }
    }

    /// Caps the store's linear memory.
    pub(super) fn cap_memory(&mut self, bytes: usize) {
        self.memory = MemoryCap {
            bytes,
            ..MemoryCap::default()
        };
    }

    /// The session's state, if this store serves a session.
    pub fn session(&mut self) -> Option<&mut S> {
        self.session.as_mut()
    }

    /// The contact index behind a handle and the session's state, for an
    /// import that acts on the contact.
    pub fn contact_and_session(
        &mut self,
        handle: &Resource<ContactRef>,
    ) -> Result<(usize, Option<&mut S>), HandleError> {
        let id = self.table.get(handle)?.0;
        Ok((id, self.session.as_mut()))
    }

    /// A new handle on the contact with index `id`, for the plugin.
    pub fn push_contact(&mut self, id: usize) -> Result<Resource<ContactRef>, HandleError> {
        self.push_handle(ContactRef(id))
    }

    /// The plugin dropped a contact handle.
    pub fn drop_contact(&mut self, handle: Resource<ContactRef>) -> Result<(), HandleError> {
        self.drop_handle(handle)
    }

    /// The contact index behind a handle the plugin passed.
    pub fn contact(&self, handle: &Resource<ContactRef>) -> Result<usize, HandleError> {
        Ok(self.table.get(handle)?.0)
    }

    /// A new handle of any resource (contact, room, participant), counted
    /// against one cap.
    pub fn push_handle<T: Send + 'static>(&mut self, value: T) -> Result<Resource<T>, HandleError> {
        if self.contact_handles >= MAX_CONTACT_HANDLES {
            return Err(HandleError::TooMany);
        }
        let handle = self.table.push(value)?;
        self.contact_handles += 1;
        Ok(handle)
    }

    /// The plugin dropped a handle.
    pub fn drop_handle<T: 'static>(&mut self, handle: Resource<T>) -> Result<(), HandleError> {
        self.table.delete(handle)?;
        self.contact_handles = self.contact_handles.saturating_sub(1);
        Ok(())
    }

    /// What a handle stands for.
    pub fn handle<T: Copy + 'static>(&self, handle: &Resource<T>) -> Result<T, HandleError> {
        Ok(*self.table.get(handle)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_share_one_cap() {
        let mut cap = MemoryCap {
            bytes: 10 << 20,
            ..MemoryCap::default()
        };
        // Two memories of 4 MiB each fit; a third does not.
        assert!(cap.memory_growing(0, 4 << 20, None).unwrap());
        assert!(cap.memory_growing(0, 4 << 20, None).unwrap());
        assert!(cap.memory_growing(0, 4 << 20, None).is_err());
        assert!(cap.exceeded);
        // A table's elements count against what is left.
        let mut cap = MemoryCap {
            bytes: 1 << 20,
            ..MemoryCap::default()
        };
        assert!(cap.memory_growing(0, 512 << 10, None).unwrap());
        assert!(cap.table_growing(0, 1000, None).unwrap());
        assert!(
            cap.table_growing(1000, 1 << 20, None).is_err(),
            "16 MiB of elements"
        );
        // Growing a memory counts only what it adds.
        let mut cap = MemoryCap {
            bytes: 8 << 20,
            ..MemoryCap::default()
        };
        assert!(cap.memory_growing(0, 4 << 20, None).unwrap());
        assert!(cap.memory_growing(4 << 20, 8 << 20, None).unwrap());
        assert!(cap.memory_growing(8 << 20, (8 << 20) + 1, None).is_err());
    }
}
