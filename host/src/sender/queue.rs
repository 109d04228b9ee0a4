//! One session's way out: its stanzas in order, each spending from the
//! rate it counts against, and a contact's stale presence replaced by its
//! newer one while both wait.
//!
//! A plugin that sends faster than its rates is paced, not refused: what
//! it sends waits here, and the sender takes it as the rates allow. Only
//! past a bounded backlog (`backlog_kb`) are the plugin's calls refused,
//! so a legacy network's backlog of offline messages at login arrives
//! whole, and a runaway plugin holds memory of its own user only.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jid::BareJid;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;
use xmpp_parsers::stanza::Stanza;

use super::Outgoing;

/// Which rate a stanza spends from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Never held back: receipts, markers, chat states, the roster's
    /// membership (bounded by `max_contacts`), the session's and the
    /// gateway's own (which still wait behind the user's queue).
    Free,
    /// A text, correction, retraction or reaction: `messages_per_second`.
    Text,
    /// A contact's presence, name or avatar changing: `updates_per_second`.
    Update,
}

/// What a queued stanza stands for: a newer stanza for the same thing
/// makes a waiting one stale; the stale one is dropped, the newer queued
/// last (so it still comes after everything sent before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Supersedes {
    /// The presence of a contact (by database row).
    Presence(i64),
    /// The nickname event of a contact.
    Nick(i64),
    /// The avatar event of a contact.
    Avatar(i64),
}

/// A stanza on its way out, with what it costs.
#[derive(Debug)]
pub struct Queued {
    stanza: Stanza,
    pace: Pace,
    supersedes: Option<Supersedes>,
    /// Its size on the wire, at most (`stanza::size`).
    size: usize,
}

impl Queued {
    /// A stanza that spends from `pace` (and replaces a waiting one that
    /// stands for the same thing).
    pub fn new(stanza: impl Into<Stanza>, pace: Pace, supersedes: Option<Supersedes>) -> Self {
        let stanza = stanza.into();
        Queued {
            size: crate::stanza::size::upper_bound(&stanza),
            stanza,
            pace,
            supersedes,
        }
    }
}

/// Stanzas an operation produced, in order, for its caller to queue: the
/// roster and its contacts build stanzas, the session hands them on.
#[derive(Debug, Default)]
pub struct Batch {
    queued: Vec<Queued>,
    bytes: usize,
}

impl Batch {
    /// Adds a stanza that is never held back.
    pub fn send(&mut self, stanza: impl Into<Stanza>) {
        self.push(Queued::new(stanza, Pace::Free, None));
    }

    /// Adds a stanza that spends from a rate.
    pub fn paced(&mut self, stanza: impl Into<Stanza>, pace: Pace, supersedes: Option<Supersedes>) {
        self.push(Queued::new(stanza, pace, supersedes));
    }

    fn push(&mut self, queued: Queued) {
        self.bytes += queued.size;
        self.queued.push(queued);
    }

    /// The bytes held, at most.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes every stanza so far.
    pub fn take(&mut self) -> Vec<Queued> {
        self.bytes = 0;
        std::mem::take(&mut self.queued)
    }

    /// Takes the first stanza (for tests of what an operation produced).
    pub fn take_first(&mut self) -> Option<Stanza> {
        if self.queued.is_empty() {
            return None;
        }
        let first = self.queued.remove(0);
        self.bytes -= first.size;
        Some(first.stanza)
    }
}

/// A rate: `per_second` on average, bursts of `burst`.
#[derive(Debug)]
struct Bucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_second: u32, burst_seconds: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        let burst = per_second * f64::from(burst_seconds.max(1));
        Bucket {
            per_second,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.last = now;
    }

    /// Spends one token, or tells when one will be there.
    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(now + Duration::from_secs_f64((1.0 - self.tokens) / self.per_second))
        }
    }
}

/// The rates of one session's way out.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    /// Texts a second (`messages_per_second`); bursts of twice that.
    pub messages_per_second: u32,
    /// Presence, name and avatar changes a second (`updates_per_second`);
    /// bursts of twice that.
    pub updates_per_second: u32,
}

/// What the sender learns from taking a turn at a queue.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Turn {
    /// Nothing is left; the queue tells the sender when it has more.
    Empty,
    /// More can go now.
    More,
    /// What comes next may go at this instant.
    Wait(Instant),
}

#[derive(Debug)]
struct State {
    /// By sequence number; `None` where a stale stanza was superseded.
    items: VecDeque<(u64, Option<Queued>)>,
    /// The sequence number the next stanza gets.
    next: u64,
    /// The waiting stanza that stands for each thing, by sequence number.
    latest: HashMap<Supersedes, u64>,
    bytes: usize,
    /// Whether the sender knows of this queue (holds it, or was told).
    scheduled: bool,
    texts: Bucket,
    updates: Bucket,
}

/// One session's queue, shared by the session (which fills it) and its
/// gateway's sender (which takes from it, in turn with the others).
#[derive(Debug)]
pub struct SessionQueue {
    user: BareJid,
    state: Mutex<State>,
    wake: mpsc::UnboundedSender<Outgoing>,
    /// The gateway's backlog gauge, moved by what this queue holds.
    backlog: Gauge,
}

impl SessionQueue {
    pub(super) fn new(
        user: BareJid,
        wake: mpsc::UnboundedSender<Outgoing>,
        rates: Rates,
        backlog: Gauge,
    ) -> Arc<Self> {
        Arc::new(SessionQueue {
            user,
            state: Mutex::new(State {
                items: VecDeque::new(),
                next: 0,
                latest: HashMap::new(),
                bytes: 0,
                scheduled: false,
                texts: Bucket::new(rates.messages_per_second, 2),
                updates: Bucket::new(rates.updates_per_second, 2),
            }),
            wake,
            backlog,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing here panics while holding the lock; if something did,
        // the queue is still consistent enough to drain.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Queues stanzas behind those waiting, in order.
    pub fn push(self: &Arc<Self>, stanzas: Vec<Queued>) {
        if stanzas.is_empty() {
            return;
        }
        let mut guard = self.state();
        let state = &mut *guard;
        let mut added = 0i64;
        for queued in stanzas {
            if let Some(key) = queued.supersedes
                && let Some(seq) = state.latest.insert(key, state.next)
                && let Some(&(first, _)) = state.items.front()
                && seq >= first
            {
                // The stale one leaves its place; the newer goes last, after
                // everything that came before it.
                if let Some(stale) = state.items[(seq - first) as usize].1.take() {
                    state.bytes -= stale.size;
                    added -= 1;
                }
            }
            state.next += 1;
            state.bytes += queued.size;
            let seq = state.next - 1;
            state.items.push_back((seq, Some(queued)));
            added += 1;
        }
        self.backlog.inc_by(added);
        if !state.scheduled {
            state.scheduled = true;
            drop(guard);
            // A gateway whose sender is gone is shutting down.
            let _ = self.wake.send(Outgoing::Ready(self.clone()));
        }
    }

    /// Whose session this queue serves.
    pub fn user(&self) -> &BareJid {
        &self.user
    }

    /// The bytes waiting, at most.
    pub fn bytes(&self) -> usize {
        self.state().bytes
    }

    /// Takes up to `most` stanzas that may go at `now` (all of them, paced
    /// or not, when `unpaced`) into `out`, as `(stanza, size)`.
    pub(super) fn take(
        &self,
        most: usize,
        now: Instant,
        unpaced: bool,
        out: &mut Vec<(Stanza, usize)>,
    ) -> Turn {
        let mut guard = self.state();
        let state = &mut *guard;
        let mut taken = 0;
        let turn = loop {
            let Some((_, front)) = state.items.front() else {
                state.scheduled = false;
                break Turn::Empty;
            };
            let Some(front) = front else {
                state.items.pop_front();
                continue;
            };
            if taken == most {
                break Turn::More;
            }
            if !unpaced {
                let spent = match front.pace {
                    Pace::Free => Ok(()),
                    Pace::Text => state.texts.take(now),
                    Pace::Update => state.updates.take(now),
                };
                if let Err(at) = spent {
                    break Turn::Wait(at);
                }
            }
            let Some((seq, Some(queued))) = state.items.pop_front() else {
                unreachable!("the front was just seen");
            };
            if let Some(key) = queued.supersedes
                && state.latest.get(&key) == Some(&seq)
            {
                state.latest.remove(&key);
            }
            state.bytes -= queued.size;
            out.push((queued.stanza, queued.size));
            taken += 1;
        };
        self.backlog.dec_by(taken as i64);
        turn
    }
}

#[cfg(test)]
mod tests {
    use xmpp_parsers::presence::{Presence, Type};

    use super::*;

    fn presence(id: &str) -> Queued {
        Queued::new(
            Presence::new(Type::None).with_id(id.to_owned()),
            Pace::Update,
            Some(Supersedes::Presence(7)),
        )
    }

    fn ids(out: &[(Stanza, usize)]) -> Vec<String> {
        out.iter()
            .map(|(s, _)| match s {
                Stanza::Presence(p) => p.id.clone().unwrap_or_default(),
                Stanza::Message(m) => m.id.as_ref().map(|id| id.0.clone()).unwrap_or_default(),
                Stanza::Iq(iq) => iq.id().to_owned(),
            })
            .collect()
    }

    fn text(id: &str) -> Queued {
        let mut message = xmpp_parsers::message::Message::new(None);
        message.id = Some(xmpp_parsers::message::Id(id.to_owned()));
        Queued::new(message, Pace::Text, None)
    }

    fn queue(rates: Rates) -> (Arc<SessionQueue>, mpsc::UnboundedReceiver<Outgoing>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            SessionQueue::new(BareJid::new("u@x").unwrap(), tx, rates, Gauge::default()),
            rx,
        )
    }

    #[test]
    fn a_waiting_presence_gives_way_to_a_newer_one() {
        let (queue, mut wake) = queue(Rates {
            messages_per_second: 10,
            updates_per_second: 10,
        });
        queue.push(vec![presence("old"), text("t1")]);
        queue.push(vec![presence("new"), text("t2")]);
        assert!(matches!(wake.try_recv(), Ok(Outgoing::Ready(_))));
        assert!(wake.try_recv().is_err(), "told once while scheduled");
        let mut out = Vec::new();
        assert_eq!(queue.take(10, Instant::now(), false, &mut out), Turn::Empty);
        assert_eq!(ids(&out), ["t1", "new", "t2"]);
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn texts_past_the_rate_wait_for_their_turn_in_order() {
        let (queue, _wake) = queue(Rates {
            messages_per_second: 5,
            updates_per_second: 5,
        });
        queue.push((0..15).map(|n| text(&format!("t{n}"))).collect());
        let start = Instant::now();
        let mut out = Vec::new();
        // A burst of twice the rate goes at once.
        let Turn::Wait(at) = queue.take(100, start, false, &mut out) else {
            panic!("past the burst, the queue waits");
        };
        assert_eq!(out.len(), 10);
        assert!(at > start && at <= start + Duration::from_millis(201));
        // A second later, five more.
        let later = start + Duration::from_secs(1);
        assert_eq!(queue.take(100, later, false, &mut out), Turn::Empty);
        assert_eq!(out.len(), 15);
        let expected: Vec<String> = (0..15).map(|n| format!("t{n}")).collect();
        assert_eq!(ids(&out), expected);
    }

    #[test]
    fn a_drain_takes_everything_unpaced() {
        let (queue, _wake) = queue(Rates {
            messages_per_second: 1,
            updates_per_second: 1,
        });
        queue.push((0..50).map(|n| text(&format!("t{n}"))).collect());
        let mut out = Vec::new();
        assert_eq!(queue.take(100, Instant::now(), true, &mut out), Turn::Empty);
        assert_eq!(out.len(), 50);
    }
}
