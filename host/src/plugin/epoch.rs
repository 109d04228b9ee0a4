//! The epoch ticker: advances the engine's epoch while plugin code may
//! run, and sleeps when none can.
//!
//! Call deadlines and a busy plugin's yields come from the epoch, so it
//! must tick while any call runs. Ticking at 100 Hz all the time, though,
//! made an idle gateway wake up a hundred times a second: through an
//! hour-long roster fill paced by Prosody the gateway's CPU was almost all
//! those wake-ups (BENCHMARKS.md). So calls hold a [`Ticking`] guard, and
//! the ticker waits, without waking, once no call has run for
//! [`IDLE_TICKS`] ticks. A busy gateway's calls come closer than that, so
//! they never pay for waking it; the first call after a quiet second does,
//! once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use wasmtime::EngineWeak;

/// How often the epoch ticks: the granularity of call deadlines, and how
/// often a busy plugin yields its thread to others.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Ticks without any call before the ticker waits (one second).
pub const IDLE_TICKS: u32 = 100;

/// How long a waiting ticker sleeps before checking that its engine still
/// exists (a dropped engine ends its ticker within this).
const RECHECK: Duration = Duration::from_secs(30);

/// What calls and tickers share: one per process ([`TICKER`]); tests make
/// their own. A call costs two atomic operations and a load; the lock is
/// only taken to wake a waiting ticker, or by the ticker itself.
#[derive(Default)]
pub struct Ticker {
    /// Calls running.
    running: AtomicUsize,
    /// Tickers waiting for a call.
    waiting: AtomicUsize,
    /// Held by a ticker from its last look at `running` until it waits,
    /// so that a call's wake-up cannot fall in between.
    lock: Mutex<()>,
    wake: Condvar,
}

/// The process's ticker state, shared by every engine's ticker thread.
pub static TICKER: Ticker = Ticker {
    running: AtomicUsize::new(0),
    waiting: AtomicUsize::new(0),
    lock: Mutex::new(()),
    wake: Condvar::new(),
};

/// Held while a call into a plugin (or its instantiation) runs: the epoch
/// ticks until the last one is dropped.
pub struct Ticking<'a>(&'a Ticker);

impl Ticker {
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A call starts: wakes a waiting ticker.
    pub fn start(&self) -> Ticking<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        // A ticker that saw no call raised `waiting` before it looked, so
        // one of the two sees the other.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _held = self.lock();
            self.wake.notify_all();
        }
        Ticking(self)
    }

    /// Whether a ticker is waiting (for tests).
    pub fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// The ticker thread's loop: ticks `engine`'s epoch until it is
    /// dropped, waiting whenever calls have stopped for a while.
    pub fn run(&self, engine: EngineWeak) {
        let mut idle = 0u32;
        loop {
            let Some(alive) = engine.upgrade() else {
                return;
            };
            alive.increment_epoch();
            drop(alive);
            std::thread::sleep(EPOCH_TICK);
            idle = if self.running.load(Ordering::SeqCst) == 0 {
                idle + 1
            } else {
                0
            };
            if idle < IDLE_TICKS {
                continue;
            }
            let mut held = self.lock();
            self.waiting.fetch_add(1, Ordering::SeqCst);
            while self.running.load(Ordering::SeqCst) == 0 {
                let (next, timeout) = self
                    .wake
                    .wait_timeout(held, RECHECK)
                    .unwrap_or_else(|p| p.into_inner());
                held = next;
                if timeout.timed_out() && engine.upgrade().is_none() {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
            }
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            drop(held);
            idle = 0;
        }
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Polls `check` for up to `within`.
    fn eventually(within: Duration, check: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if check() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        check()
    }

    #[test]
    fn the_ticker_waits_when_idle_and_ticks_again_for_a_call() {
        let ticker = Arc::new(Ticker::default());
        let engine = wasmtime::Engine::new(wasmtime::Config::new().epoch_interruption(true))
            .expect("an engine");
        let thread = {
            let (ticker, weak) = (ticker.clone(), engine.weak());
            std::thread::spawn(move || ticker.run(weak))
        };
        // A call keeps it ticking past the idle second.
        let call = ticker.start();
        std::thread::sleep(EPOCH_TICK * (IDLE_TICKS + 20));
        assert!(!ticker.is_waiting(), "waiting during a call");
        drop(call);
        assert!(
            eventually(EPOCH_TICK * (IDLE_TICKS * 3), || ticker.is_waiting()),
            "still ticking a while after the last call"
        );
        // The next call wakes it at once.
        let call = ticker.start();
        assert!(eventually(Duration::from_millis(200), || !ticker.is_waiting()));
        drop(call);
        // Dropping the engine ends the thread at its next tick.
        drop(engine);
        let call = ticker.start();
        thread.join().expect("the ticker ends");
        drop(call);
    }
}
