//! The end-to-end load benchmark: a private Prosody on loopback, the
//! `gatehouse` binary of the same build with a gateway of the echo network,
//! and a load client in Rust that speaks only XMPP. Each scenario prints one
//! JSON line: what it measured, and the CPU seconds and peak RSS of the
//! gateway, Prosody and the client, read from `/proc`.
//!
//! ```sh
//! scripts/build-plugins
//! cargo build --release -p gatehouse -p gatehouse-bench
//! target/release/gatehouse-load roster-fill --contacts 5000
//! target/release/gatehouse-load echo --users 100 --messages 20000
//! ```
//!
//! Scenarios done so far: `roster-fill` and `echo` (throughput). The rest of
//! issue 7's list (latency at a fixed rate, start-up, idle memory and reload
//! of 1000 users) is still to come.

mod client;
mod proc;

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use client::{User, chat_body};
use gatehouse_tests::process::GatewayProcess;
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Gatehouse's end-to-end load benchmark")]
struct Cli {
    /// The plugin of `target/plugins/` to serve the echo network with.
    #[arg(long, default_value = "echo")]
    plugin: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Register, then wait until the client holds every roster item.
    RosterFill {
        #[arg(long, default_value_t = 1000)]
        contacts: u32,
    },
    /// Echo throughput: every user sends its share of the messages to its
    /// contacts, keeping `window` unanswered at most, as fast as they come
    /// back.
    Echo {
        #[arg(long, default_value_t = 1)]
        users: u32,
        #[arg(long, default_value_t = 20000)]
        messages: u32,
        #[arg(long, default_value_t = 64)]
        window: u32,
    },
}

/// What the processes cost during a scenario.
struct Meter {
    gateway: u32,
    prosody: u32,
    gateway_cpu: f64,
    prosody_cpu: f64,
    client_cpu: f64,
}

impl Meter {
    fn start(gateway: u32, prosody: u32) -> Meter {
        Meter {
            gateway,
            prosody,
            gateway_cpu: proc::cpu_seconds(gateway),
            prosody_cpu: proc::cpu_seconds(prosody),
            client_cpu: proc::cpu_seconds(std::process::id()),
        }
    }

    fn report(&self, mut fields: Value) -> Value {
        let own = std::process::id();
        let extra = json!({
            "gateway_cpu_s": proc::cpu_seconds(self.gateway) - self.gateway_cpu,
            "prosody_cpu_s": proc::cpu_seconds(self.prosody) - self.prosody_cpu,
            "client_cpu_s": proc::cpu_seconds(own) - self.client_cpu,
            "gateway_peak_rss_kib": proc::peak_rss_kib(self.gateway),
            "prosody_peak_rss_kib": proc::peak_rss_kib(self.prosody),
            "client_peak_rss_kib": proc::peak_rss_kib(own),
        });
        if let (Some(fields), Some(extra)) = (fields.as_object_mut(), extra.as_object()) {
            fields.extend(extra.clone());
        }
        fields
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let users = match cli.scenario {
        Scenario::RosterFill { .. } => 1,
        Scenario::Echo { users, .. } => users,
    };
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    prosody.add_accounts((0..users).map(|n| format!("load{n}")));
    let gateway = GatewayProcess::start_gateway(
        &prosody.component_address(),
        GATEWAY,
        &cli.plugin,
        "messages_per_second = 1000000000",
    );
    let server = format!("127.0.0.1:{}", prosody.c2s_port);
    let meter = || Meter::start(gateway.pid(), prosody.pid().unwrap_or(0));
    let line = match cli.scenario {
        Scenario::RosterFill { contacts } => roster_fill(&server, contacts, meter).await?,
        Scenario::Echo {
            users,
            messages,
            window,
        } => echo(&server, users, messages, window, meter).await?,
    };
    println!("{line}");
    Ok(())
}

/// Register → the client holds all `contacts` roster items.
async fn roster_fill(
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

/// Echo throughput over `users` users.
async fn echo(
    server: &str,
    users: u32,
    messages: u32,
    window: u32,
    meter: impl Fn() -> Meter,
) -> anyhow::Result<Value> {
    // Every user registers with 10 contacts and is logged in first.
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
