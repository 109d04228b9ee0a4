//! What leaves the gateway: one sender per gateway, between everything
//! that sends (sessions, the gateway, the router, command tasks) and the
//! link.
//!
//! The sender owns three rules of the way out:
//! - **Commit first.** Before stanzas go to the link, the database
//!   commits, so a stanza never acknowledges a write that a kill could
//!   still undo. A commit that fails stops the gateway (see
//!   [`crate::store`]): nothing that depends on it is sent.
//! - **Fair.** Each session queues on its own ([`SessionQueue`]), paced by
//!   its rates; the sender takes a few stanzas from each session in turn,
//!   and the link's channel is bounded, so one user's flood waits in that
//!   user's queue and delays nobody else.
//! - **Never too large.** A stanza past `max_stanza_kb` would make the
//!   server close the component stream for every user: it is dropped and
//!   logged instead (the plugin's own strings are refused before that, with
//!   `limit-exceeded`, where they come in).
//!
//! Batches keep a busy gateway fast: the sender takes what is queued (and
//! lets the sessions that are running finish theirs first), then pays for
//! one commit.

mod queue;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use jid::BareJid;
use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use xmpp_parsers::stanza::Stanza;

use queue::Turn;
pub use queue::{Batch, Pace, Queued, Rates, SessionQueue, Supersedes};

use crate::store::Store;

/// Most stanzas committed for and handed on at once.
const BATCH: usize = 256;

/// Most stanzas taken from one session in one turn.
const TURN: usize = 16;

/// Stanzas handed to the link and not written yet, at most: past it the
/// sender waits, and floods wait in their sessions' queues.
pub const LINK_QUEUE: usize = 512;

/// What a sender is handed.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a stanza travels by value, as it did before there was a sender: boxing it would cost an allocation per stanza"
)]
enum Outgoing {
    One(Stanza),
    /// A session's queue has stanzas (told once until it is empty again).
    Ready(Arc<SessionQueue>),
    /// Send everything, paced or not, then answer (for a shutdown).
    Flush(oneshot::Sender<()>),
}

/// The sending half of a gateway's way out; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Outgoing>,
    backlog: Gauge,
    /// Each user's queue while anything holds it: a session started again
    /// (a new registration) queues behind what the old one left, in order.
    queues:
        Arc<std::sync::Mutex<std::collections::HashMap<BareJid, std::sync::Weak<SessionQueue>>>>,
}

impl Outbox {
    /// Queues a stanza for the server, never held back (the gateway's own:
    /// answers, errors, registration). Never blocks; order is kept.
    pub fn send(&self, stanza: impl Into<Stanza>) {
        // The sender lives as long as the gateway: a failed send only
        // happens during shutdown.
        let _ = self.tx.send(Outgoing::One(stanza.into()));
    }

    /// A new queue for the stanzas of `user`'s session, paced by `rates`.
    pub fn session_queue(&self, user: BareJid, rates: Rates) -> Arc<SessionQueue> {
        let mut queues = self
            .queues
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(queue) = queues.get(&user).and_then(std::sync::Weak::upgrade) {
            return queue;
        }
        queues.retain(|_, queue| queue.strong_count() > 0);
        let queue = SessionQueue::new(user.clone(), self.tx.clone(), rates, self.backlog.clone());
        queues.insert(user, Arc::downgrade(&queue));
        queue
    }

    /// Waits until everything queued before, in every session's queue too
    /// and past its pace, is committed for and handed to the link (for a
    /// shutdown, before the link is told to close).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Outgoing::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// The receiving half of a gateway's way out, owned by its sender task.
pub struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    /// Stanzas not handed out yet (by `try_next`).
    pending: VecDeque<Stanza>,
}

impl OutboxReceiver {
    /// The next queued stanza, if any (for tests of what a part sends);
    /// a session queue's stanzas come unpaced.
    pub fn try_next(&mut self) -> Option<Stanza> {
        loop {
            if let Some(stanza) = self.pending.pop_front() {
                return Some(stanza);
            }
            match self.rx.try_recv().ok()? {
                Outgoing::One(stanza) => return Some(stanza),
                Outgoing::Ready(queue) => {
                    let mut out = Vec::new();
                    queue.take(usize::MAX, std::time::Instant::now(), true, &mut out);
                    self.pending
                        .extend(out.into_iter().map(|(stanza, _)| stanza));
                }
                Outgoing::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}

/// A new way out for gateway `jid` (named in its metrics).
pub fn outbox(jid: &str) -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let backlog = crate::metrics::METRICS
        .outgoing_backlog
        .get_or_create_owned(&vec![("gateway", jid.to_owned())]);
    (
        Outbox {
            tx,
            backlog,
            queues: Default::default(),
        },
        OutboxReceiver {
            rx,
            pending: VecDeque::new(),
        },
    )
}

/// What the sender is in the middle of.
#[derive(Default)]
struct Work {
    /// Taken and to commit for, with their sizes.
    batch: Vec<(Stanza, usize)>,
    /// Sessions with stanzas that may go now, in turn.
    ready: VecDeque<Arc<SessionQueue>>,
    /// Sessions whose next stanza waits for its rate, with when.
    waiting: Vec<(std::time::Instant, Arc<SessionQueue>)>,
    flushes: Vec<oneshot::Sender<()>>,
    /// A flush came: everything goes, paced or not.
    draining: bool,
    /// The queues holding stanzas, by user: what the gateway sends a user
    /// goes behind what that user's session queued before it.
    by_user: std::collections::HashMap<BareJid, Arc<SessionQueue>>,
}

impl Work {
    fn take(&mut self, outgoing: Outgoing) {
        match outgoing {
            Outgoing::One(stanza) => self.gateways(stanza),
            Outgoing::Ready(queue) => {
                self.by_user.insert(queue.user().clone(), queue.clone());
                self.ready.push_back(queue);
            }
            Outgoing::Flush(done) => {
                self.draining = true;
                self.flushes.push(done);
            }
        }
    }

    /// A stanza of the gateway's own: straight into the batch, or behind
    /// what its recipient's session still has queued (the gateway's answer
    /// to an unregistration after the session's roster removals).
    fn gateways(&mut self, stanza: Stanza) {
        let to = match &stanza {
            Stanza::Message(m) => m.to.as_ref(),
            Stanza::Presence(p) => p.to.as_ref(),
            Stanza::Iq(iq) => iq.to(),
        };
        if let Some(queue) = to.and_then(|to| self.by_user.get(&to.to_bare())) {
            queue.push(vec![Queued::new(stanza, Pace::Free, None)]);
            return;
        }
        let size = crate::stanza::size::upper_bound(&stanza);
        self.batch.push((stanza, size));
    }

    /// Moves what the channel holds in, without waiting.
    fn take_queued(&mut self, rx: &mut mpsc::UnboundedReceiver<Outgoing>) {
        while self.batch.len() < BATCH {
            match rx.try_recv() {
                Ok(outgoing) => self.take(outgoing),
                Err(_) => break,
            }
        }
    }

    /// Takes from the sessions in turn, up to a batch.
    fn take_turns(&mut self) {
        let now = std::time::Instant::now();
        let draining = self.draining;
        let mut i = 0;
        while i < self.waiting.len() {
            if draining || self.waiting[i].0 <= now {
                let (_, queue) = self.waiting.swap_remove(i);
                self.ready.push_back(queue);
            } else {
                i += 1;
            }
        }
        while self.batch.len() < BATCH
            && let Some(queue) = self.ready.pop_front()
        {
            let most = TURN.min(BATCH - self.batch.len());
            match queue.take(most, now, draining, &mut self.batch) {
                Turn::Empty => {
                    if self
                        .by_user
                        .get(queue.user())
                        .is_some_and(|known| Arc::ptr_eq(known, &queue))
                    {
                        self.by_user.remove(queue.user());
                    }
                }
                Turn::More => self.ready.push_back(queue),
                Turn::Wait(at) => self.waiting.push((at, queue)),
            }
        }
    }

    fn idle(&self) -> bool {
        self.batch.is_empty() && self.ready.is_empty()
    }

    /// When the first waiting session may go on.
    fn next_turn(&self) -> Option<std::time::Instant> {
        self.waiting.iter().map(|(at, _)| *at).min()
    }
}

/// The sender's settings.
pub struct SenderConfig {
    /// The gateway, for logs and metrics.
    pub jid: BareJid,
    /// The largest stanza that may leave, in bytes.
    pub max_stanza_bytes: usize,
}

/// Runs a gateway's sender: takes what is queued, in turn from each
/// session, commits the database, hands the stanzas to the link. Returns
/// once every [`Outbox`] is gone, or the link is.
pub async fn run(
    config: SenderConfig,
    store: Store,
    mut outbox: OutboxReceiver,
    link: mpsc::Sender<Stanza>,
) {
    let SenderConfig {
        jid,
        max_stanza_bytes,
    } = config;
    let too_large: Counter = crate::metrics::METRICS
        .stanzas_dropped
        .get_or_create_owned(&vec![
            ("gateway", jid.to_string()),
            ("reason", "too-large".to_owned()),
        ]);
    let mut work = Work::default();
    loop {
        if work.idle() {
            let next = match work.next_turn() {
                Some(at) => tokio::select! {
                    next = outbox.rx.recv() => Some(next),
                    _ = tokio::time::sleep_until(Instant::from_std(at)) => None,
                },
                None => Some(outbox.rx.recv().await),
            };
            match next {
                Some(Some(outgoing)) => work.take(outgoing),
                Some(None) => return,
                None => {}
            }
        }
        work.take_queued(&mut outbox.rx);
        if work.batch.len() < BATCH {
            // Let the sessions that are running finish their stanzas
            // first: one commit then serves them all.
            tokio::task::yield_now().await;
            work.take_queued(&mut outbox.rx);
        }
        work.take_turns();
        if !work.batch.is_empty() {
            while let Err(e) = store.commit_blocking().await {
                // Nothing goes out that could acknowledge a lost write. A
                // failed commit stops the gateway (the store reports it);
                // until then the stanzas wait.
                tracing::error!(gateway = %jid, error = %e, queued = work.batch.len(), "cannot commit: holding the outgoing stanzas");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        for (mut stanza, size) in work.batch.drain(..) {
            if crate::stanza::chars::clean_stanza(&mut stanza) {
                tracing::debug!(gateway = %jid, kind = kind(&stanza), "took out of a stanza characters XML cannot carry");
            }
            if size > max_stanza_bytes {
                too_large.inc();
                tracing::warn!(gateway = %jid, size, max = max_stanza_bytes, kind = kind(&stanza), "dropped a stanza past max_stanza_kb: the server would close the link");
                continue;
            }
            if link.send(stanza).await.is_err() {
                return;
            }
        }
        if !work.flushes.is_empty()
            && work.idle()
            && work.waiting.is_empty()
            && outbox.rx.is_empty()
        {
            for done in work.flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }
}

fn kind(stanza: &Stanza) -> &'static str {
    match stanza {
        Stanza::Message(_) => "message",
        Stanza::Presence(_) => "presence",
        Stanza::Iq(_) => "iq",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::message::Message;
    use xmpp_parsers::presence::{Presence, Type};

    fn presence(n: u32) -> Stanza {
        Presence::new(Type::None).with_id(format!("p{n}")).into()
    }

    fn text(id: String) -> Queued {
        let mut message = Message::new(None);
        message.id = Some(xmpp_parsers::message::Id(id));
        Queued::new(message, Pace::Text, None)
    }

    fn id(stanza: &Stanza) -> String {
        match stanza {
            Stanza::Presence(p) => p.id.clone().unwrap_or_default(),
            Stanza::Message(m) => m.id.as_ref().map(|id| id.0.clone()).unwrap_or_default(),
            Stanza::Iq(iq) => iq.id().to_owned(),
        }
    }

    fn start(store: &Store, max_stanza_bytes: usize) -> (Outbox, mpsc::Receiver<Stanza>) {
        let (outbox, receiver) = outbox("gw.x");
        let (link, written) = mpsc::channel(LINK_QUEUE);
        let config = SenderConfig {
            jid: BareJid::new("gw.x").unwrap(),
            max_stanza_bytes,
        };
        tokio::spawn(run(config, store.clone(), receiver, link));
        (outbox, written)
    }

    #[tokio::test]
    async fn stanzas_reach_the_link_in_order_after_a_commit() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw.x", "u@x", &[]).unwrap();
        let (outbox, mut written) = start(&store, 1 << 20);
        // A write that the stanzas acknowledge, not committed yet.
        store.kv_set(user.id, "k", b"v", 1 << 20).unwrap();
        outbox.send(presence(1));
        outbox.send(presence(2));
        outbox.send(presence(3));
        outbox.flush().await;
        let ids: Vec<String> = (0..3).map(|_| id(&written.try_recv().unwrap())).collect();
        assert_eq!(ids, ["p1", "p2", "p3"]);
        assert!(
            !store.has_uncommitted(),
            "committed before the stanzas left"
        );
    }

    #[tokio::test]
    async fn a_flooding_session_waits_its_turn_behind_the_others() {
        let store = Store::open_in_memory().unwrap();
        let (outbox, mut written) = start(&store, 1 << 20);
        let rates = Rates {
            messages_per_second: 100_000,
            updates_per_second: 100_000,
        };
        let flood = outbox.session_queue(BareJid::new("flood@x").unwrap(), rates);
        let quiet = outbox.session_queue(BareJid::new("quiet@x").unwrap(), rates);
        flood.push((0..5000).map(|n| text(format!("flood{n}"))).collect());
        quiet.push(vec![text("quiet".into())]);
        // The quiet session's one stanza goes in the first turns, not after
        // the flood's five thousand.
        let mut position = None;
        for n in 0..5001 {
            let stanza = written.recv().await.unwrap();
            if id(&stanza) == "quiet" {
                position = Some(n);
                break;
            }
        }
        let position = position.expect("the quiet session's stanza was sent");
        assert!(
            position <= TURN,
            "sent after {position} of the flood's stanzas"
        );
    }

    #[tokio::test]
    async fn texts_past_the_rate_are_paced_not_lost_and_a_flush_sends_the_rest() {
        let store = Store::open_in_memory().unwrap();
        let (outbox, mut written) = start(&store, 1 << 20);
        let queue = outbox.session_queue(
            BareJid::new("u@x").unwrap(),
            Rates {
                messages_per_second: 10,
                updates_per_second: 10,
            },
        );
        queue.push((0..100).map(|n| text(format!("t{n}"))).collect());
        // The burst (twice the rate) goes at once, the rest waits.
        let mut ids = Vec::new();
        while ids.len() < 20 {
            ids.push(id(&written.recv().await.unwrap()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(written.try_recv().is_err(), "the 21st waits for the rate");
        assert!(queue.bytes() > 0);
        // A shutdown's flush sends everything, in order.
        outbox.flush().await;
        while let Ok(stanza) = written.try_recv() {
            ids.push(id(&stanza));
        }
        let expected: Vec<String> = (0..100).map(|n| format!("t{n}")).collect();
        assert_eq!(ids, expected);
    }

    #[tokio::test]
    async fn a_stanza_past_the_size_limit_is_dropped_not_sent() {
        let store = Store::open_in_memory().unwrap();
        let (outbox, mut written) = start(&store, 4096);
        let big = Message::new(None).with_body(Default::default(), "x".repeat(8192));
        outbox.send(big);
        outbox.send(presence(1));
        outbox.flush().await;
        assert_eq!(id(&written.try_recv().unwrap()), "p1");
        assert!(written.try_recv().is_err());
    }
}
