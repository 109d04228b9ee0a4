//! Helpers of the measuring binaries (`tests/measure/`): process memory,
//! and many users registered and logged in through the fake server.

use std::time::Duration;

use crate::fake_server::NS;
use crate::{FakeLink, GATEWAY, child_text, register_iq};

/// This process's resident memory, in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Registers `user0@localhost` … with `contacts` echo contacts each, and
/// waits until every one is logged in, answering roster pushes as a server
/// does. The last roster pushes may still be on their way: see [`drain`].
pub async fn register_users(link: &mut FakeLink, users: usize, contacts: &str) {
    for n in 0..users {
        link.send(&register_iq(
            &format!("user{n}@localhost"),
            &format!("r{n}"),
            &format!("user{n}"),
            contacts,
        ))
        .await;
    }
    let mut logged_in = 0;
    while logged_in < users {
        let el = link.recv().await;
        if el.is("presence", NS)
            && el.attr("from") == Some(GATEWAY)
            && child_text(&el, "status", NS).is_some_and(|s| s.contains("logged in"))
        {
            logged_in += 1;
        } else if el.is("iq", NS) && el.attr("type") == Some("set") {
            let id = el.attr("id").unwrap_or_default();
            let to = el.attr("to").unwrap_or_default();
            link.send(&format!(
                "<iq type='result' id='{id}' from='{to}' to='{GATEWAY}'/>"
            ))
            .await;
        }
    }
}

/// Reads stanzas until none came for half a second.
pub async fn drain(link: &mut FakeLink) {
    while link.recv_within(Duration::from_millis(500)).await.is_some() {}
}

/// The median and the 99th percentile of some durations, in microseconds.
pub fn median_p99(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    (at(0.5), at(0.99))
}
