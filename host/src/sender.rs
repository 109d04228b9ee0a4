//! What leaves the gateway: one sender per gateway, between everything
//! that sends (sessions, the gateway, the router, command tasks) and the
//! link.
//!
//! The sender owns the rule that makes a kill lose nothing acknowledged:
//! before a batch of stanzas goes to the link, the database commits, so a
//! stanza never acknowledges a write that a kill could still undo. Batches
//! are what keep a busy gateway fast: the sender takes everything queued
//! (and lets the sessions that are running finish theirs first), then pays
//! for one commit. When the database cannot commit, the stanzas wait.

use std::time::Duration;

use jid::BareJid;
use tokio::sync::{mpsc, oneshot};
use xmpp_parsers::stanza::Stanza;

use crate::store::Store;

/// Most stanzas committed for and handed on at once.
const BATCH: usize = 256;

/// What a sender is handed.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a stanza travels by value, as it did before there was a sender: boxing it would cost an allocation per stanza"
)]
enum Outgoing {
    One(Stanza),
    Many(Vec<Stanza>),
    /// Answer once everything handed before has gone to the link.
    Flush(oneshot::Sender<()>),
}

/// The sending half of a gateway's way out; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl Outbox {
    /// Queues a stanza for the server. Never blocks; order is kept.
    pub fn send(&self, stanza: impl Into<Stanza>) {
        // The sender lives as long as the gateway: a failed send only
        // happens during shutdown.
        let _ = self.tx.send(Outgoing::One(stanza.into()));
    }

    /// Queues stanzas, in order.
    pub fn send_all(&self, stanzas: Vec<Stanza>) {
        if !stanzas.is_empty() {
            let _ = self.tx.send(Outgoing::Many(stanzas));
        }
    }

    /// Waits until everything queued before is committed for and handed to
    /// the link (for a shutdown, before the link is told to close).
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
    /// Stanzas of a `Many` not handed out yet (by `try_next`).
    pending: std::collections::VecDeque<Stanza>,
}

impl OutboxReceiver {
    /// The next queued stanza, if any (for tests of what a part sends).
    pub fn try_next(&mut self) -> Option<Stanza> {
        loop {
            if let Some(stanza) = self.pending.pop_front() {
                return Some(stanza);
            }
            match self.rx.try_recv().ok()? {
                Outgoing::One(stanza) => return Some(stanza),
                Outgoing::Many(stanzas) => self.pending.extend(stanzas),
                Outgoing::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}

/// A new way out.
pub fn outbox() -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Outbox { tx },
        OutboxReceiver {
            rx,
            pending: Default::default(),
        },
    )
}

/// Runs a gateway's sender: takes what is queued, commits the database,
/// hands the stanzas to the link. Returns once every [`Outbox`] is gone, or
/// the link is.
pub async fn run(
    jid: BareJid,
    store: Store,
    mut outbox: OutboxReceiver,
    link: mpsc::UnboundedSender<Stanza>,
) {
    let mut batch: Vec<Stanza> = Vec::with_capacity(BATCH);
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let Some(first) = outbox.rx.recv().await else {
            return;
        };
        take(first, &mut batch, &mut flushes);
        take_queued(&mut outbox, &mut batch, &mut flushes);
        if batch.len() < BATCH {
            // Let the sessions that are running finish their stanzas
            // first: one commit then serves them all.
            tokio::task::yield_now().await;
            take_queued(&mut outbox, &mut batch, &mut flushes);
        }
        while let Err(e) = store.commit() {
            // Nothing goes out that could acknowledge a lost write; the
            // stanzas wait for the database to come back.
            tracing::error!(gateway = %jid, error = %e, queued = batch.len(), "cannot commit: holding the outgoing stanzas");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for stanza in batch.drain(..) {
            if link.send(stanza).is_err() {
                return;
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

fn take(outgoing: Outgoing, batch: &mut Vec<Stanza>, flushes: &mut Vec<oneshot::Sender<()>>) {
    match outgoing {
        Outgoing::One(stanza) => batch.push(stanza),
        Outgoing::Many(stanzas) => batch.extend(stanzas),
        Outgoing::Flush(done) => flushes.push(done),
    }
}

/// Moves what is queued into the batch, up to [`BATCH`] stanzas.
fn take_queued(
    outbox: &mut OutboxReceiver,
    batch: &mut Vec<Stanza>,
    flushes: &mut Vec<oneshot::Sender<()>>,
) {
    while batch.len() < BATCH {
        match outbox.rx.try_recv() {
            Ok(outgoing) => take(outgoing, batch, flushes),
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::presence::{Presence, Type};

    fn presence(n: u32) -> Stanza {
        Presence::new(Type::None).with_id(format!("p{n}")).into()
    }

    fn id(stanza: &Stanza) -> String {
        match stanza {
            Stanza::Presence(p) => p.id.clone().unwrap_or_default(),
            _ => String::new(),
        }
    }

    #[tokio::test]
    async fn stanzas_reach_the_link_in_order_after_a_commit() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw.x", "u@x", &[]).unwrap();
        let (outbox, receiver) = outbox();
        let (link, mut written) = mpsc::unbounded_channel();
        let jid = BareJid::new("gw.x").unwrap();
        tokio::spawn(run(jid, store.clone(), receiver, link));
        // A write that the stanzas acknowledge, not committed yet.
        store.kv_set(user.id, "k", b"v", 1 << 20).unwrap();
        outbox.send(presence(1));
        outbox.send_all(vec![presence(2), presence(3)]);
        outbox.flush().await;
        let ids: Vec<String> = (0..3).map(|_| id(&written.try_recv().unwrap())).collect();
        assert_eq!(ids, ["p1", "p2", "p3"]);
        assert!(
            !store.has_uncommitted(),
            "committed before the stanzas left"
        );
    }
}
