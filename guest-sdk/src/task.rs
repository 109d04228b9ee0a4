//! An optional async layer: [`spawn`] a future that can [`sleep`], read a
//! [`Stream`] or wait for an HTTP response ([`crate::http`]) instead of
//! writing callbacks.
//!
//! The host calls a plugin only on events (a message, a timer, stream data,
//! an HTTP response) and each call must return promptly. This module runs
//! futures between those calls: a task runs until it waits; what it waits
//! for arrives as an event (`on-timer`, `on-stream-data`,
//! `on-stream-closed`, `on-http-response`) that `export_plugin!` hands here
//! before the plugin's own handlers, and the task resumes inside that call.
//! Nothing blocks and nothing polls: the host calls the plugin when what a
//! task waits for is there, so no call runs into the host's deadline while
//! a network answer is on its way.
//!
//! Tasks live in the plugin instance: a plugin crash or a reload drops them,
//! like any other state that is not in the host's key-value store.
//!
//! ```no_run
//! use gatehouse_guest::{Contact, task};
//!
//! /// Called from a handler, which owns the contact: the task keeps it.
//! fn remind(contact: Contact) {
//!     task::spawn(async move {
//!         task::sleep(60_000).await;
//!         let _ = contact.send_text("a minute has passed");
//!     });
//! }
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::{HttpResponse, session};

/// Timer tokens of this layer start with this; [`crate::Plugin::on_timer`]
/// never sees them.
pub const TIMER_PREFIX: &str = "\u{0}gatehouse-task:";

type Task = Pin<Box<dyn Future<Output = ()>>>;

#[derive(Default)]
struct Executor {
    tasks: HashMap<u64, Task>,
    next_task: u64,
    next_timer: u64,
    timers: HashMap<u64, Slot<()>>,
    /// The streams of [`Stream`]s, and the bodies of [`crate::http`]'s
    /// requests (the host gives both the same events).
    streams: HashMap<u32, StreamSlot>,
    /// The heads of [`crate::http`]'s requests, until they arrive.
    responses: HashMap<u32, Slot<Result<HttpResponse, String>>>,
}

/// Something a task waits for, and the task to wake when it comes.
struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

#[derive(Default)]
struct StreamSlot {
    buffer: Vec<u8>,
    /// Set when the stream ended: `Some(None)` closed by the peer,
    /// `Some(Some(reason))` failed.
    closed: Option<Option<String>>,
    waker: Option<Waker>,
    /// No one reads it any more (an HTTP request dropped before its end):
    /// its events are swallowed until it ends.
    orphan: bool,
}

thread_local! {
    static EXECUTOR: RefCell<Executor> = RefCell::default();
}

/// Tasks woken and waiting for their turn (a `Waker` must be `Send`, so
/// this is a plain global even though a plugin has one thread).
static READY: Mutex<Vec<u64>> = Mutex::new(Vec::new());

struct TaskWaker(u64);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        if let Ok(mut ready) = READY.lock() {
            ready.push(self.0);
        }
    }
}

/// Starts a task: it runs now until it first waits, then whenever what it
/// waits for arrives.
pub fn spawn(future: impl Future<Output = ()> + 'static) {
    let id = EXECUTOR.with(|e| {
        let mut e = e.borrow_mut();
        e.next_task += 1;
        let id = e.next_task;
        e.tasks.insert(id, Box::pin(future));
        id
    });
    Arc::new(TaskWaker(id)).wake();
    run();
}

/// How many tasks are waiting (for tests and logs).
pub fn pending_tasks() -> usize {
    EXECUTOR.with(|e| e.borrow().tasks.len())
}

/// Polls every woken task until none is ready.
fn run() {
    loop {
        let next = READY.lock().ok().and_then(|mut ready| ready.pop());
        let Some(id) = next else { return };
        // The task is taken out while it runs: it may spawn or wait, which
        // borrows the executor.
        let Some(mut task) = EXECUTOR.with(|e| e.borrow_mut().tasks.remove(&id)) else {
            continue;
        };
        let waker = Waker::from(Arc::new(TaskWaker(id)));
        if task
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
        {
            EXECUTOR.with(|e| e.borrow_mut().tasks.insert(id, task));
        }
    }
}

/// Waits `ms` milliseconds (a host timer: the plugin is not running
/// meanwhile).
pub fn sleep(ms: u32) -> Sleep {
    Sleep { ms, timer: None }
}

/// The future of [`sleep`].
pub struct Sleep {
    ms: u32,
    timer: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(timer) = self.timer else {
            let ms = self.ms;
            let timer = EXECUTOR.with(|e| {
                let mut e = e.borrow_mut();
                e.next_timer += 1;
                let timer = e.next_timer;
                e.timers.insert(
                    timer,
                    Slot {
                        value: None,
                        waker: Some(cx.waker().clone()),
                    },
                );
                timer
            });
            session::set_timer(ms, &format!("{TIMER_PREFIX}{timer}"));
            self.timer = Some(timer);
            return Poll::Pending;
        };
        EXECUTOR.with(|e| {
            let mut e = e.borrow_mut();
            match e.timers.get_mut(&timer) {
                Some(slot) if slot.value.is_some() => {
                    e.timers.remove(&timer);
                    Poll::Ready(())
                }
                Some(slot) => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                None => Poll::Ready(()),
            }
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(timer) = self.timer {
            EXECUTOR.with(|e| e.borrow_mut().timers.remove(&timer));
        }
    }
}

/// A TCP or TLS stream read with `.await` (the host holds the connection;
/// see `session.open-stream`).
pub struct Stream {
    id: u32,
}

impl Stream {
    /// Opens a TCP connection to a host and port the operator granted.
    pub fn connect(host: &str, port: u16) -> Result<Stream, crate::Error> {
        session::open_stream(host, port).map(Self::adopt)
    }

    /// Opens a TLS connection (the certificate must be valid for `host`).
    pub fn connect_tls(host: &str, port: u16) -> Result<Stream, crate::Error> {
        session::open_tls_stream(host, port).map(Self::adopt)
    }

    fn adopt(id: u32) -> Stream {
        EXECUTOR.with(|e| e.borrow_mut().streams.insert(id, StreamSlot::default()));
        Stream { id }
    }

    /// The host's id of the stream.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Queues bytes to send (the order is kept).
    pub fn write(&self, data: &[u8]) -> Result<(), crate::Error> {
        session::stream_write(self.id, data)
    }

    /// What arrived since the last read, waiting until something does;
    /// `Err` once the stream ended, with the reason if it failed.
    pub fn read(&self) -> Read<'_> {
        Read::new(self.id)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        EXECUTOR.with(|e| e.borrow_mut().streams.remove(&self.id));
        session::close_stream(self.id);
    }
}

/// The future of [`Stream::read`].
pub struct Read<'a> {
    id: u32,
    /// Borrows what owns the stream's slot, so that it outlives the read.
    owner: PhantomData<&'a ()>,
}

impl Read<'_> {
    fn new(id: u32) -> Self {
        Read {
            id,
            owner: PhantomData,
        }
    }
}

/// How a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// The other side closed it.
    ByPeer,
    /// It failed, with the host's reason.
    Failed(String),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::ByPeer => f.write_str("the stream was closed by the other side"),
            Closed::Failed(reason) => f.write_str(reason),
        }
    }
}

impl Future for Read<'_> {
    type Output = Result<Vec<u8>, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        EXECUTOR.with(|e| {
            let mut e = e.borrow_mut();
            let Some(slot) = e.streams.get_mut(&self.id) else {
                return Poll::Ready(Err(Closed::Failed("the stream is gone".into())));
            };
            if !slot.buffer.is_empty() {
                return Poll::Ready(Ok(std::mem::take(&mut slot.buffer)));
            }
            match &slot.closed {
                Some(None) => Poll::Ready(Err(Closed::ByPeer)),
                Some(Some(reason)) => Poll::Ready(Err(Closed::Failed(reason.clone()))),
                None => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

/// Hands a timer event to the task waiting for it; false if the token is
/// not this layer's (then it is the plugin's).
#[doc(hidden)]
pub fn on_timer(token: &str) -> bool {
    let Some(id) = token.strip_prefix(TIMER_PREFIX) else {
        return false;
    };
    let waker = id.parse::<u64>().ok().and_then(|id| {
        EXECUTOR.with(|e| {
            let mut e = e.borrow_mut();
            let slot = e.timers.get_mut(&id)?;
            slot.value = Some(());
            slot.waker.take()
        })
    });
    if let Some(waker) = waker {
        waker.wake();
    }
    run();
    true
}

/// Hands stream data to the [`Stream`] that owns the stream; false if no
/// `Stream` does (then it is the plugin's).
#[doc(hidden)]
pub fn on_stream_data(id: u32, data: &[u8]) -> bool {
    stream_event(id, |slot| slot.buffer.extend_from_slice(data))
}

/// Hands the end of a stream to its [`Stream`]; false if no `Stream` owns
/// it.
#[doc(hidden)]
pub fn on_stream_closed(id: u32, reason: Option<String>) -> bool {
    stream_event(id, |slot| slot.closed = Some(reason))
}

fn stream_event(id: u32, update: impl FnOnce(&mut StreamSlot)) -> bool {
    let found = EXECUTOR.with(|e| {
        let mut e = e.borrow_mut();
        let slot = e.streams.get_mut(&id)?;
        update(slot);
        if slot.orphan {
            slot.buffer.clear();
            if slot.closed.is_some() {
                e.streams.remove(&id);
            }
            return Some(None);
        }
        Some(slot.waker.take())
    });
    match found {
        None => false,
        Some(waker) => {
            if let Some(waker) = waker {
                waker.wake();
            }
            run();
            true
        }
    }
}

/// Hands the head of an HTTP response to the [`crate::http`] request
/// waiting for it; gives it back if no request of this layer has that id
/// (then it is the plugin's).
#[doc(hidden)]
pub fn on_http_response(
    id: u32,
    response: Result<HttpResponse, String>,
) -> Option<Result<HttpResponse, String>> {
    let found = EXECUTOR.with(|e| {
        let mut e = e.borrow_mut();
        if let Some(slot) = e.responses.get_mut(&id) {
            slot.value = Some(response);
            return Ok(slot.waker.take());
        }
        match e.streams.get(&id) {
            Some(slot) if slot.orphan => {
                // A dropped request: a failed one has no body to wait for.
                if response.is_err() {
                    e.streams.remove(&id);
                }
                Ok(None)
            }
            _ => Err(response),
        }
    });
    match found {
        Err(response) => Some(response),
        Ok(waker) => {
            if let Some(waker) = waker {
                waker.wake();
            }
            run();
            None
        }
    }
}

/// An HTTP request of this layer, sent by the host as `id`: its head comes
/// to [`on_http_response`], its body to the stream slot of the same id.
/// Dropped before the end (its task gone), it is closed, and the events
/// already on their way are swallowed.
pub(crate) struct Exchange {
    id: u32,
    /// True once nothing more comes for it (the body ended, or the request
    /// failed).
    ended: bool,
}

impl Exchange {
    /// Waits for the answer to request `id` (just returned by
    /// `session.http-request`).
    pub(crate) fn new(id: u32) -> Exchange {
        EXECUTOR.with(|e| {
            let mut e = e.borrow_mut();
            e.responses.insert(
                id,
                Slot {
                    value: None,
                    waker: None,
                },
            );
            e.streams.insert(id, StreamSlot::default());
        });
        Exchange { id, ended: false }
    }

    /// The head of the response, or why the request failed.
    pub(crate) fn head(&mut self) -> Head<'_> {
        Head { exchange: self }
    }

    /// The whole body (after the head), or why it failed.
    pub(crate) async fn body(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            match Read::new(self.id).await {
                Ok(chunk) => body.extend(chunk),
                Err(Closed::ByPeer) => break,
                Err(Closed::Failed(reason)) => {
                    self.ended = true;
                    return Err(reason);
                }
            }
        }
        self.ended = true;
        Ok(body)
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        EXECUTOR.with(|e| {
            let mut e = e.borrow_mut();
            e.responses.remove(&self.id);
            match e.streams.get_mut(&self.id) {
                Some(slot) if !self.ended && slot.closed.is_none() => {
                    slot.orphan = true;
                    slot.buffer.clear();
                    slot.waker = None;
                    session::close_stream(self.id);
                }
                _ => {
                    e.streams.remove(&self.id);
                }
            }
        });
    }
}

/// The future of [`Exchange::head`].
pub(crate) struct Head<'a> {
    exchange: &'a mut Exchange,
}

impl Future for Head<'_> {
    type Output = Result<HttpResponse, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.exchange.id;
        let head = EXECUTOR.with(|e| {
            let mut e = e.borrow_mut();
            let Some(slot) = e.responses.get_mut(&id) else {
                return Some(Err("the response is gone".to_owned()));
            };
            match slot.value.take() {
                Some(head) => {
                    e.responses.remove(&id);
                    Some(head)
                }
                None => {
                    slot.waker = Some(cx.waker().clone());
                    None
                }
            }
        });
        match head {
            None => Poll::Pending,
            Some(head) => {
                if head.is_err() {
                    self.exchange.ended = true;
                }
                Poll::Ready(head)
            }
        }
    }
}
