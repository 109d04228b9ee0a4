//! Files to the user (WIRE.md "Files"): a contact's file stored on the
//! host's own endpoint (`[files]`) and sent as one message carrying its
//! URL every way clients read it; the same legacy file id never stored
//! twice, across restarts too; a file past `max_file_mb` refused.

use base64::Engine;
use gatehouse_tests::{GATEWAY, Wire, child_text, free_port, http};
use minidom::Element;
use sha2::{Digest, Sha256};

use crate::{NS, ROMEO};

const OOB: &str = "jabber:x:oob";
const REFERENCE: &str = "urn:xmpp:reference:0";
const SIMS: &str = "urn:xmpp:sims:1";
const JINGLE_FT: &str = "urn:xmpp:jingle:apps:file-transfer:5";
const SFS: &str = "urn:xmpp:sfs:0";
const FILE_METADATA: &str = "urn:xmpp:file:metadata:0";
const URL_DATA: &str = "http://jabber.org/protocol/url-data";
const HASHES: &str = "urn:xmpp:hashes:2";

/// A gateway with a file endpoint on a free port, and `max_file_mb`.
async fn with_endpoint(max_file_mb: u32) -> (Wire, String) {
    let port = free_port();
    let prefix = format!("http://127.0.0.1:{port}/files/");
    let extra = format!(
        "max_file_mb = {max_file_mb}\n\n[files]\nlisten = \"127.0.0.1:{port}\"\nurl_prefix = \"{prefix}\"\n"
    );
    let mut w = Wire::start_with(true, "echo", &extra).await;
    w.register(ROMEO, "romeo", 2).await;
    (w, prefix)
}

/// The bytes the echo network's `/file NAME SIZE` sends (ECHO.md).
fn echo_bytes(name: &str, size: usize) -> Vec<u8> {
    Sha256::digest(name.as_bytes())
        .iter()
        .copied()
        .cycle()
        .take(size)
        .collect()
}

/// Asks contact `c0` for `/file ARG` and returns the message that comes back.
async fn ask_file(w: &mut Wire, id: &str, arg: &str) -> Element {
    w.link
        .send(&format!(
            "<message type='chat' id='{id}' from='{ROMEO}/pc' to='c0@{GATEWAY}'><body>/file {arg}</body></message>"
        ))
        .await;
    w.link
        .recv_until("the file message", |e| {
            e.is("message", NS) && e.attr("from") == Some("c0@echo.localhost/gatehouse")
                || e.attr("id") == Some(id)
        })
        .await
}

fn file_child(parent: &Element, name: &str, ns: &str) -> Option<String> {
    child_text(parent, name, ns)
}

#[tokio::test]
async fn a_contact_s_file_is_one_message_with_its_url_everywhere() {
    let (mut w, prefix) = with_endpoint(100).await;
    let message = ask_file(&mut w, "f1", "notes.txt 100000").await;
    let bytes = echo_bytes("notes.txt", 100_000);
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
    assert_eq!(
        message.attr("type"),
        Some("chat"),
        "{}",
        String::from(&message)
    );
    assert_eq!(message.attr("to"), Some(ROMEO));
    let url = child_text(&message, "body", NS).expect("the URL as body");
    let token = url
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix("/notes.txt"))
        .expect("prefix, token, name");
    assert_eq!(token.len(), 32, "{url}");
    // XEP-0066.
    let oob = message.get_child("x", OOB).expect("OOB");
    assert_eq!(file_child(oob, "url", OOB).as_deref(), Some(url.as_str()));
    // XEP-0385, with the Jingle file's metadata and the XEP-0300 hash.
    let reference = message.get_child("reference", REFERENCE).expect("SIMS");
    assert_eq!(reference.attr("type"), Some("data"));
    assert_eq!(reference.attr("uri"), Some(url.as_str()));
    let sharing = reference
        .get_child("media-sharing", SIMS)
        .expect("media-sharing");
    let file = sharing.get_child("file", JINGLE_FT).expect("SIMS file");
    assert_eq!(
        file_child(file, "name", JINGLE_FT).as_deref(),
        Some("notes.txt")
    );
    assert_eq!(
        file_child(file, "media-type", JINGLE_FT).as_deref(),
        Some("text/plain")
    );
    assert_eq!(
        file_child(file, "size", JINGLE_FT).as_deref(),
        Some("100000")
    );
    let hash = file.get_child("hash", HASHES).expect("SIMS hash");
    assert_eq!(hash.attr("algo"), Some("sha-256"));
    assert_eq!(hash.text(), digest);
    let source = sharing
        .get_child("sources", SIMS)
        .and_then(|s| s.get_child("reference", REFERENCE))
        .expect("SIMS source");
    assert_eq!(source.attr("uri"), Some(url.as_str()));
    // XEP-0447 with XEP-0446 metadata.
    let sfs = message.get_child("file-sharing", SFS).expect("SFS");
    let meta = sfs.get_child("file", FILE_METADATA).expect("SFS file");
    assert_eq!(
        file_child(meta, "size", FILE_METADATA).as_deref(),
        Some("100000")
    );
    assert_eq!(
        file_child(meta, "media-type", FILE_METADATA).as_deref(),
        Some("text/plain")
    );
    assert_eq!(
        file_child(meta, "name", FILE_METADATA).as_deref(),
        Some("notes.txt")
    );
    assert_eq!(
        meta.get_child("hash", HASHES).map(Element::text),
        Some(digest)
    );
    let target = sfs
        .get_child("sources", SFS)
        .and_then(|s| s.get_child("url-data", URL_DATA))
        .and_then(|u| u.attr("target"));
    assert_eq!(target, Some(url.as_str()));
    // The body is SFS's fallback (XEP-0428).
    let fallback = message
        .get_child("fallback", "urn:xmpp:fallback:0")
        .expect("fallback");
    assert_eq!(fallback.attr("for"), Some(SFS));
    // The endpoint serves exactly those bytes.
    let answer = http::get(&url).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/plain"));
    assert_eq!(answer.header("content-length"), Some("100000"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(Sha256::digest(&answer.body), Sha256::digest(&bytes));
    let head = http::request("HEAD", &url).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    // Nothing else is served: another token, a way out, another method.
    let other = format!("{prefix}{}/notes.txt", "0".repeat(32));
    assert_eq!(http::get(&other).await.status, 404);
    assert_eq!(
        http::get(&format!("{prefix}{token}/..%2F..%2Fgatehouse.db"))
            .await
            .status,
        404
    );
    assert_eq!(http::request("DELETE", &url).await.status, 405);
}

#[tokio::test]
async fn the_same_legacy_file_is_stored_once_across_restarts() {
    let (mut w, _prefix) = with_endpoint(100).await;
    let first = ask_file(&mut w, "f1", "a.png 5000").await;
    let url = child_text(&first, "body", NS).expect("a URL");
    let again = ask_file(&mut w, "f2", "a.png 5000").await;
    assert_eq!(
        child_text(&again, "body", NS),
        Some(url.clone()),
        "no second copy"
    );
    assert_ne!(first.attr("id"), again.attr("id"), "two messages");
    // Another size is another file id: another URL.
    let other = ask_file(&mut w, "f3", "a.png 5001").await;
    assert_ne!(child_text(&other, "body", NS), Some(url.clone()));
    let shelf = w.gateway.dir.path().join("gatehouse.files");
    let stored = || {
        std::fs::read_dir(&shelf)
            .expect("the shelf")
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
            .count()
    };
    assert_eq!(stored(), 2);
    // A restart keeps the dedup table and the files.
    w.gateway.restart();
    w.link = Wire::connect(&w.server, true).await;
    w.logged_in(ROMEO).await;
    let after = ask_file(&mut w, "f4", "a.png 5000").await;
    assert_eq!(child_text(&after, "body", NS), Some(url.clone()));
    assert_eq!(stored(), 2);
    let answer = http::get(&url).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("image/png"));
    assert_eq!(answer.body, echo_bytes("a.png", 5000));
}

#[tokio::test]
async fn a_file_past_max_file_mb_is_refused_with_limit_exceeded() {
    let (mut w, _prefix) = with_endpoint(1).await;
    let error = ask_file(&mut w, "big", "big.bin 1048577").await;
    assert_eq!(error.attr("id"), Some("big"), "{}", String::from(&error));
    assert_eq!(error.attr("type"), Some("error"));
    let text = error
        .get_child("error", NS)
        .and_then(|e| child_text(e, "text", "urn:ietf:params:xml:ns:xmpp-stanzas"))
        .expect("why");
    assert!(text.contains("LimitExceeded"), "{text}");
    assert!(text.contains("1048576 bytes (max_file_mb)"), "{text}");
    // Nothing was left on the shelf, and a file at the cap goes.
    let shelf = w.gateway.dir.path().join("gatehouse.files");
    assert_eq!(std::fs::read_dir(&shelf).expect("the shelf").count(), 0);
    let fits = ask_file(&mut w, "fits", "fits.bin 1048576").await;
    assert!(child_text(&fits, "body", NS).is_some_and(|b| b.ends_with("/fits.bin")));
}

#[tokio::test]
async fn without_an_endpoint_a_file_is_unsupported() {
    let mut w = Wire::start(true).await;
    w.register(ROMEO, "romeo", 1).await;
    let error = ask_file(&mut w, "nf", "a.txt 10").await;
    assert_eq!(
        error.attr("type"),
        Some("error"),
        "{}",
        String::from(&error)
    );
    let text = error
        .get_child("error", NS)
        .and_then(|e| child_text(e, "text", "urn:ietf:params:xml:ns:xmpp-stanzas"))
        .expect("why");
    assert!(text.contains("Unsupported"), "{text}");
    assert!(text.contains("[files]"), "{text}");
}
