//! The component link: handshake, reconnection, and the outgoing queue
//! kept across reconnections.

use std::time::Duration;

use gatehouse_tests::{GATEWAY, Wire, child_text, register_iq};

use crate::{NS, ROMEO};

#[tokio::test]
async fn stanzas_queued_while_disconnected_go_out_after_the_handshake() {
    let mut w = Wire::start(true).await;
    // A user whose login fails: the gateway retries by itself 5 s later,
    // while the server is away.
    w.link
        .send(&register_iq(ROMEO, "r1", "crashlogin", "0"))
        .await;
    w.link
        .recv_until("the first failure", |e| {
            e.is("message", NS)
                && child_text(e, "body", NS).is_some_and(|b| b.starts_with("Could not log in"))
        })
        .await;
    let Wire {
        server,
        link,
        gateway: _gateway,
    } = w;
    link.drop_connection();
    // Stay away past the retry; the gateway keeps trying to connect.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut link = server.accept(gatehouse_tests::SECRET).await;
    link.send(gatehouse_tests::PRIVILEGE).await;
    // What the retry produced while away arrives first, in order.
    let logging_in = link.recv().await;
    assert_eq!(logging_in.attr("from"), Some(GATEWAY));
    assert_eq!(
        child_text(&logging_in, "status", NS).as_deref(),
        Some("Logging in…")
    );
    let crashed = link.recv().await;
    assert!(child_text(&crashed, "body", NS).is_some_and(|b| b.contains("crashed during login")));
    let failed = link.recv().await;
    assert!(
        child_text(&failed, "body", NS).is_some_and(
            |b| b.starts_with("Could not log in: the plugin crashed. Retrying in 10 s")
        ),
        "{}",
        String::from(&failed)
    );
}

#[tokio::test]
async fn the_gateway_reconnects_and_serves_again() {
    let w = Wire::start(true).await;
    let Wire {
        server,
        link,
        gateway: _gateway,
    } = w;
    link.drop_connection();
    let mut link = Wire::connect(&server, true).await;
    link.send(&format!(
        "<iq type='get' id='p' from='{ROMEO}/pc' to='{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
    ))
    .await;
    let pong = link.recv().await;
    assert_eq!(pong.attr("id"), Some("p"));
}

/// While the server is away the link holds a bounded queue (its unit
/// test) and the rest waits in the user's own queue: 3000 messages the
/// plugin sends then all arrive, in order, once the server is back.
#[tokio::test]
async fn a_flood_while_the_server_is_away_waits_and_arrives_whole() {
    let mut w = crate::sandbox::probe_session(
        "messages_per_second = 1000000\nupdates_per_second = 1000000",
    )
    .await;
    w.link
        .send(&format!(
            "<message type='chat' id='l' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>later 500 3000</body></message>"
        ))
        .await;
    // The message was read: a ping behind it is answered.
    w.link
        .send(&format!(
            "<iq type='get' id='p' from='{ROMEO}/pc' to='{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    w.link
        .recv_until("the ping's answer", |e| e.attr("id") == Some("p"))
        .await;
    let Wire {
        server,
        link,
        gateway: _gateway,
    } = w;
    link.drop_connection();
    // Away while the plugin sends.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Accepted by hand: what was queued comes before the settle ping,
    // which `Wire::connect` would skip.
    let mut link = server.accept(gatehouse_tests::SECRET).await;
    link.send(gatehouse_tests::PRIVILEGE).await;
    let mut k = 0;
    while k < 3000 {
        let el = link.recv().await;
        if el.is("iq", NS) && el.attr("type") == Some("get") {
            let id = el.attr("id").unwrap_or_default();
            link.send(&format!(
                "<iq type='result' id='{id}' from='localhost' to='{GATEWAY}'/>"
            ))
            .await;
        }
        if let Some(body) = child_text(&el, "body", NS)
            && body.starts_with("later ")
        {
            k += 1;
            assert_eq!(body, format!("later {k}"));
        }
    }
}
