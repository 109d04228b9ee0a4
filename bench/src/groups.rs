//! Groups under load: joining a room of `participants` (time to the
//! self-presence, gateway CPU), groupchat echo throughput (each message
//! archived, reflected and answered), a MAM page of 50 from an archive of
//! `archive` messages, and the gateway's memory per room. One user; the
//! echo network's `/crowd`, `/history` and `groups` registration field.

use std::time::Instant;

use anyhow::Context;
use gatehouse_tests::GATEWAY;
use gatehouse_tests::c2s::{User, logged_in};
use serde_json::{Value, json};

use crate::{Meter, proc};

const ROOM: &str = "g0@echo.localhost";
const CLIENT: &str = "jabber:client";
const MAM: &str = "urn:xmpp:mam:2";

/// Whether a stanza is the user's self-presence in the room.
fn self_presence(s: &minidom::Element) -> bool {
    s.is("presence", CLIENT)
        && s.get_child("x", "http://jabber.org/protocol/muc#user")
            .is_some_and(|x| x.children().any(|c| c.attr("code") == Some("110")))
}

fn subject(s: &minidom::Element) -> bool {
    s.is("message", CLIENT) && s.has_child("subject", CLIENT)
}

async fn join(user: &mut User) -> anyhow::Result<()> {
    user.send_xml(&format!(
        "<presence xmlns='{CLIENT}' to='{ROOM}/load0'><x xmlns='http://jabber.org/protocol/muc'>\
         <history maxstanzas='0'/></x></presence>"
    ))
    .await?;
    user.wait_for(subject).await?;
    Ok(())
}

async fn say(user: &mut User, id: &str, body: &str) -> anyhow::Result<()> {
    user.send_xml(&format!(
        "<message xmlns='{CLIENT}' type='groupchat' to='{ROOM}' id='{id}'><body>{body}</body></message>"
    ))
    .await
}

/// The four measurements, one JSON line each.
pub async fn run(
    server: &str,
    gateway_pid: u32,
    participants: u32,
    messages: u32,
    window: u32,
    archive: u32,
    meter: impl Fn() -> Meter,
) -> anyhow::Result<Vec<Value>> {
    let mut user = User::connect(server, "load0").await?;
    user.send_registration(GATEWAY, "load0", 2).await?;
    user.wait_for(|s| logged_in(s, GATEWAY)).await?;
    join(&mut user).await?;
    say(&mut user, "crowd", &format!("/crowd {participants}")).await?;
    user.wait_for(|s| s.attr("id") == Some("crowd")).await?;
    let mut lines = Vec::new();

    // A join of the crowded room: every participant's presence, then ours.
    let m = meter();
    let started = Instant::now();
    user.send_xml(&format!(
        "<presence xmlns='{CLIENT}' to='{ROOM}/load0'><x xmlns='http://jabber.org/protocol/muc'>\
         <history maxstanzas='0'/></x></presence>"
    ))
    .await?;
    user.wait_for(self_presence).await?;
    let to_self = started.elapsed().as_secs_f64() * 1000.0;
    user.wait_for(subject).await?;
    lines.push(m.report(json!({
        "scenario": "groups-join",
        "participants": participants + 2,
        "to_self_presence_ms": to_self,
    })));

    // Groupchat echo: `window` messages in flight, each reflected, then
    // heard by Contact 0; both archived.
    let m = meter();
    let started = Instant::now();
    let (mut sent, mut heard) = (0u32, 0u32);
    while heard < messages {
        while sent < messages && sent - heard < window {
            say(&mut user, &format!("m{sent}"), &format!("echo {sent}")).await?;
            sent += 1;
        }
        let stanza = user.next().await.context("the stream ended")?;
        if stanza
            .get_child("body", CLIENT)
            .is_some_and(|b| b.text().starts_with("heard: echo "))
        {
            heard += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut line = m.report(json!({
        "scenario": "groups-echo",
        "messages": messages,
        "seconds": seconds,
        "messages_per_second": f64::from(messages) / seconds,
    }));
    if let Some(cpu) = line["gateway_cpu_s"].as_f64() {
        line["gateway_cpu_us_per_message"] = json!(cpu * 1e6 / f64::from(messages));
    }
    lines.push(line);

    // A MAM page of 50 from a large archive: the newest, and one from the
    // middle (RSM after an id), 20 times each.
    say(&mut user, "history", &format!("/history {archive}")).await?;
    user.wait_for(|s| s.attr("id") == Some("history")).await?;
    let (mut newest, mut middle) = (Vec::new(), Vec::new());
    let middle_id = format!("e{}", archive / 2);
    for n in 0..20 {
        for (set, times) in [
            ("<max>50</max><before/>".to_owned(), &mut newest),
            (
                format!("<max>50</max><after>{middle_id}</after>"),
                &mut middle,
            ),
        ] {
            let id = format!("q{n}-{}", times.len());
            let started = Instant::now();
            user.send_xml(&format!(
                "<iq xmlns='{CLIENT}' type='set' to='{ROOM}' id='{id}'><query xmlns='{MAM}'>\
                 <set xmlns='http://jabber.org/protocol/rsm'>{set}</set></query></iq>"
            ))
            .await?;
            user.wait_for(|s| s.attr("id") == Some(id.as_str())).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let p50 = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    lines.push(json!({
        "scenario": "groups-mam",
        "archive": archive,
        "page": 50,
        "newest_page_ms_p50": p50(&mut newest),
        "middle_page_ms_p50": p50(&mut middle),
    }));

    // Memory per room: a second user with 1000 groups (its session's own
    // cost, a thousandth of it, is in the figure).
    let before = proc::rss_kib(gateway_pid);
    let mut other = User::connect(server, "load1").await?;
    other
        .send_xml(&format!(
            "<iq xmlns='{CLIENT}' type='set' id='register' to='{GATEWAY}'>\
             <query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>jabber:iq:register</value></field>\
             <field var='username'><value>load1</value></field>\
             <field var='contacts'><value>2</value></field>\
             <field var='groups'><value>1000</value></field></x></query></iq>"
        ))
        .await?;
    other.wait_for(|s| logged_in(s, GATEWAY)).await?;
    let after = proc::rss_kib(gateway_pid);
    lines.push(json!({
        "scenario": "groups-memory",
        "rooms": 1000,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_room": (after as f64 - before as f64) / 1000.0,
    }));
    Ok(lines)
}
