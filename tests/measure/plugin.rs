//! Measures one plugin build the same way for every language: its size,
//! how long the host takes to compile it and to instantiate it, the memory
//! of an idle logged-in session, and the echo round trip through the host
//! (in-process, against the fake server: the host and the plugin, no XMPP
//! server). Run in release mode, once per build:
//!
//! ```sh
//! scripts/build-plugins
//! cargo run --release -p gatehouse-tests --bin gatehouse-measure-plugin -- echo-py 100
//! ```

use std::time::{Duration, Instant};

use gatehouse::plugin::{HostState, Limits, engine};
use gatehouse::session::Runtime;
use gatehouse_tests::fake_server::NS;
use gatehouse_tests::measure::{drain, median_p99, register_users, rss_kib};
use gatehouse_tests::{FakeServer, GATEWAY, TestGateway, Wire, child_text, plugin};

/// Instantiations timed (after one to warm up).
const INSTANCES: usize = 200;
/// Echo round trips timed (after 50 to warm up).
const ROUND_TRIPS: usize = 2000;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "echo".to_owned());
    let users: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let path = plugin(&name);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{name}: component size {size} bytes ({:.1} MB)",
        size as f64 / 1e6
    );

    // Compile (no cache) and instantiate, with the host's own loading path.
    let engine = engine(0, 64).expect("engine");
    let limits = Limits {
        memory_mb: 64,
        call_timeout: Duration::from_secs(30),
    };
    let compiling = Instant::now();
    let runtime = Runtime::load(&engine, &path, limits, None)
        .await
        .expect("the plugin loads");
    println!(
        "{name}: compile + link + gateway-info {:.2} s",
        compiling.elapsed().as_secs_f64()
    );
    let mut times = Vec::with_capacity(INSTANCES);
    for i in 0..=INSTANCES {
        let started = Instant::now();
        let instance = runtime
            .instantiate(HostState::service())
            .await
            .expect("instantiate");
        if i > 0 {
            times.push(started.elapsed());
        }
        drop(instance);
    }
    let (median, p99) = median_p99(&mut times);
    println!("{name}: instantiate (InstancePre → instance) median {median:.0} µs, p99 {p99:.0} µs");
    drop(runtime);

    // Idle sessions: RSS growth per logged-in user with 10 contacts.
    let server = FakeServer::bind().await;
    let _gateway = TestGateway::start_plugin(
        &server.addr.to_string(),
        &name,
        "messages_per_second = 1000000",
    );
    let mut link = Wire::connect(&server, true).await;
    drain(&mut link).await;
    let before = rss_kib();
    register_users(&mut link, users, "10").await;
    drain(&mut link).await;
    let after = rss_kib();
    println!(
        "{name}: {:.0} KiB per idle logged-in session ({users} users × 10 contacts; RSS {before} → {after} KiB)",
        after.saturating_sub(before) as f64 / users as f64
    );

    // Echo round trips, one at a time, from user0 to c0.
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..ROUND_TRIPS + 50 {
        let body = format!("ping {i}");
        let started = Instant::now();
        link.send(&format!(
            "<message type='chat' id='m{i}' from='user0@localhost/test' to='c0@{GATEWAY}'><body>{body}</body></message>"
        ))
        .await;
        loop {
            let el = link.recv().await;
            if el.is("message", NS) && child_text(&el, "body", NS).as_deref() == Some(&body) {
                break;
            }
        }
        if i >= 50 {
            times.push(started.elapsed());
        }
    }
    let (median, p99) = median_p99(&mut times);
    println!(
        "{name}: echo round trip through the host median {median:.0} µs, p99 {p99:.0} µs ({ROUND_TRIPS} messages)"
    );
}
