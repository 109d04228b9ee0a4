//! The scenarios about many logged-in users: how long a restart takes to
//! log them all in again (start-up), what they cost idle (memory), and how
//! long a hot reload takes to move them all to new code.
//!
//! Every user's client keeps reading; each status presence of the gateway
//! is reported with the moment it arrived, and the scenarios count them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gatehouse_tests::process::GatewayProcess;
use gatehouse_tests::{GATEWAY, plugin};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{Meter, proc};
use gatehouse_tests::c2s::{CLIENT, Stanza, User};

/// A gateway status presence a user's client received.
struct Status {
    text: String,
    at: Instant,
}

/// Runs the three scenarios on `users` users of 10 contacts; returns their
/// JSON lines.
pub async fn run(
    server: &str,
    gateway: &mut GatewayProcess,
    prosody: u32,
    users: u32,
) -> anyhow::Result<Vec<Value>> {
    // What the gateway holds with no user, for the memory per user.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline_kib = proc::rss_kib(gateway.pid());

    let (statuses_tx, mut statuses) = mpsc::unbounded_channel();
    for n in 0..users {
        let mut user = User::connect(server, &format!("load{n}")).await?;
        user.send_registration(GATEWAY, &format!("load{n}"), 10)
            .await?;
        tokio::spawn(report_statuses(user, statuses_tx.clone()));
    }
    wait_for(&mut statuses, users, "registered and logged in", |s| {
        s.text.contains("logged in")
    })
    .await?;
    // Let the roster pushes and presences of the registrations drain.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Start-up: a restart (the compiled plugin is in the cache) until every
    // user is told "logged in" again.
    let mut meter = Meter::start(gateway.pid(), prosody);
    gateway.kill();
    while statuses.try_recv().is_ok() {}
    let started = Instant::now();
    tokio::task::block_in_place(|| gateway.start_again());
    // A new process: all of its CPU time is the start-up's.
    meter.gateway = gateway.pid();
    meter.gateway_cpu = 0.0;
    let last = wait_for(&mut statuses, users, "logged in after the restart", |s| {
        s.at >= started && s.text.contains("logged in")
    })
    .await?;
    let start_up = meter.report(json!({
        "scenario": "start-up",
        "users": users,
        "seconds": (last - started).as_secs_f64(),
    }));

    // Idle memory, once everything has settled.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_kib = proc::rss_kib(gateway.pid());
    let idle = json!({
        "scenario": "idle-memory",
        "users": users,
        "gateway_rss_kib": rss_kib,
        "baseline_rss_kib": baseline_kib,
        "per_user_kib": rss_kib.saturating_sub(baseline_kib) as f64 / f64::from(users),
    });

    // Hot reload: the file replaced by a v2 build (whose login status starts
    // with "v2: ") until every user's session runs it.
    while statuses.try_recv().is_ok() {}
    let meter = Meter::start(gateway.pid(), prosody);
    let replaced = Instant::now();
    replace(&gateway.plugin_path(), &plugin("echo-v2"))?;
    let last = wait_for(&mut statuses, users, "on the reloaded plugin", |s| {
        s.text.starts_with("v2: ")
    })
    .await?;
    let reload = meter.report(json!({
        "scenario": "reload",
        "users": users,
        "seconds": (last - replaced).as_secs_f64(),
    }));
    Ok(vec![start_up, idle, reload])
}

/// Replaces a plugin file the way deployments should: write beside it,
/// then rename over it.
fn replace(path: &Path, with: &Path) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::copy(with, &partial).with_context(|| format!("copy {}", with.display()))?;
    std::fs::rename(&partial, path).context("rename the new plugin into place")?;
    Ok(())
}

/// Reads a user's stream for ever, reporting the gateway's status
/// presences.
async fn report_statuses(mut user: User, statuses: mpsc::UnboundedSender<Status>) {
    while let Some(stanza) = user.next().await {
        if let Some(text) = gateway_status(&stanza)
            && statuses
                .send(Status {
                    text,
                    at: Instant::now(),
                })
                .is_err()
        {
            return;
        }
    }
}

/// The status text of a presence from the gateway JID itself.
fn gateway_status(stanza: &Stanza) -> Option<String> {
    if !stanza.is("presence", CLIENT) || stanza.attr("from") != Some(GATEWAY) {
        return None;
    }
    stanza.get_child("status", CLIENT).map(|s| s.text())
}

/// Waits for `count` statuses that pass `check` (within 5 minutes); returns
/// when the last of them arrived.
async fn wait_for(
    statuses: &mut mpsc::UnboundedReceiver<Status>,
    count: u32,
    what: &str,
    check: impl Fn(&Status) -> bool,
) -> anyhow::Result<Instant> {
    let mut seen = 0u32;
    let mut last = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while seen < count {
        let status = match tokio::time::timeout_at(deadline, statuses.recv()).await {
            Ok(Some(status)) => status,
            Ok(None) => bail!("every client's stream ended"),
            Err(_) => bail!("{seen} of {count} users {what} within 5 minutes"),
        };
        if check(&status) {
            seen += 1;
            last = status.at;
        }
    }
    Ok(last)
}
