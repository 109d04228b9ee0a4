//! The scenarios that push stanzas through a running gateway: roster fill,
//! echo throughput, and echo latency at a fixed rate.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use gatehouse_tests::process::GatewayProcess;
use gatehouse_tests::{FakeServer, GATEWAY, Wire, fake_server, register_iq};
use serde_json::{Value, json};

use crate::Meter;
use gatehouse_tests::c2s::{self as client, User, chat_body};

/// Register → the client holds all `contacts` roster items.
pub async fn roster_fill(
    server: &str,
    contacts: u32,
    meter: impl Fn() -> Meter,
) -> anyhow::Result<Value> {
    let mut user = User::connect(server, "load0").await?;
    let meter = meter();
    let started = Instant::now();
    user.send_registration(GATEWAY, "load0", contacts).await?;
    let mut items = 0usize;
    while items < contacts as usize {
        let stanza = user.next().await.context("the stream ended")?;
        items += user.ack_roster_push(&stanza, GATEWAY).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(meter.report(json!({
        "scenario": "roster-fill",
        "contacts": contacts,
        "seconds": seconds,
    })))
}

/// The same fill against the tests' fake XMPP server in this process,
/// which answers every roster push as it comes: what the gateway itself
/// spends, with no Prosody to wait for. The client's CPU is the fake
/// server's.
pub async fn roster_fill_fake(plugin: &str, contacts: u32) -> anyhow::Result<Value> {
    let server = FakeServer::bind().await;
    let address = server.addr.to_string();
    let settled = tokio::spawn(async move {
        let link = Wire::connect(&server, true).await;
        (server, link)
    });
    let gateway = tokio::task::block_in_place(|| {
        GatewayProcess::start_gateway(
            &address,
            GATEWAY,
            plugin,
            "messages_per_second = 1000000000",
        )
    });
    let (_server, mut link) = settled.await?;
    let meter = Meter::start(gateway.pid(), 0);
    let started = Instant::now();
    link.send(&register_iq(
        "load0@localhost",
        "r0",
        "load0",
        &contacts.to_string(),
    ))
    .await;
    let mut pushed = 0u32;
    while pushed < contacts {
        let stanza = link.recv().await;
        if stanza.is("iq", fake_server::NS) && stanza.attr("type") == Some("set") {
            let id = stanza
                .attr("id")
                .unwrap_or_default()
                .replace('\'', "&apos;");
            link.send(&format!(
                "<iq type='result' id='{id}' from='load0@localhost' to='{GATEWAY}'/>"
            ))
            .await;
            pushed += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut report = meter.report(json!({
        "scenario": "roster-fill",
        "server": "fake",
        "contacts": contacts,
        "seconds": seconds,
    }));
    if let Some(fields) = report.as_object_mut() {
        // No Prosody in this run.
        fields.remove("prosody_cpu_s");
        fields.remove("prosody_peak_rss_kib");
    }
    Ok(report)
}

/// Connects `users` users, registers each with 10 contacts, and waits until
/// all are logged in.
pub(crate) async fn logged_in_users(server: &str, users: u32) -> anyhow::Result<Vec<User>> {
    let mut logged_in = Vec::new();
    for n in 0..users {
        let mut user = User::connect(server, &format!("load{n}")).await?;
        user.send_registration(GATEWAY, &format!("load{n}"), 10)
            .await?;
        logged_in.push(user);
    }
    for user in &mut logged_in {
        user.wait_for(|s| client::logged_in(s, GATEWAY)).await?;
    }
    Ok(logged_in)
}

/// Echo throughput over `users` users.
pub async fn echo(
    server: &str,
    users: u32,
    messages: u32,
    window: u32,
    meter: impl Fn() -> Meter,
) -> anyhow::Result<Value> {
    let logged_in = logged_in_users(server, users).await?;
    let per_user = messages / users;
    let meter = meter();
    let started = Instant::now();
    let tasks: Vec<_> = logged_in
        .into_iter()
        .map(|user| tokio::spawn(echo_user(user, per_user, window)))
        .collect();
    let mut answered = 0u64;
    for task in tasks {
        answered += task.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(meter.report(json!({
        "scenario": "echo",
        "users": users,
        "messages": answered,
        "seconds": seconds,
        "messages_per_second": answered as f64 / seconds,
    })))
}

/// One user's share of the echo run: sends `count` messages round the ten
/// contacts, never more than `window` unanswered; returns how many echoes
/// came back.
async fn echo_user(mut user: User, count: u32, window: u32) -> anyhow::Result<u64> {
    let mut in_flight: HashMap<String, ()> = HashMap::new();
    let mut sent = 0u32;
    let mut answered = 0u64;
    while answered < u64::from(count) {
        while sent < count && (in_flight.len() as u32) < window {
            let body = format!("load {sent}");
            user.send_chat(
                &format!("c{}@{GATEWAY}", sent % 10),
                format!("m{sent}"),
                &body,
            )
            .await?;
            in_flight.insert(body, ());
            sent += 1;
        }
        let stanza = user.next().await.context("the stream ended")?;
        if let Some(body) = chat_body(&stanza, GATEWAY)
            && in_flight.remove(&body).is_some()
        {
            answered += 1;
        }
    }
    Ok(answered)
}

/// Echo latency at a fixed total `rate` (messages/s) spread over `users`
/// users, open loop: each message leaves on its tick whether or not the
/// earlier ones came back.
pub async fn latency(
    server: &str,
    users: u32,
    rate: u32,
    messages: u32,
    meter: impl Fn() -> Meter,
) -> anyhow::Result<Value> {
    let logged_in = logged_in_users(server, users).await?;
    let per_user = messages / users;
    let period = Duration::from_secs_f64(f64::from(users) / f64::from(rate.max(1)));
    let meter = meter();
    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = logged_in
        .into_iter()
        .enumerate()
        .map(|(n, user)| {
            // Users take turns, so that the total rate is even.
            let first = started + period.mul_f64(n as f64 / f64::from(users));
            tokio::spawn(timed_user(user, per_user, first, period))
        })
        .collect();
    let mut round_trips = Vec::new();
    for task in tasks {
        round_trips.extend(task.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    round_trips.sort_unstable();
    let at = |q: f64| {
        let i = ((round_trips.len() as f64 * q) as usize).min(round_trips.len().saturating_sub(1));
        round_trips.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(meter.report(json!({
        "scenario": "latency",
        "users": users,
        "rate": rate,
        "messages": round_trips.len(),
        "seconds": seconds,
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
    })))
}

/// One user of the latency run: sends `count` messages, one per `period`
/// from `first`; returns each one's round trip.
async fn timed_user(
    mut user: User,
    count: u32,
    first: tokio::time::Instant,
    period: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let mut ticks = tokio::time::interval_at(first, period);
    // A late tick is sent late, not made up for by a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut sent = 0u32;
    let mut round_trips = Vec::with_capacity(count as usize);
    while round_trips.len() < count as usize {
        let send_now = tokio::select! {
            _ = ticks.tick(), if sent < count => true,
            stanza = user.next() => {
                let stanza = stanza.context("the stream ended")?;
                if let Some(body) = chat_body(&stanza, GATEWAY)
                    && let Some(at) = sent_at.remove(&body)
                {
                    round_trips.push(at.elapsed());
                }
                false
            }
        };
        if send_now {
            let body = format!("load {sent}");
            sent_at.insert(body.clone(), Instant::now());
            user.send_chat(
                &format!("c{}@{GATEWAY}", sent % 10),
                format!("m{sent}"),
                &body,
            )
            .await?;
            sent += 1;
        }
    }
    Ok(round_trips)
}
