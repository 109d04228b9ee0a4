//! Micro-benchmarks of the host's hot paths (`cargo bench -p gatehouse`):
//!
//! - `instantiate`: a new plugin instance from the linked `InstancePre`
//!   (what a session, a crash recovery or a reload costs);
//! - `on_text_send_text`: one export call that makes one host import call
//!   (`on-text` → `send-text`, with the `pong` test plugin), the stanza
//!   built and queued included;
//! - `echo_stanza`: an incoming chat message parsed from XML, checked, and
//!   the echo built and serialised (the host's CPU per echoed stanza
//!   outside the plugin and SQLite).
//!
//! The plugins come from `scripts/build-plugins` (`target/plugins/`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::config::GatewayConfig;
use gatehouse::context::GatewayContext;
use gatehouse::plugin::tls_config;
use gatehouse::plugin::{HostState, Limits, TextMessage, engine};
use gatehouse::roster::Roster;
use gatehouse::sender::outbox;
use gatehouse::session::{Runtime, Service, SessionData, Streams};
use gatehouse::stanza::message;
use gatehouse::store::Store;
use minidom::Element;
use xmpp_parsers::message::Message;

fn plugin(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-plugins",
        path.display()
    );
    path
}

/// Loads a plugin; `pool` > 0 uses the pooling allocator with that many
/// instance slots (`[engine] pool_instances`).
fn load(rt: &tokio::runtime::Runtime, name: &str, pool: u32) -> Runtime {
    let engine = engine(pool, 64).expect("engine");
    let limits = Limits {
        memory_mb: 64,
        call_timeout: Duration::from_secs(5),
    };
    rt.block_on(Runtime::load(&engine, &plugin(name), limits, None))
        .expect("the plugin loads")
}

fn instantiate(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (name, pool) in [("echo", 0), ("pong", 0), ("echo", 16)] {
        let runtime = load(&rt, name, pool);
        let label = if pool > 0 { "pooled" } else { "on demand" };
        // Only the instantiation is timed: dropping the instance happens
        // when a session ends, not when it starts.
        c.bench_function(&format!("instantiate/{name} ({label})"), |b| {
            b.iter_custom(|iterations| {
                let mut timed = Duration::ZERO;
                for _ in 0..iterations {
                    let started = Instant::now();
                    let instance = rt
                        .block_on(runtime.instantiate(HostState::service()))
                        .expect("instantiate");
                    timed += started.elapsed();
                    drop(instance);
                }
                timed
            })
        });
    }
}

fn on_text_send_text(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = std::sync::Arc::new(load(&rt, "pong", 0));
    let store = Store::open_in_memory().unwrap();
    let user = store.upsert_user("gw.x", "u@x", &[]).unwrap();
    let (sender, mut receiver) = outbox("gw.x");
    let ctx = Arc::new(GatewayContext::new(
        GatewayConfig {
            // No rate limit in the way of the measurement.
            messages_per_second: u32::MAX,
            ..GatewayConfig::new("gw.x", "s", "pong.wasm")
        },
        jid::BareJid::new("gw.x").unwrap(),
        sender,
        store,
        runtime.info.clone(),
        tls_config(&[]).unwrap(),
    ));
    let mut roster = Roster::load(ctx.clone(), &user).unwrap();
    let contact = roster.by_legacy_id("c0", None).unwrap();
    let rooms = gatehouse::groups::Rooms::load(ctx.clone(), &user, &mut roster).unwrap();
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let state = SessionData {
        ctx,
        service: Arc::new(Service::new(runtime.clone())),
        roster,
        rooms,
        registration: Vec::new(),
        requested_timers: Vec::new(),
        scheduled_timers: 0,
        files: gatehouse::files::ScratchFiles::new(None, 0),
        streams: Streams::new(Vec::new(), tls_config(&[]).unwrap(), events),
    }
    .into_state();
    let mut instance = rt
        .block_on(runtime.instantiate(state))
        .expect("instantiate");
    c.bench_function("on_text_send_text/pong", |b| {
        b.iter(|| {
            let answer = rt
                .block_on(instance.on_text(
                    contact,
                    TextMessage {
                        body: "ping".into(),
                        xmpp_id: None,
                        reply_to: None,
                    },
                ))
                .expect("no trap");
            assert_eq!(answer, Ok(None));
            // The answer the roster built, handed on as the session does.
            let data = instance.state().session().expect("a session");
            data.roster.flush_out();
            receiver.try_next().expect("the answer was queued")
        })
    });
}

const INCOMING: &str = "<message xmlns='jabber:component:accept' type='chat' id='m1' \
    from='romeo@localhost/phone' to='c0@echo.localhost'><body>hello ✓ &lt;&amp;&gt;</body>\
    <active xmlns='http://jabber.org/protocol/chatstates'/>\
    <request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/></message>";

fn echo_stanza(c: &mut Criterion) {
    c.bench_function("echo_stanza/parse_build_serialise", |b| {
        b.iter(|| {
            let element: Element = INCOMING.parse().expect("XML");
            let incoming = Message::try_from(element).expect("a message");
            let body = message::body(&incoming).expect("a body").to_owned();
            let (Some(from), Some(to)) = (incoming.from, incoming.to) else {
                panic!("addressed")
            };
            let echo = message::chat_text(to, from, "e1".into(), &body, None);
            String::from(&Element::from(echo))
        })
    });
}

criterion_group!(benches, instantiate, on_text_send_text, echo_stanza);
criterion_main!(benches);
