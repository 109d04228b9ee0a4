//! The pacing's latency: one user's plugin sends a 1000-message burst
//! (the echo network's `/burst`) at the default `messages_per_second`,
//! while another user chats; when each message of the burst arrives, and
//! how long the other user's echo takes meanwhile.

use std::time::{Duration, Instant};

use anyhow::Context;
use gatehouse_tests::GATEWAY;
use gatehouse_tests::c2s::chat_body;
use serde_json::{Value, json};

use crate::Meter;
use crate::throughput::logged_in_users;

/// `count` messages to user 0 at once; user 1's echo times meanwhile.
pub async fn burst(server: &str, count: u32, meter: impl Fn() -> Meter) -> anyhow::Result<Value> {
    let mut users = logged_in_users(server, 2).await?;
    let mut other = users.pop().context("two users")?;
    let mut flooded = users.pop().context("two users")?;
    let meter = meter();
    let started = Instant::now();
    flooded
        .send_chat(
            &format!("c0@{GATEWAY}"),
            "b".into(),
            &format!("/burst {count}"),
        )
        .await?;
    // The other user writes every 100 ms while the burst goes out.
    let chatting = tokio::spawn(async move {
        let mut round_trips = Vec::new();
        for n in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let body = format!("meanwhile {n}");
            let sent = Instant::now();
            other
                .send_chat(&format!("c1@{GATEWAY}"), format!("o{n}"), &body)
                .await?;
            other
                .wait_for(|s| chat_body(s, GATEWAY).as_deref() == Some(body.as_str()))
                .await?;
            round_trips.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        anyhow::Ok(round_trips)
    });
    let mut arrivals = Vec::with_capacity(count as usize);
    while arrivals.len() < count as usize {
        let stanza = flooded.next().await.context("the stream ended")?;
        if chat_body(&stanza, GATEWAY).is_some_and(|b| b.starts_with("burst ")) {
            arrivals.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let mut others = chatting.await??;
    others.sort_by(f64::total_cmp);
    let at = |q: f64| arrivals[((arrivals.len() - 1) as f64 * q) as usize];
    Ok(meter.report(json!({
        "scenario": "burst",
        "messages": count,
        "first_ms": at(0.0),
        "p50_ms": at(0.5),
        "last_ms": at(1.0),
        "other_user_echo_ms_p50": others[others.len() / 2],
        "other_user_echo_ms_max": others[others.len() - 1],
    })))
}
