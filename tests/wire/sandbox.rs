//! Containment: a plugin instance that crashes, loops or eats memory is
//! stopped and replaced; only its own user notices.

use std::collections::HashMap;
use std::time::Duration;

use gatehouse_tests::{GATEWAY, Wire, child_text};
use minidom::Element;

use crate::{NS, ROMEO};

const JULIET: &str = "juliet@localhost";

fn chat(from: &str, id: &str, body: &str) -> String {
    format!(
        "<message type='chat' id='{id}' from='{from}/pc' to='c0@{GATEWAY}'><body>{body}</body></message>"
    )
}

#[tokio::test]
async fn a_crash_a_loop_or_a_hog_stops_one_users_instance_only() {
    contained("echo", 16, 500).await;
}

#[tokio::test]
async fn the_javascript_build_is_contained_like_the_rust_one() {
    contained("echo-js", 48, 2000).await;
}

#[tokio::test]
async fn the_python_build_is_contained_like_the_rust_one() {
    contained("echo-py", 96, 2000).await;
}

/// ECHO.md's `/crash`, `/spin` and `/hog` sent by romeo to a build of the
/// echo network while juliet chats on: each stops romeo's instance only
/// (he is told why, his message gets an error), juliet's echoes all arrive
/// in order, and romeo's next message is served by a new instance. The
/// interpreters get a memory cap and a deadline that fit their start.
async fn contained(plugin: &str, memory_mb: u32, call_timeout_ms: u64) {
    let cache = gatehouse_tests::process::compiled_cache();
    let mut w = Wire::start_with(
        true,
        plugin,
        &format!(
            "memory_mb = {memory_mb}\ncall_timeout_ms = {call_timeout_ms}\n\n\
             [engine]\ncache_dir = \"{}\"",
            cache.display()
        ),
    )
    .await;
    w.register(ROMEO, "romeo", 1).await;
    w.register(JULIET, "juliet", 1).await;
    for (command, told) in [
        (
            "/crash",
            "The gateway's plugin crashed during a message; it was restarted.".to_owned(),
        ),
        (
            "/spin",
            format!(
                "The gateway's plugin ran past its {call_timeout_ms} ms time limit during a message; it was restarted."
            ),
        ),
        (
            "/hog",
            format!(
                "The gateway's plugin used more than its {memory_mb} MiB of memory during a message; it was restarted."
            ),
        ),
    ] {
        w.link.send(&chat(ROMEO, "bad", command)).await;
        // Juliet chats on meanwhile.
        for n in 1..=3 {
            w.link
                .send(&chat(JULIET, &format!("j{n}"), &format!("meanwhile {n}")))
                .await;
        }
        let mut juliet_echoes = Vec::new();
        // Juliet's echoes that came before romeo was told: during his spin.
        let mut before_told = 0;
        let mut romeo: HashMap<&str, Element> = HashMap::new();
        while juliet_echoes.len() < 3 || romeo.len() < 2 {
            let el = w.link.recv().await;
            let to = el.attr("to").unwrap_or_default();
            let body = child_text(&el, "body", NS);
            if to.starts_with(JULIET) {
                // Nothing but her echoes (and their receipts) reach her.
                assert_ne!(el.attr("type"), Some("error"), "{plugin} {command}: {el:?}");
                assert_eq!(el.attr("from"), Some("c0@echo.localhost/gatehouse"));
                if let Some(body) = body {
                    juliet_echoes.push(body);
                    before_told += usize::from(!romeo.contains_key("told"));
                }
            } else if to.starts_with(ROMEO) {
                if el.attr("type") == Some("error") {
                    romeo.insert("error", el);
                } else if el.attr("from") == Some(GATEWAY) && body.is_some() {
                    romeo.insert("told", el);
                }
            }
        }
        assert_eq!(
            juliet_echoes,
            (1..=3)
                .map(|n| format!("meanwhile {n}"))
                .collect::<Vec<_>>(),
            "juliet's messages all arrive, in order"
        );
        if command == "/spin" {
            assert_eq!(
                before_told, 3,
                "{plugin}: juliet's echoes waited for romeo's spin"
            );
        }
        assert_eq!(
            child_text(&romeo["told"], "body", NS).as_deref(),
            Some(told.as_str()),
            "{plugin} {command}"
        );
        let error = romeo["error"].get_child("error", NS).expect("an error");
        assert!(error.has_child(
            "internal-server-error",
            "urn:ietf:params:xml:ns:xmpp-stanzas"
        ));
        // Romeo's next message is served by a new instance.
        w.link.send(&chat(ROMEO, "again", "back?")).await;
        let echo = w
            .link
            .recv_until("romeo's echo", |e| {
                e.attr("to") == Some(ROMEO) && child_text(e, "body", NS).as_deref() == Some("back?")
            })
            .await;
        assert_eq!(echo.attr("from"), Some("c0@echo.localhost/gatehouse"));
    }
}

#[tokio::test]
async fn the_key_value_store_survives_a_crash_and_a_restart() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    w.link.send(&chat(ROMEO, "s", "/store colour blue ✓")).await;
    w.link.send(&chat(ROMEO, "c", "/crash")).await;
    w.link.send(&chat(ROMEO, "l", "/load colour")).await;
    let loaded = w
        .link
        .recv_until("the loaded value", |e| {
            e.attr("from") == Some("c0@echo.localhost/gatehouse")
                && child_text(e, "body", NS).is_some()
        })
        .await;
    assert_eq!(child_text(&loaded, "body", NS).as_deref(), Some("blue ✓"));
    w.gateway.restart();
    let mut link = Wire::connect(&w.server, true).await;
    link.recv_until("the status", |e| {
        child_text(e, "status", NS).as_deref() == Some("Echo network: logged in as romeo")
    })
    .await;
    link.send(&chat(ROMEO, "l2", "/load colour")).await;
    link.send(&chat(ROMEO, "l3", "/load nothing")).await;
    let first = link.recv().await;
    assert_eq!(child_text(&first, "body", NS).as_deref(), Some("blue ✓"));
    let second = link.recv().await;
    assert_eq!(child_text(&second, "body", NS).as_deref(), Some("(none)"));
}

#[tokio::test]
async fn the_key_value_store_is_capped() {
    let mut w = Wire::start_with(true, "echo", "storage_kb = 1").await;
    w.register(ROMEO, "romeo", 1).await;
    let big = "x".repeat(1100);
    w.link
        .send(&chat(ROMEO, "s", &format!("/store big {big}")))
        .await;
    let refused = w.link.recv().await;
    assert_eq!(
        child_text(&refused, "body", NS).as_deref(),
        Some("not stored: the key-value store is limited to 1 KiB")
    );
    w.link.send(&chat(ROMEO, "s2", "/store small fits")).await;
    w.link.send(&chat(ROMEO, "l", "/load small")).await;
    let loaded = w.link.recv().await;
    assert_eq!(child_text(&loaded, "body", NS).as_deref(), Some("fits"));
}

#[tokio::test]
async fn a_plugin_that_crashes_at_every_login_is_parked() {
    // Short retries: the one that would follow the 5th failure (200 ms ×
    // 2⁴) comes well inside the silence below, unless parking stops it.
    let mut w = Wire::start_with(true, "echo", "login_retry_ms = 200").await;
    w.link
        .send(&gatehouse_tests::register_iq(
            ROMEO,
            "r1",
            "crashlogin",
            "0",
        ))
        .await;
    // The retries come by themselves, 200, 400, 800 and 1600 ms apart:
    // four failures told, then the fifth crash parks the session.
    for n in 0..4 {
        let told = w
            .link
            .recv_until("a login failure", |e| {
                child_text(e, "body", NS).is_some_and(|b| b.starts_with("Could not log in"))
            })
            .await;
        if n == 0 {
            let body = child_text(&told, "body", NS).unwrap_or_default();
            assert!(body.ends_with("Retrying in 200 ms."), "{body}");
        }
    }
    let parked = w
        .link
        .recv_until("the parking notice", |e| {
            child_text(e, "body", NS).is_some_and(|b| b.contains("is parked"))
        })
        .await;
    assert_eq!(parked.attr("from"), Some(GATEWAY));
    let status = w.link.recv().await;
    assert_eq!(child_text(&status, "show", NS).as_deref(), Some("xa"));
    assert_eq!(
        child_text(&status, "status", NS).as_deref(),
        Some("Parked: the plugin crashed at 5 logins in a row")
    );
    // No automatic retry: one (3.2 s) would show as a new login.
    w.link.expect_silence(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_plugin_reaches_only_what_is_granted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A TCP echo server: the one address this gateway grants.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 256];
        let n = socket.read(&mut buf).await.unwrap();
        socket.write_all(&buf[..n]).await.unwrap();
        // Then hang up.
    });
    // A one-shot HTTP server, the other granted address.
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = http.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = http.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = "hello over http";
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
    });
    let grants = format!("allow = [\"127.0.0.1:{port}\", \"127.0.0.1:{http_port}\"]");
    let mut w = probe_session(&grants).await;
    let mut ask = async |body: &str| ask_probe(&mut w, body).await;
    assert_eq!(
        ask(&format!("get 127.0.0.1:{http_port} /hello")).await,
        "got: hello over http"
    );
    let denied = ask(&format!(
        "get 127.0.0.1:{} /hello",
        http_port.wrapping_add(1)
    ))
    .await;
    assert!(denied.contains("HttpRequestDenied"), "{denied}");
    let file = ask("file /etc/hostname").await;
    assert!(file.starts_with("file refused:"), "{file}");
    let env = ask("env HOME").await;
    assert!(env.starts_with("env refused:"), "{env}");
    let other = port.wrapping_add(1);
    assert_eq!(
        ask(&format!("open 127.0.0.1 {other}")).await,
        format!(
            "open refused: 127.0.0.1:{other} is not granted to this gateway (see `allow` in its configuration)"
        )
    );
    assert!(
        ask(&format!("open localhost {port}"))
            .await
            .starts_with("open refused:")
    );
    assert_eq!(ask(&format!("open 127.0.0.1 {port}")).await, "opened 1");
    assert_eq!(ask("send 1 hello stream ✓").await, "data 1: hello stream ✓");
    let closed = w
        .link
        .recv_until("the end of the stream", |e| {
            child_text(e, "body", NS).is_some()
        })
        .await;
    assert_eq!(
        child_text(&closed, "body", NS).as_deref(),
        Some("closed 1: by the peer")
    );
}

#[tokio::test]
async fn a_flood_past_the_rate_is_paced_not_dropped() {
    let mut w = Wire::start_with(true, "echo", "messages_per_second = 10").await;
    w.register(ROMEO, "romeo", 1).await;
    let start = std::time::Instant::now();
    w.link.send(&chat(ROMEO, "flood", "/burst 50")).await;
    // Every message arrives, in order: none refused, none lost.
    for n in 1..=50 {
        let m = w.link.recv().await;
        assert_eq!(m.name(), "message");
        assert_eq!(child_text(&m, "body", NS), Some(format!("burst {n}")));
    }
    // Bursts of twice the rate pass at once; the other 30 waited their
    // turn at 10 a second (a lower bound: a loaded machine only adds).
    let took = start.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(2500),
        "50 messages at 10 a second arrived in {took:?}"
    );
}

#[tokio::test]
async fn one_users_flood_does_not_hold_up_another_users_echoes() {
    let mut w = Wire::start_with(true, "echo", "messages_per_second = 50").await;
    w.register(ROMEO, "romeo", 1).await;
    w.register(JULIET, "juliet", 1).await;
    // Romeo's plugin queues 500 messages: 100 go at once, 400 wait 8 s.
    w.link.send(&chat(ROMEO, "flood", "/burst 500")).await;
    let first = w.link.recv().await;
    assert_eq!(child_text(&first, "body", NS).as_deref(), Some("burst 1"));
    for n in 1..=10 {
        w.link
            .send(&chat(JULIET, &format!("j{n}"), &format!("meanwhile {n}")))
            .await;
    }
    // Juliet's ten echoes all arrive, in order, while Romeo's flood is
    // still going out; and Romeo's arrive whole and in order too.
    let mut juliet = Vec::new();
    let mut romeo = 1;
    while romeo < 500 {
        let el = w.link.recv().await;
        let Some(body) = child_text(&el, "body", NS) else {
            continue; // receipts and markers of Juliet's messages
        };
        match el.attr("to").unwrap_or_default() {
            JULIET => juliet.push(body),
            _ => {
                romeo += 1;
                assert_eq!(body, format!("burst {romeo}"));
                if romeo == 500 {
                    assert_eq!(juliet.len(), 10, "juliet's echoes waited for romeo's flood");
                }
            }
        }
    }
    let expected: Vec<String> = (1..=10).map(|n| format!("meanwhile {n}")).collect();
    assert_eq!(juliet, expected);
}

#[tokio::test]
async fn a_flood_past_the_backlog_is_refused_and_what_was_queued_arrives() {
    let mut w = Wire::start_with(true, "echo", "messages_per_second = 10\nbacklog_kb = 4").await;
    w.register(ROMEO, "romeo", 1).await;
    w.link.send(&chat(ROMEO, "flood", "/burst 500")).await;
    // What fitted in the user's 4 KiB of waiting stanzas arrives in order,
    // then the refusal of the user's message.
    let mut n = 0;
    let refused = loop {
        let m = w.link.recv().await;
        if m.attr("type") == Some("error") {
            break m;
        }
        n += 1;
        assert_eq!(child_text(&m, "body", NS), Some(format!("burst {n}")));
    };
    assert!((5..500).contains(&n), "{n} messages before the refusal");
    assert_eq!(refused.name(), "message");
    assert_eq!(refused.attr("id"), Some("flood"));
    let error = refused.get_child("error", NS).expect("an error");
    let text = child_text(error, "text", "urn:ietf:params:xml:ns:xmpp-stanzas").unwrap_or_default();
    assert!(text.contains("4 KiB of waiting stanzas are full"), "{text}");
}

#[tokio::test]
async fn a_tls_stream_checks_the_certificate() {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};

    // A TLS echo server for "localhost", with a certificate of its own CA.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let mut buf = [0u8; 256];
                    if let Ok(n) = tls.read(&mut buf).await {
                        let _ = tls.write_all(&buf[..n]).await;
                    }
                }
            });
        }
    });
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), certified.cert.pem()).unwrap();

    for (trusted, expected) in [
        (false, "open refused: TLS with localhost"),
        (true, "opened 1"),
    ] {
        let tls_ca = if trusted {
            format!("tls_ca = [\"{}\"]", ca.path().display())
        } else {
            String::new()
        };
        // The certificate names localhost; the address it resolves to is
        // internal, so it is granted too.
        let grants = format!("allow = [\"localhost:{port}\", \"127.0.0.1:{port}\"]");
        let mut w = probe_session(&format!("{grants}\n{tls_ca}")).await;
        let mut ask = async |body: &str| ask_probe(&mut w, body).await;
        let opened = ask(&format!("opentls localhost {port}")).await;
        assert!(opened.starts_with(expected), "{opened}");
        if trusted {
            assert_eq!(ask("send 1 secret ✓").await, "data 1: secret ✓");
        }
    }
}

#[tokio::test]
async fn pooled_instances_serve_and_recover_like_on_demand_ones() {
    let mut w = Wire::start_with(true, "echo", "\n[engine]\npool_instances = 8").await;
    w.register(ROMEO, "romeo", 1).await;
    w.register(JULIET, "juliet", 1).await;
    w.link.send(&chat(ROMEO, "c", "/crash")).await;
    w.link.send(&chat(ROMEO, "a", "after the crash")).await;
    w.link.send(&chat(JULIET, "j", "meanwhile")).await;
    let mut echoes = Vec::new();
    while echoes.len() < 2 {
        let el = w.link.recv().await;
        if el.attr("from") == Some("c0@echo.localhost/gatehouse")
            && let Some(body) = child_text(&el, "body", NS)
        {
            echoes.push((el.attr("to").unwrap_or_default().to_owned(), body));
        }
    }
    echoes.sort();
    assert_eq!(
        echoes,
        [
            (JULIET.to_owned(), "meanwhile".to_owned()),
            (ROMEO.to_owned(), "after the crash".to_owned()),
        ]
    );
}

/// A gateway running the probe plugin with `extra` config, romeo registered.
pub(crate) async fn probe_session(extra: &str) -> Wire {
    let mut w = Wire::start_with(true, "probe", extra).await;
    w.link
        .send(&format!(
            "<iq type='set' id='r1' from='{ROMEO}/pc' to='{GATEWAY}'><query xmlns='jabber:iq:register'>\
             <username>romeo</username></query></iq>"
        ))
        .await;
    w.link
        .recv_until("the status", |e| {
            child_text(e, "status", NS).as_deref() == Some("probing")
        })
        .await;
    w
}

/// Sends a command to the probe's contact `a` and returns its answer.
pub(crate) async fn ask_probe(w: &mut Wire, body: &str) -> String {
    w.link
        .send(&format!(
            "<message type='chat' id='q' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>{body}</body></message>"
        ))
        .await;
    let answer = w
        .link
        .recv_until("the probe's answer", |e| {
            e.attr("from") == Some("a@echo.localhost/gatehouse")
                && child_text(e, "body", NS).is_some()
        })
        .await;
    child_text(&answer, "body", NS).unwrap_or_default()
}

/// A call that waits in the host (a WASI clock sleep of a minute: no
/// WebAssembly runs, so no epoch tick reaches it) is stopped at its
/// wall-clock bound like a loop; the user is told, the next message gets a
/// new instance, and an unregistration while the plugin is blocked again is
/// answered within the bound, not after the sleep.
#[tokio::test]
async fn a_call_blocked_in_the_host_is_stopped_at_its_deadline() {
    let mut w = probe_session("call_timeout_ms = 500").await;
    let started = std::time::Instant::now();
    w.link
        .send(&format!(
            "<message type='chat' id='b1' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>block 60000</body></message>"
        ))
        .await;
    let told = w
        .link
        .recv_until("the user told", |e| {
            e.attr("from") == Some(GATEWAY) && child_text(e, "body", NS).is_some()
        })
        .await;
    assert_eq!(
        child_text(&told, "body", NS).as_deref(),
        Some(
            "The gateway's plugin ran past its 500 ms time limit during a message; it was restarted."
        )
    );
    let error = w
        .link
        .recv_until("the message's error", |e| e.attr("type") == Some("error"))
        .await;
    assert_eq!(error.attr("id"), Some("b1"));
    assert!(error.get_child("error", NS).is_some_and(|e| e.has_child(
        "internal-server-error",
        "urn:ietf:params:xml:ns:xmpp-stanzas"
    )));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped long before the sleep's end"
    );
    assert_eq!(ask_probe(&mut w, "block 1").await, "woke after 1 ms");

    // Blocked again, the user leaves: the answer does not wait for the sleep.
    w.link
        .send(&format!(
            "<message type='chat' id='b2' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>block 60000</body></message>"
        ))
        .await;
    let leaving = std::time::Instant::now();
    w.link
        .send(&format!(
            "<iq type='set' id='u1' from='{ROMEO}/pc' to='{GATEWAY}'><query xmlns='jabber:iq:register'><remove/></query></iq>"
        ))
        .await;
    let answer = w
        .link
        .recv_until("the unregistration's answer", |e| {
            e.attr("id") == Some("u1")
        })
        .await;
    assert_eq!(answer.attr("type"), Some("result"));
    assert!(
        leaving.elapsed() < Duration::from_secs(30),
        "answered within the bound"
    );
}

/// A granted name that resolves to an internal address (here `localhost`,
/// loopback: the XMPP server's component port lives there) is refused,
/// unless a grant names the address itself; the connection then goes to
/// the address that was checked.
#[tokio::test]
async fn a_granted_name_does_not_reach_an_internal_address() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let mut w = probe_session(&format!("allow = [\"localhost:{port}\"]")).await;
    let refused = ask_probe(&mut w, &format!("open localhost {port}")).await;
    assert!(
        refused.starts_with("open refused: localhost resolves to ")
            && refused.contains("an internal address (loopback, private, link-local): grant "),
        "{refused}"
    );
    let mut w = probe_session(&format!(
        "allow = [\"localhost:{port}\", \"127.0.0.1:{port}\"]"
    ))
    .await;
    assert_eq!(
        ask_probe(&mut w, &format!("open localhost {port}")).await,
        "opened 1"
    );
}

/// A presence flood holds one presence per contact, not one per call:
/// 20 000 presences (some 6 MB of stanzas) in one call fit a 1 MiB backlog,
/// and the user sees few of them, the last one last.
#[tokio::test]
async fn a_presence_flood_keeps_only_the_newest_presence() {
    let mut w = probe_session("backlog_kb = 1024").await;
    w.link
        .send(&format!(
            "<message type='chat' id='q' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>presences 20000</body></message>"
        ))
        .await;
    let mut presences = Vec::new();
    let answer = loop {
        let el = w.link.recv().await;
        if el.is("presence", NS) && el.attr("from") == Some("a@echo.localhost/gatehouse") {
            presences.push(child_text(&el, "status", NS).unwrap_or_default());
        } else if el.is("message", NS) && el.attr("type") != Some("headline") {
            break el;
        }
    };
    assert_eq!(answer.attr("type"), Some("chat"), "{answer:?}");
    assert_eq!(
        child_text(&answer, "body", NS).as_deref(),
        Some("20000 presences set")
    );
    assert!(
        !presences.is_empty() && presences.len() < 1000,
        "{} presences went out",
        presences.len()
    );
    assert_eq!(presences.last().map(String::as_str), Some("p19999"));
}

/// A session holds at most 16 streams: the 17th is refused, with why.
#[tokio::test]
async fn a_session_holds_at_most_sixteen_streams() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // The peer accepts and keeps every connection open.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut w = probe_session(&format!("allow = [\"127.0.0.1:{port}\"]")).await;
    for _ in 0..16 {
        let opened = ask_probe(&mut w, &format!("open 127.0.0.1 {port}")).await;
        assert!(opened.starts_with("opened "), "{opened}");
    }
    assert_eq!(
        ask_probe(&mut w, &format!("open 127.0.0.1 {port}")).await,
        "open refused: a session may hold at most 16 streams"
    );
}
