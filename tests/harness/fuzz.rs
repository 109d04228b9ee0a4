//! The fuzz targets' bodies: everything that parses outside input, each
//! checked for panics and for the invariants it promises.
//!
//! `fuzz/` (cargo-fuzz, nightly, run by hand) calls these on generated
//! inputs; `tests/fuzz/main.rs` replays the kept corpus and every crash
//! found through the same functions on stable, in CI.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once, OnceLock};

use gatehouse::config::Config;
use gatehouse::stanza::escape::{EscapeError, escape, jid_username, prepare_username, unescape};
use gatehouse::stanza::register::{
    FieldKind, FormField, RegistrationForm, Submission, parse_submission,
};
use minidom::Element;

use crate::{GATEWAY, Wire};

/// XEP-0106: any legacy id escapes to a valid local part that unescapes
/// back; any local part unescapes without panicking.
pub fn escaping(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = unescape(text);
    match escape(text) {
        Ok(local) => assert_eq!(unescape(&local), text, "escape round trip"),
        Err(EscapeError::Empty | EscapeError::EdgeSpace) => {}
        Err(e) => panic!("escape refused {text:?}: {e}"),
    }
    if let Ok(local) = jid_username(text) {
        assert_eq!(prepare_username(&local).as_deref(), Some(local.as_str()));
    }
}

/// The operator's file: any text is either a configuration or one line
/// naming the key at fault.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new("/fuzz")) {
        Ok(config) => {
            assert!(!config.gateways.is_empty());
            for gateway in &config.gateways {
                assert!(!gateway.allow_users.is_empty(), "a default applies");
                assert!(gateway.plugin.is_absolute());
            }
        }
        Err((key, message)) => {
            assert!(
                !key.is_empty() && !message.is_empty(),
                "{key:?}: {message:?}"
            );
        }
    }
}

/// XEP-0077: a submitted `<query/>` is a removal, values the form takes,
/// or an error text; the form shown back with those values serialises.
pub fn registration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = text.parse::<Element>() else {
        return;
    };
    let form = RegistrationForm {
        title: "t".into(),
        instructions: "i".into(),
        fields: vec![
            FormField {
                var: "username".into(),
                label: "User".into(),
                kind: FieldKind::TextSingle,
                required: true,
                default_value: None,
            },
            FormField {
                var: "password".into(),
                label: "Password".into(),
                kind: FieldKind::TextPrivate,
                required: false,
                default_value: Some("x".into()),
            },
        ],
    };
    match parse_submission(&query) {
        Ok(Submission::Values(values)) => {
            if let Ok(complete) = form.complete(&values) {
                assert!(complete.iter().any(|(var, _)| var == "username"));
                let _ = String::from(&form.to_query(Some(&complete)));
            }
        }
        Ok(Submission::Remove) => {}
        Err(text) => assert!(!text.is_empty()),
    }
}

/// One gateway (echo plugin, short call deadline) against the fake server,
/// with a registered user, shared by every input of a run.
struct World {
    runtime: tokio::runtime::Runtime,
    /// None only while [`raw`] has the link down.
    wire: Mutex<Option<Wire>>,
}

static PANICKED: AtomicBool = AtomicBool::new(false);
static PINGS: AtomicU64 = AtomicU64::new(0);

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        World::start(async {
            let mut wire =
                Wire::start_with(true, "echo", "call_timeout_ms = 200\nmemory_mb = 16").await;
            wire.register("romeo@localhost", "romeo", 3).await;
            wire
        })
    })
}

/// The probe plugin's gateway (generous rates, so that an input's flood
/// of messages does not wait at the pace), romeo registered.
fn probe_world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        World::start(async {
            let mut wire = Wire::start_with(
                true,
                "probe",
                "call_timeout_ms = 1000\nmemory_mb = 32\n\
                 messages_per_second = 1000000\nupdates_per_second = 1000000",
            )
            .await;
            register_probe(&mut wire).await;
            wire
        })
    })
}

async fn register_probe(wire: &mut Wire) {
    wire.link
        .send(&format!(
            "<iq type='set' id='fuzz-reg' from='romeo@localhost/fuzz' to='{GATEWAY}'><query xmlns='jabber:iq:register'>\
             <username>romeo</username></query></iq>"
        ))
        .await;
    wire.link
        .recv_until("the probe's login", |e| {
            e.is("presence", crate::fake_server::NS)
                && e.get_child("status", crate::fake_server::NS)
                    .is_some_and(|s| s.text() == "probing")
        })
        .await;
}

impl World {
    fn start(wire: impl Future<Output = Wire>) -> World {
        catch_panics();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let wire = runtime.block_on(wire);
        World {
            runtime,
            wire: Mutex::new(Some(wire)),
        }
    }
}

/// A panic in a gateway task only ends that task: note it, so that the
/// input that caused it fails.
fn catch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// The host's side of the contract: the probe reads the input as import
/// calls with arbitrary arguments (`tests/plugins/probe/src/calls.rs`)
/// and makes them in one `on-text`. The host must answer the message (the
/// probe's count, or an error reply, or the user told of a stopped
/// plugin), never panic, keep the link, and answer a ping after it.
pub fn imports(data: &[u8]) {
    import_calls("calls", data);
}

/// The same for the groups contract (`tests/plugins/probe/src/group_calls.rs`):
/// rooms and participants looked up, set and made to speak with arbitrary
/// arguments.
pub fn group_imports(data: &[u8]) {
    import_calls("gcalls", data);
}

fn import_calls(command: &str, data: &[u8]) {
    let world = probe_world();
    let mut guard = world.wire.lock().unwrap_or_else(|p| p.into_inner());
    let wire = guard.as_mut().expect("the fuzz world's link");
    let n = PINGS.fetch_add(1, Ordering::SeqCst);
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    world.runtime.block_on(async {
        let id = format!("fuzz-calls-{n}");
        wire.link
            .send(&format!(
                "<message type='chat' id='{id}' from='romeo@localhost/fuzz' to='a@{GATEWAY}'><body>{command} {hex}</body></message>"
            ))
            .await;
        // The probe's count; or the plugin's own refusal (an error reply
        // to the message); or, for an instance the host stopped, both
        // the notice and the error reply. The host stops an instance on
        // purpose where an import cannot refuse (`set-timer` past its
        // caps, too many contact handles): that is a "crash" the user is
        // told of; a bug of the host is a panic, which the hook catches.
        let (mut errored, mut stopped) = (false, false);
        loop {
            let e = wire.link.recv().await;
            let body = e
                .get_child("body", crate::fake_server::NS)
                .map(|b| b.text())
                .unwrap_or_default();
            if e.attr("from") == Some("a@echo.localhost/gatehouse") && body.starts_with("ran ") {
                break;
            }
            if e.attr("from") == Some(GATEWAY) && body.contains("was restarted") {
                stopped = true;
            }
            if e.attr("id") == Some(id.as_str()) && e.attr("type") == Some("error") {
                let internal = e
                    .get_child("error", crate::fake_server::NS)
                    .is_some_and(|x| x.has_child("internal-server-error", "urn:ietf:params:xml:ns:xmpp-stanzas"));
                if !internal {
                    break;
                }
                errored = true;
            }
            if errored && stopped {
                break;
            }
        }
        let ping = format!("fuzz-ping-{n}");
        wire.link
            .send(&format!(
                "<iq type='get' id='{ping}' from='romeo@localhost/fuzz' to='{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
            ))
            .await;
        wire.link
            .recv_until("the gateway's answer to a ping", |e| {
                e.attr("id") == Some(ping.as_str())
            })
            .await;
    });
    assert!(
        !PANICKED.load(Ordering::SeqCst),
        "the gateway panicked on {command} {hex}"
    );
}

/// An inbound stanza through the whole gateway: the link's parser, the
/// router, the gateway or the user's session, the plugin. Any well-formed
/// `<message>`, `<presence>` or `<iq>` is sent as it is; the gateway must
/// neither panic nor stop answering (a ping after each input), and must
/// answer every `get` or `set` iq it can address, with a result or an
/// error (RFC 6120 §8.2.3), to its sender, under its id.
pub fn stanza(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Malformed XML is a stream error, not a stanza: see [`raw`].
    let Some(element) = parse_element(text) else {
        return;
    };
    // Any other first-level element is a stream error (RFC 6120
    // `unsupported-stanza-type`): the gateway drops the link, rightly.
    if !["message", "presence", "iq"].contains(&element.name())
        || element.ns() != crate::fake_server::NS
    {
        return;
    }
    let expected = expected_reply(&element);
    let world = world();
    let mut guard = world.wire.lock().unwrap_or_else(|p| p.into_inner());
    let wire = guard.as_mut().expect("the fuzz world's link");
    let n = PINGS.fetch_add(1, Ordering::SeqCst);
    world.runtime.block_on(async {
        wire.link.send_element(&element).await;
        let ping = format!("fuzz-ping-{n}");
        wire.link
            .send(&format!(
                "<iq type='get' id='{ping}' from='romeo@localhost/fuzz' to='{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
            ))
            .await;
        // The reply to the input may come before or after the ping's (a
        // session answers in its own time): wait for both.
        let mut replied = expected.is_none();
        let mut pinged = false;
        while !(replied && pinged) {
            let e = wire
                .link
                .recv_until("the answers to the input and to the ping", |e| {
                    e.attr("id") == Some(ping.as_str())
                        || expected.as_ref().is_some_and(|(id, _)| e.attr("id") == Some(id.as_str()))
                })
                .await;
            if e.attr("id") == Some(ping.as_str()) && e.attr("type") == Some("result") {
                pinged = true;
                continue;
            }
            if let Some((_, sender)) = &expected {
                assert!(
                    e.is("iq", crate::fake_server::NS)
                        && matches!(e.attr("type"), Some("result" | "error")),
                    "the answer to {text:?} is not an iq result or error: {}",
                    String::from(&e)
                );
                assert_eq!(e.attr("to"), Some(sender.as_str()), "the answer to {text:?} goes to its sender");
                replied = true;
            }
        }
        if text.contains("remove") {
            // The input may have unregistered the user: register again,
            // so that later inputs still reach a session.
            wire.register("romeo@localhost", "romeo", 3).await;
        }
    });
    assert!(
        !PANICKED.load(Ordering::SeqCst),
        "the gateway panicked on {text:?}"
    );
}

/// The (id, sender) an iq `get` or `set` must be answered under: only one
/// with an id that is not the ping's own prefix, from and to valid JIDs,
/// to this gateway's domain (the server routes nothing else to it).
fn expected_reply(element: &Element) -> Option<(String, String)> {
    if !element.is("iq", crate::fake_server::NS)
        || !matches!(element.attr("type"), Some("get" | "set"))
    {
        return None;
    }
    let id = element.attr("id")?;
    if id.starts_with("fuzz-") {
        return None;
    }
    let from = jid::Jid::new(element.attr("from")?).ok()?;
    let to = jid::Jid::new(element.attr("to")?).ok()?;
    if to.domain().as_str() != GATEWAY {
        return None;
    }
    Some((id.to_owned(), from.to_string()))
}

/// Bytes that are not a well-formed stanza (malformed XML, not UTF-8),
/// written to the gateway's link by a broken server that then closes it:
/// the gateway must not panic, must connect again, and must answer a ping
/// on the new link, the user's session still there.
pub fn raw(data: &[u8]) {
    let world = world();
    let mut guard = world.wire.lock().unwrap_or_else(|p| p.into_inner());
    let Some(Wire {
        server,
        link,
        gateway,
    }) = guard.take()
    else {
        panic!("an earlier input left the fuzz world without a link");
    };
    let n = PINGS.fetch_add(1, Ordering::SeqCst);
    let (wire, answer) = world.runtime.block_on(async {
        link.send_raw_and_close(data).await;
        let link = Wire::connect(&server, true).await;
        let mut wire = Wire {
            server,
            link,
            gateway,
        };
        let ping = format!("fuzz-ping-{n}");
        wire.link
            .send(&format!(
                "<iq type='get' id='{ping}' from='romeo@localhost/fuzz' to='c0@{GATEWAY}'><ping xmlns='urn:xmpp:ping'/></iq>"
            ))
            .await;
        let answer = wire
            .link
            .recv_until("the answer to a ping after the broken link", |e| {
                e.attr("id") == Some(ping.as_str())
            })
            .await;
        (wire, answer)
    });
    // The world goes back before any assertion, so that a failure here
    // is this input's alone.
    *guard = Some(wire);
    drop(guard);
    assert_eq!(
        answer.attr("type"),
        Some("result"),
        "the user's session answers on the new link: {}",
        String::from(&answer)
    );
    assert!(
        !PANICKED.load(Ordering::SeqCst),
        "the gateway panicked on {:?}",
        String::from_utf8_lossy(data)
    );
}

/// Whether an input is UTF-8 that parses as one element (what [`stanza`]
/// sends; the rest is for [`raw`]).
pub fn is_stanza_text(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|text| parse_element(text).is_some())
}

/// Parses an input as one element; a root without a namespace (a bare
/// `<message>`) is taken in the component namespace, as the fake server's
/// stanzas are.
fn parse_element(text: &str) -> Option<Element> {
    if let Ok(element) = text.parse::<Element>() {
        return Some(element);
    }
    let wrapped: Element = format!("<wrapper xmlns='jabber:component:accept'>{text}</wrapper>")
        .parse()
        .ok()?;
    wrapped.children().next().cloned()
}
