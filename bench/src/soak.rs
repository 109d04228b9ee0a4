//! The soak: a steady load for a long time with plugin crashes injected,
//! to show that memory stays flat, nothing but the injected crashes goes
//! wrong, and every message is answered.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use gatehouse_tests::GATEWAY;
use gatehouse_tests::c2s::{CLIENT, User, chat_body};
use gatehouse_tests::process::GatewayProcess;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{Meter, proc, throughput};

/// What one user saw.
#[derive(Default)]
struct Tally {
    sent: u64,
    answered: u64,
    unanswered: u64,
    /// Answers to a message already answered (a message handed to the
    /// plugin twice).
    duplicates: u64,
    /// Error replies to `/crash`: the injected failures.
    injected_errors: u64,
    /// Any other error reply.
    errors: u64,
    /// The gateway's "it was restarted" notices.
    crash_notices: u64,
}

/// `users` users send `rate` messages a second in all for `seconds`, open
/// loop; every `crash_every` seconds one of them (in turn) sends `/crash`,
/// which traps its plugin instance. The gateway's RSS is sampled all along.
pub async fn soak(
    server: &str,
    gateway: &GatewayProcess,
    users: u32,
    rate: u32,
    seconds: u64,
    crash_every: u64,
    meter: impl Fn() -> Meter,
) -> anyhow::Result<Value> {
    let logged_in = throughput::logged_in_users(server, users).await?;
    let period = Duration::from_secs_f64(f64::from(users) / f64::from(rate.max(1)));
    let meter = meter();
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    // Crashes strictly inside the run, so that each is answered.
    let crashes = seconds.saturating_sub(1) / crash_every.max(1);
    let tasks: Vec<_> = logged_in
        .into_iter()
        .enumerate()
        .map(|(n, user)| {
            let first = started + period.mul_f64(n as f64 / f64::from(users));
            // Crash k (at k × crash_every s) is user k mod users's.
            let crash_at: Vec<Instant> = (1..=crashes)
                .filter(|k| k % u64::from(users) == n as u64)
                .map(|k| started + Duration::from_secs(k * crash_every))
                .collect();
            tokio::spawn(soak_user(user, first, period, end, crash_at))
        })
        .collect();

    let pid = gateway.pid();
    let sample_every = Duration::from_secs((seconds / 60).clamp(1, 10));
    let mut samples = Vec::new();
    let mut next = started;
    while Instant::now() < end {
        samples.push(proc::rss_kib(pid));
        next += sample_every;
        tokio::time::sleep_until(next.min(end)).await;
    }
    samples.push(proc::rss_kib(pid));

    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await??;
        total.sent += tally.sent;
        total.answered += tally.answered;
        total.unanswered += tally.unanswered;
        total.duplicates += tally.duplicates;
        total.injected_errors += tally.injected_errors;
        total.errors += tally.errors;
        total.crash_notices += tally.crash_notices;
    }
    // Memory once warm (a tenth of the way in) against the end.
    let warm = samples[samples.len() / 10];
    let last = *samples.last().unwrap_or(&0);
    let log = gateway.log();
    let (error_lines, injected_lines) = error_lines(&log);
    let unexplained: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") && !injected(l))
        .take(5)
        .collect();
    Ok(meter.report(json!({
        "scenario": "soak",
        "users": users,
        "rate": rate,
        "seconds": started.elapsed().as_secs_f64(),
        "crashes_injected": crashes,
        "sent": total.sent,
        "answered": total.answered,
        "unanswered": total.unanswered,
        "answered_twice": total.duplicates,
        "injected_error_replies": total.injected_errors,
        "other_error_replies": total.errors,
        "crash_notices": total.crash_notices,
        "gateway_error_log_lines": error_lines,
        "gateway_injected_error_log_lines": injected_lines,
        "gateway_other_errors": unexplained,
        "rss_warm_kib": warm,
        "rss_max_kib": samples.iter().max(),
        "rss_end_kib": last,
        "rss_growth_percent": (last as f64 - warm as f64) / warm.max(1) as f64 * 100.0,
        "rss_samples_kib": samples,
    })))
}

/// The gateway's ERROR lines, and those the injected crashes explain.
fn error_lines(log: &str) -> (usize, usize) {
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    let injected = errors.iter().filter(|l| injected(l)).count();
    (errors.len(), injected)
}

/// Whether a log line is the plugin's panic (the echo plugin panics on
/// `/crash` only), or the session's report of it.
fn injected(line: &str) -> bool {
    line.contains("plugin: panic: panicked at")
        || (line.contains("plugin crashed") && line.contains("a message"))
}

/// One user of the soak: a message every `period` from `first` until
/// `end`, a `/crash` at each of `crash_at`; then waits (10 s at most) for
/// the last answers.
async fn soak_user(
    mut user: User,
    first: Instant,
    period: Duration,
    end: Instant,
    mut crash_at: Vec<Instant>,
) -> anyhow::Result<Tally> {
    let mut ticks = tokio::time::interval_at(first, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    crash_at.reverse();
    let mut outstanding: HashSet<String> = HashSet::new();
    let mut tally = Tally::default();
    let drain_until = end + Duration::from_secs(10);
    loop {
        let now = Instant::now();
        if now >= end && outstanding.is_empty() || now >= drain_until {
            break;
        }
        let next_crash = crash_at.last().copied();
        tokio::select! {
            _ = ticks.tick(), if now < end => {
                let body = format!("soak {}", tally.sent);
                user.send_chat(&format!("c{}@{GATEWAY}", tally.sent % 10), format!("m{}", tally.sent), &body)
                    .await?;
                outstanding.insert(body);
                tally.sent += 1;
            }
            _ = tokio::time::sleep_until(next_crash.unwrap_or(drain_until)), if next_crash.is_some() => {
                crash_at.pop();
                user.send_chat(&format!("c1@{GATEWAY}"), "crash".into(), "/crash").await?;
            }
            _ = tokio::time::sleep_until(drain_until) => {}
            stanza = user.next() => {
                let stanza = stanza.context("the stream ended")?;
                if let Some(body) = chat_body(&stanza, GATEWAY) {
                    if outstanding.remove(&body) {
                        tally.answered += 1;
                    } else if body.starts_with("soak ") {
                        tally.duplicates += 1;
                    }
                }
                if stanza.is("message", CLIENT) && stanza.attr("type") == Some("error") {
                    if stanza.attr("id") == Some("crash") {
                        tally.injected_errors += 1;
                    } else {
                        tally.errors += 1;
                    }
                }
                if stanza.attr("from") == Some(GATEWAY)
                    && chat_body(&stanza, GATEWAY).is_some_and(|b| b.contains("it was restarted"))
                {
                    tally.crash_notices += 1;
                }
            }
        }
    }
    tally.unanswered = outstanding.len() as u64;
    Ok(tally)
}
