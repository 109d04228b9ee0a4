//! Measures, in-process against the fake server, the memory a logged-in
//! session costs and how long a hot reload takes to move every session to
//! the new code. Run in release mode:
//!
//! ```sh
//! scripts/build-plugins
//! cargo run --release -p gatehouse-tests --bin gatehouse-measure-sessions -- 1000
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gatehouse_tests::measure::{drain, register_users, rss_kib};
use gatehouse_tests::{FakeServer, TestGateway, Wire, plugin};
use tracing_subscriber::layer::SubscriberExt;

/// Counts the sessions that reached the reloaded plugin.
struct SwapCounter(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SwapCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message"
                    && format!("{value:?}").contains("on the reloaded plugin")
                {
                    self.0 = true;
                }
            }
        }
        let mut message = Message(false);
        event.record(&mut message);
        if message.0 {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::main]
async fn main() {
    let users: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let swapped = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(
            "warn,gatehouse::session=debug",
        ))
        .with(SwapCounter(swapped.clone()));
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");

    let server = FakeServer::bind().await;
    let gateway = TestGateway::start(&server.addr.to_string(), "messages_per_second = 1000000");
    let mut link = Wire::connect(&server, true).await;
    let before = rss_kib();
    let started = Instant::now();
    register_users(&mut link, users, "10").await;
    let registered = started.elapsed();
    // Let the last pushes drain before reading the memory.
    drain(&mut link).await;
    let after = rss_kib();
    println!(
        "{users} users with 10 contacts each registered and logged in in {:.2} s",
        registered.as_secs_f64()
    );
    println!(
        "host RSS: {before} KiB before, {after} KiB after: {:.1} KiB per logged-in session (instance, roster, mailbox)",
        (after.saturating_sub(before)) as f64 / users as f64
    );

    let replaced = Instant::now();
    let path = gateway.plugin_path();
    let partial = path.with_extension("partial");
    std::fs::copy(plugin("echo-v2"), &partial).expect("copy echo-v2");
    std::fs::rename(&partial, &path).expect("replace the plugin");
    while swapped.load(Ordering::Relaxed) < users {
        if replaced.elapsed() > Duration::from_secs(120) {
            panic!(
                "only {} of {users} sessions moved",
                swapped.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!(
        "hot reload: file replaced → all {users} sessions on the new code in {:.0} ms (includes the 300 ms settle delay and the compile)",
        replaced.elapsed().as_secs_f64() * 1000.0
    );
}
