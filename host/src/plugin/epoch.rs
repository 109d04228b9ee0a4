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

/// Calls running, and tickers waiting for one.
#[derive(Default)]
struct State {
    running: usize,
    waiting: usize,
}

/// What calls and tickers share: one per process ([`TICKER`]); tests make
/// their own.
#[derive(Default)]
pub struct Ticker {
    state: Mutex<State>,
    wake: Condvar,
}

/// The process's ticker state, shared by every engine's ticker thread.
pub static TICKER: Ticker = Ticker {
    state: Mutex::new(State {
        running: 0,
        waiting: 0,
    }),
    wake: Condvar::new(),
};

/// Held while a call into a plugin (or its instantiation) runs: the epoch
/// ticks until the last one is dropped.
pub struct Ticking<'a>(&'a Ticker);

impl Ticker {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A call starts: wakes a waiting ticker.
    pub fn start(&self) -> Ticking<'_> {
        let mut state = self.lock();
        state.running += 1;
        if state.waiting > 0 {
            self.wake.notify_all();
        }
        Ticking(self)
    }

    /// Whether a ticker is waiting (for tests).
    pub fn is_waiting(&self) -> bool {
        self.lock().waiting > 0
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
            let mut state = self.lock();
            idle = if state.running == 0 { idle + 1 } else { 0 };
            if idle < IDLE_TICKS {
                continue;
            }
            state.waiting += 1;
            while state.running == 0 {
                let (next, timeout) = self
                    .wake
                    .wait_timeout(state, RECHECK)
                    .unwrap_or_else(|p| p.into_inner());
                state = next;
                if timeout.timed_out() && engine.upgrade().is_none() {
                    state.waiting -= 1;
                    return;
                }
            }
            state.waiting -= 1;
            idle = 0;
        }
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.running = state.running.saturating_sub(1);
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
