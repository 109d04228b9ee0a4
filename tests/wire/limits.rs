//! The operator's caps on what one user's plugin may make the gateway send
//! or keep: contacts, text, avatars, profiles. Each refusal is an error the
//! plugin sees (`limit-exceeded`, with the cap in its text), and a warning
//! in the gateway's log.

use gatehouse_tests::{GATEWAY, child_text};

use crate::sandbox::{ask_probe, probe_session};
use crate::{NS, ROMEO};

const CAPS: &str = "max_contacts = 5\nmax_text_kb = 1\nmax_avatar_kb = 1\nmax_vcard_kb = 1";

#[tokio::test]
async fn contacts_past_the_cap_are_refused() {
    let mut w = probe_session(CAPS).await;
    // The probe's roster holds a and b: three more fit.
    assert_eq!(ask_probe(&mut w, "contacts 3").await, "made 3 contacts");
    assert_eq!(
        ask_probe(&mut w, "contacts 4").await,
        "contacts refused: limit-exceeded: this user has the most contacts the gateway allows (5)"
    );
}

#[tokio::test]
async fn a_text_past_the_cap_is_refused() {
    let mut w = probe_session(CAPS).await;
    assert_eq!(ask_probe(&mut w, "text 1024").await, "t".repeat(1024));
    let sent = w
        .link
        .recv_until("the probe's report", |e| {
            child_text(e, "body", NS).is_some()
        })
        .await;
    assert_eq!(child_text(&sent, "body", NS).as_deref(), Some("text sent"));
    assert_eq!(
        ask_probe(&mut w, "text 1025").await,
        "text refused: limit-exceeded: a message of 1025 bytes is over the gateway's 1 KiB limit"
    );
}

#[tokio::test]
async fn an_avatar_past_the_cap_is_refused_before_it_is_read() {
    let mut w = probe_session(CAPS).await;
    assert_eq!(
        ask_probe(&mut w, "avatar 1025").await,
        "avatar refused: limit-exceeded: an avatar of 1025 bytes is over the gateway's 1 KiB limit"
    );
    // Under the cap, the bytes are looked at (and these are no image).
    let small = ask_probe(&mut w, "avatar 1024").await;
    assert!(small.starts_with("avatar refused: invalid: "), "{small}");
    assert!(!small.contains("KiB limit"), "{small}");
}

async fn vcard_of_a(w: &mut gatehouse_tests::Wire, id: &str) -> String {
    w.link
        .send(&format!(
            "<iq type='get' id='{id}' from='{ROMEO}/pc' to='a@{GATEWAY}'><vCard xmlns='vcard-temp'/></iq>"
        ))
        .await;
    let reply = w
        .link
        .recv_until("the vCard", |e| e.is("iq", NS) && e.attr("id") == Some(id))
        .await;
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "{}",
        String::from(&reply)
    );
    String::from(&reply)
}

#[tokio::test]
async fn a_profile_past_the_cap_is_not_kept() {
    let mut w = probe_session(CAPS).await;
    // set-vcard returns nothing to the plugin: the refusal is logged and
    // the contact keeps the profile it had.
    assert_eq!(ask_probe(&mut w, "vcard 100").await, "vcard given");
    let kept = vcard_of_a(&mut w, "v1").await;
    assert!(kept.contains(&"v".repeat(100)), "{kept}");
    assert_eq!(ask_probe(&mut w, "vcard 2000").await, "vcard given");
    let after = vcard_of_a(&mut w, "v2").await;
    assert!(!after.contains(&"v".repeat(101)), "{after}");
    assert!(after.contains(&"v".repeat(100)), "{after}");
}

/// What would make one stanza too large for the server (which would then
/// close the link for every user) never leaves: a 600 KiB legacy message id
/// is refused with `limit-exceeded`; a 600 KiB error text from the plugin
/// reaches the user cut to 1 KiB.
#[tokio::test]
async fn an_oversized_id_or_reason_never_makes_an_oversized_stanza() {
    let mut w = probe_session("").await;
    assert_eq!(
        ask_probe(&mut w, "bigid 614400").await,
        "bigid refused: limit-exceeded: a message's legacy id of 614400 bytes is over the gateway's 1024-byte limit for ids"
    );
    w.link
        .send(&format!(
            "<message type='chat' id='e1' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>bigerror 614400</body></message>"
        ))
        .await;
    let error = w
        .link
        .recv_until("the message's error", |e| e.attr("id") == Some("e1"))
        .await;
    assert_eq!(error.attr("type"), Some("error"));
    let text = error
        .get_child("error", NS)
        .and_then(|e| child_text(e, "text", "urn:ietf:params:xml:ns:xmpp-stanzas"))
        .expect("the plugin's reason");
    assert_eq!(text, format!("{}…", "e".repeat(1024)));
    // The link is still up: the next message is answered.
    assert_eq!(
        ask_probe(&mut w, "env X").await.split(':').next(),
        Some("env refused")
    );
}

/// What XML cannot carry never reaches the link: a plugin's message with
/// control characters and U+FFFF in its body arrives without them, and
/// the link stays up (the fake server's parser would end the stream).
#[tokio::test]
async fn characters_xml_cannot_carry_are_taken_out() {
    let mut w = probe_session("").await;
    // One call (opcode 30: send-text on the message's contact) with a
    // body of "a", NUL, "b", ESC, "c", U+FFFF, "d".
    let body = "a\u{0}b\u{1b}c\u{ffff}d".as_bytes();
    let mut call = vec![30u8, 0, body.len() as u8];
    call.extend_from_slice(body);
    let hex: String = call.iter().map(|b| format!("{b:02x}")).collect();
    let answer = ask_probe(&mut w, &format!("calls {hex}")).await;
    assert_eq!(answer, "abcd");
    let count = w
        .link
        .recv_until("the count", |e| {
            child_text(e, "body", NS).is_some_and(|b| b.starts_with("ran "))
        })
        .await;
    assert_eq!(
        child_text(&count, "body", NS).as_deref(),
        Some("ran 1 calls")
    );
}

/// The text of the first element named `name` under `element`, at any
/// depth.
fn find_text(element: &minidom::Element, name: &str) -> Option<String> {
    element.children().find_map(|child| {
        if child.name() == name {
            Some(child.text())
        } else {
            find_text(child, name)
        }
    })
}

/// The text cap holds for names, statuses and corrections too: a name or
/// a status past it is not kept (those calls return nothing), so no push
/// or presence carries it, while one at the cap goes out; a correction
/// past it is refused with `limit-exceeded`.
#[tokio::test]
async fn names_statuses_and_corrections_are_capped_like_texts() {
    let mut w = probe_session(CAPS).await;
    let roster = "jabber:iq:roster";
    for (command, set) in [("name", "name set"), ("status", "status set")] {
        // Past the cap, then at it: from the first command on, no roster
        // item, nick or status of 1025 bytes goes out, and one of 1024 does.
        for (size, id) in [(1025, "past"), (1024, "at")] {
            w.link
                .send(&format!(
                    "<message type='chat' id='{id}' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>{command} {size}</body></message>"
                ))
                .await;
        }
        let mut answers = 0;
        let mut at_cap = false;
        while answers < 2 || !at_cap {
            let el = w.link.recv().await;
            let lengths = [
                el.get_child("query", roster)
                    .and_then(|q| q.get_child("item", roster))
                    .and_then(|i| i.attr("name"))
                    .map(str::len),
                find_text(&el, "nick").map(|n| n.len()),
                el.is("presence", NS)
                    .then(|| child_text(&el, "status", NS))
                    .flatten()
                    .map(|s| s.len()),
            ];
            assert!(
                !lengths.contains(&Some(1025)),
                "{command} past the cap went out: {el:?}"
            );
            at_cap |= lengths.contains(&Some(1024));
            if child_text(&el, "body", NS).as_deref() == Some(set) {
                answers += 1;
            }
        }
    }
    // Each `correct` first sends the message it then corrects.
    w.link
        .send(&format!(
            "<message type='chat' id='c1' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>correct 1025</body></message>"
        ))
        .await;
    let refused = w
        .link
        .recv_until("the refusal", |e| {
            child_text(e, "body", NS).is_some_and(|b| b.starts_with("correction"))
        })
        .await;
    let refused = child_text(&refused, "body", NS).unwrap_or_default();
    assert!(
        refused.starts_with("correction refused: limit-exceeded: ")
            && refused.contains("1 KiB limit"),
        "{refused}"
    );
    // At the cap, the correction is made.
    w.link
        .send(&format!(
            "<message type='chat' id='c2' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>correct 1024</body></message>"
        ))
        .await;
    w.link
        .recv_until("the correction made", |e| {
            child_text(e, "body", NS).as_deref() == Some("corrected")
        })
        .await;
}

/// The gateway's notice that the probe's instance was stopped, and the
/// error reply to the message that stopped it.
async fn stopped(w: &mut gatehouse_tests::Wire, body: &str) -> String {
    w.link
        .send(&format!(
            "<message type='chat' id='t' from='{ROMEO}/pc' to='a@{GATEWAY}'><body>{body}</body></message>"
        ))
        .await;
    let told = w
        .link
        .recv_until("the notice", |e| {
            e.attr("from") == Some(GATEWAY)
                && child_text(e, "body", NS).is_some_and(|b| b.contains("was restarted"))
        })
        .await;
    child_text(&told, "body", NS).unwrap_or_default()
}

#[tokio::test]
async fn timers_past_their_caps_stop_the_instance() {
    let mut w = probe_session("").await;
    // A token of 1 KiB is one; a byte more stops the plugin.
    assert_eq!(ask_probe(&mut w, "timers 1 1024").await, "set 1 timers");
    let told = stopped(&mut w, "timers 1 1025").await;
    assert_eq!(
        told,
        "The gateway's plugin crashed during a message; it was restarted."
    );
    // 10 000 timers at most, the one kept across the restart among them.
    assert_eq!(ask_probe(&mut w, "timers 9999 8").await, "set 9999 timers");
    let told = stopped(&mut w, "timers 1 8").await;
    assert!(told.contains("crashed"), "{told}");
    // The instance is back for what stays within the caps.
    assert_eq!(ask_probe(&mut w, "echo still here").await, "still here");
}
