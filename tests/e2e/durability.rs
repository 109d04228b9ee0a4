//! `kill -9` under load: what the gateway acknowledged survives, and what it
//! pushed is not pushed again.
//!
//! Users register (staggered), fill their rosters, chat and write the
//! plugin's key-value store through the echo network while the gateway is
//! killed at a random moment. After a restart on the same database, every
//! user whose registration was answered logs in again; every roster item
//! was pushed exactly once; no echo id (a legacy id from the plugin's
//! counters) names two messages; a message the user sent before the kill
//! still maps to its legacy id (a correction finds it); an announced avatar
//! is still served; and every `/store` the gateway acknowledged reads back.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gatehouse_tests::c2s::{CLIENT, Stanza, User, chat_body, logged_in};
use gatehouse_tests::process::GatewayProcess;
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET};
use tokio::sync::watch;

const USERS: usize = 8;
const CONTACTS: u32 = 30;

/// What one user saw.
#[derive(Default, Debug)]
struct Log {
    /// The answer to the registration: Some(true) for a result.
    registered: Option<bool>,
    /// Roster pushes that added each contact.
    pushes: HashMap<String, u32>,
    /// `(id, body)` of every message from a contact.
    messages: Vec<(String, String)>,
    logins: usize,
    /// The id (SHA-1) of the avatar `c2` announced.
    avatar: Option<String>,
    /// Whether the avatar's bytes were served when asked for.
    avatar_served: Option<bool>,
}

impl Log {
    fn has_body(&self, body: &str) -> bool {
        self.messages.iter().any(|(_, b)| b == body)
    }
}

/// The first element named `name` under `element`, at any depth.
fn find<'a>(element: &'a Stanza, name: &str) -> Option<&'a Stanza> {
    element.children().find_map(|child| {
        (child.name() == name)
            .then_some(child)
            .or_else(|| find(child, name))
    })
}

/// One user of the test.
struct Tester {
    user: User,
    local: String,
    log: Log,
}

impl Tester {
    /// Records a stanza, and answers roster pushes as a client does.
    async fn observe(&mut self, stanza: &Stanza) {
        if stanza.is("iq", CLIENT) && stanza.attr("id") == Some("register") {
            self.log.registered = Some(stanza.attr("type") == Some("result"));
        }
        if let Some(query) = stanza.get_child("query", "jabber:iq:roster") {
            for item in query.children() {
                if item.attr("subscription") != Some("remove")
                    && let Some(jid) = item.attr("jid")
                {
                    *self.log.pushes.entry(jid.to_owned()).or_default() += 1;
                }
            }
            self.user
                .ack_roster_push(stanza, GATEWAY)
                .await
                .expect("answer a roster push");
        }
        if let Some(body) = chat_body(stanza, GATEWAY) {
            let id = stanza.attr("id").unwrap_or_default().to_owned();
            self.log.messages.push((id, body));
        }
        if logged_in(stanza, GATEWAY) {
            self.log.logins += 1;
        }
        if stanza.attr("type") == Some("headline")
            && stanza.attr("from") == Some(&format!("c2@{GATEWAY}"))
            && let Some(info) = find(stanza, "info")
        {
            self.log.avatar = info.attr("id").map(str::to_owned);
        }
        if stanza.is("iq", CLIENT) && stanza.attr("id") == Some("avatar-data") {
            self.log.avatar_served =
                Some(stanza.attr("type") == Some("result") && find(stanza, "data").is_some());
        }
    }

    /// Reads until `done` holds; once `killed`, reads what the dead
    /// gateway had sent (until the stream is quiet) and says whether `done`
    /// holds then.
    async fn until_killed(
        &mut self,
        killed: &mut watch::Receiver<bool>,
        done: impl Fn(&Log) -> bool,
    ) -> bool {
        while !done(&self.log) {
            let next = tokio::select! {
                stanza = self.user.next() => stanza,
                _ = killed.wait_for(|k| *k) => None,
            };
            match next {
                Some(stanza) => self.observe(&stanza).await,
                None => {
                    let quiet = Duration::from_millis(500);
                    while let Ok(Some(stanza)) = tokio::time::timeout(quiet, self.user.next()).await
                    {
                        self.observe(&stanza).await;
                    }
                    return done(&self.log);
                }
            }
        }
        true
    }

    /// Reads until `done` holds, within `seconds`; false on timeout.
    async fn within(&mut self, seconds: u64, done: impl Fn(&Log) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while !done(&self.log) {
            let next = tokio::time::timeout_at(deadline, self.user.next()).await;
            let Ok(stanza) = next else { return false };
            let stanza = stanza.expect("Prosody keeps the stream");
            self.observe(&stanza).await;
        }
        true
    }

    async fn chat(&mut self, contact: u32, id: &str, body: &str) {
        self.user
            .send_chat(&format!("c{contact}@{GATEWAY}"), id.to_owned(), body)
            .await
            .expect("send");
    }

    async fn correct(&mut self, id: &str, of: &str, body: &str) {
        self.user
            .send_xml(&format!(
                "<message xmlns='{CLIENT}' type='chat' to='c0@{GATEWAY}' id='{id}'><body>{body}</body>\
                 <replace xmlns='urn:xmpp:message-correct:0' id='{of}'/></message>"
            ))
            .await
            .expect("send");
    }
}

/// Before the kill: register, learn the legacy id of a first message,
/// then chat and store until killed. Returns the user's legacy id for
/// `k1` and the `/store`s that were acknowledged.
async fn before_kill(
    t: &mut Tester,
    mut killed: watch::Receiver<bool>,
    acked: Arc<AtomicUsize>,
) -> (Option<String>, Vec<(String, String)>) {
    let mut stored = Vec::new();
    t.user
        .send_registration(GATEWAY, &t.local.clone(), CONTACTS)
        .await
        .expect("send the registration");
    if !t
        .until_killed(&mut killed, |l| l.registered.is_some())
        .await
    {
        return (None, stored);
    }
    if t.log.registered != Some(true) {
        // Prosody bounces the form of a gateway it lost: not acknowledged.
        assert!(*killed.borrow(), "{}: registration refused", t.local);
        return (None, stored);
    }
    acked.fetch_add(1, Ordering::SeqCst);
    if !t.until_killed(&mut killed, |l| l.logins > 0).await {
        return (None, stored);
    }
    t.chat(0, "k1", "first").await;
    if !t.until_killed(&mut killed, |l| l.has_body("first")).await {
        return (None, stored);
    }
    t.correct("k1c", "k1", "before").await;
    let saw = |l: &Log| {
        l.messages
            .iter()
            .find_map(|(_, b)| b.strip_prefix("saw correction ")?.strip_suffix(": before"))
            .map(str::to_owned)
    };
    if !t.until_killed(&mut killed, |l| saw(l).is_some()).await {
        return (None, stored);
    }
    let legacy_id = saw(&t.log);
    // An avatar, acknowledged by its announcement.
    t.chat(2, "av1", "/avatar").await;
    if !t.until_killed(&mut killed, |l| l.avatar.is_some()).await {
        return (legacy_id, stored);
    }
    for n in 1.. {
        // Commands get no receipt; the echo of the next message, handled
        // after the command by the same session, acknowledges it.
        let (key, value) = (format!("key{n}"), format!("value-{}-{n}", t.local));
        t.chat(1, &format!("s{n}"), &format!("/store {key} {value}"))
            .await;
        t.chat(1, &format!("m{n}"), &format!("stored {n}")).await;
        let acknowledged = t
            .until_killed(&mut killed, |l| l.has_body(&format!("stored {n}")))
            .await;
        if !acknowledged {
            break;
        }
        stored.push((key, value));
    }
    (legacy_id, stored)
}

/// After the restart: the session is back and everything acknowledged is
/// there. Panics with what is missing.
async fn after_restart(t: &mut Tester, legacy_id: Option<String>, stored: Vec<(String, String)>) {
    let who = t.local.clone();
    assert!(
        t.within(60, |l| l.pushes.len() == CONTACTS as usize).await,
        "{who}: the roster was not filled after the restart: {:?}",
        t.log.pushes.keys()
    );
    // Messages sent while the gateway was down bounced; try until one
    // is answered by the restarted gateway.
    let mut answered = false;
    for n in 0..20 {
        t.chat(0, &format!("a{n}"), &format!("after {n}")).await;
        if t.within(3, |l| l.has_body(&format!("after {n}"))).await {
            answered = true;
            break;
        }
    }
    assert!(answered, "{who}: no echo after the restart");
    if let Some(legacy_id) = legacy_id {
        t.correct("k1d", "k1", "again").await;
        let expected = format!("saw correction {legacy_id}: again");
        assert!(
            t.within(10, |l| l.has_body(&expected)).await,
            "{who}: k1 no longer maps to {legacy_id}: {:?}",
            t.log.messages.last()
        );
    }
    if let Some(hash) = t.log.avatar.clone() {
        t.user
            .send_xml(&format!(
                "<iq xmlns='{CLIENT}' type='get' id='avatar-data' to='c2@{GATEWAY}'>\
                 <pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'>\
                 <item id='{hash}'/></items></pubsub></iq>"
            ))
            .await
            .expect("send");
        assert!(t.within(10, |l| l.avatar_served.is_some()).await);
        assert_eq!(
            t.log.avatar_served,
            Some(true),
            "{who}: the announced avatar {hash} was lost"
        );
    }
    for (n, (key, value)) in stored.iter().enumerate() {
        t.chat(1, &format!("l{n}"), &format!("/load {key}")).await;
        assert!(
            t.within(10, |l| l.has_body(value)).await,
            "{who}: the acknowledged /store {key} was lost"
        );
    }
    for (jid, count) in &t.log.pushes {
        assert_eq!(*count, 1, "{who}: {jid} was pushed {count} times");
    }
    let mut ids = HashSet::new();
    for (id, body) in &t.log.messages {
        assert!(
            ids.insert(id),
            "{who}: legacy id {id} named two messages ({body})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_under_load_loses_nothing_acknowledged() {
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    let locals: Vec<String> = (0..USERS).map(|n| format!("d{n}")).collect();
    prosody.add_accounts(locals.clone());
    let server = format!("127.0.0.1:{}", prosody.c2s_port);
    let mut gateway = tokio::task::block_in_place(|| {
        GatewayProcess::start_plugin(&prosody.component_address(), "echo")
    });

    let (kill, killed) = watch::channel(false);
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (n, local) in locals.iter().enumerate() {
        let user = User::connect(&server, local).await.expect("log in");
        let mut t = Tester {
            user,
            local: local.clone(),
            log: Log::default(),
        };
        let (killed, acked) = (killed.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150 * n as u64)).await;
            let before = before_kill(&mut t, killed, acked).await;
            (t, before)
        }));
    }

    // A random moment once half the users are registered: some are still
    // registering, others filling rosters, chatting or storing.
    while acked.load(Ordering::SeqCst) < USERS / 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delay = RandomState::new().hash_one(0u8) % 1500;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    // Said before the kill, so that a form Prosody bounces once the
    // gateway is gone is never taken for a refusal; the users read on
    // until their streams are quiet, so they see all the gateway sent.
    kill.send_replace(true);
    tokio::task::block_in_place(|| gateway.kill());
    let mut testers = Vec::new();
    for task in tasks {
        testers.push(task.await.expect("user task"));
    }
    for (t, (legacy_id, stored)) in &testers {
        eprintln!(
            "{}: registered {:?}, {} pushes, {} logins, {} messages, k1 = {legacy_id:?}, {} acknowledged stores",
            t.local,
            t.log.registered,
            t.log.pushes.len(),
            t.log.logins,
            t.log.messages.len(),
            stored.len()
        );
    }
    eprintln!("killed {delay} ms after {} registrations", USERS / 2);

    tokio::task::block_in_place(|| gateway.start_again());
    let mut checks = Vec::new();
    for (mut t, (legacy_id, stored)) in testers {
        if t.log.registered != Some(true) {
            continue; // Not acknowledged: either outcome is right.
        }
        checks.push(tokio::spawn(async move {
            after_restart(&mut t, legacy_id, stored).await;
        }));
    }
    assert!(checks.len() >= USERS / 2);
    for check in checks {
        if let Err(e) = check.await {
            panic!("{e}\n{}", gateway.log());
        }
    }
}

/// One user chatting through a Prosody restart: reconnects when the stream
/// ends, and records the echo ids in the order they arrive and the
/// gateway's "Logging in…" statuses.
async fn chat_through_restarts(
    server: String,
    local: String,
    restarted: watch::Receiver<bool>,
    echoes_after: usize,
) -> (Vec<u64>, usize, usize) {
    let mut user = User::connect(&server, &local).await.expect("log in");
    let (mut ids, mut logging_in, mut after) = (Vec::new(), 0, 0);
    for n in 0u64.. {
        if *restarted.borrow() && after >= echoes_after {
            break;
        }
        let body = format!("n{n}");
        let sent = user
            .send_chat(&format!("c0@{GATEWAY}"), format!("k{n}"), &body)
            .await;
        let mut answered = sent.is_ok();
        while answered {
            let next = tokio::time::timeout(Duration::from_secs(5), user.next()).await;
            let Ok(Some(stanza)) = next else {
                answered = false; // Prosody went away, or the echo bounced.
                break;
            };
            if stanza.is("presence", CLIENT)
                && stanza.attr("from") == Some(GATEWAY)
                && stanza
                    .get_child("status", CLIENT)
                    .is_some_and(|s| s.text() == "Logging in…")
            {
                logging_in += 1;
            }
            if chat_body(&stanza, GATEWAY).is_some_and(|b| b.starts_with('n'))
                && let Some(id) = stanza.attr("id").and_then(|i| i.strip_prefix('e'))
            {
                ids.push(id.parse().expect("echo ids are e<k>"));
                if *restarted.borrow() {
                    after += 1;
                }
            }
            if chat_body(&stanza, GATEWAY).as_deref() == Some(body.as_str()) {
                break;
            }
        }
        if !answered {
            // Log in again once Prosody is back.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            user = loop {
                match User::connect(&server, &local).await {
                    Ok(user) => break user,
                    Err(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("{local}: cannot log in again: {e}"),
                }
            };
        }
    }
    (ids, logging_in, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prosody_restarting_under_load_loses_no_session() {
    const CHATTERS: usize = 4;
    let mut prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    let locals: Vec<String> = (0..CHATTERS).map(|n| format!("p{n}")).collect();
    prosody.add_accounts(locals.clone());
    let server = format!("127.0.0.1:{}", prosody.c2s_port);
    let gateway = tokio::task::block_in_place(|| {
        GatewayProcess::start_plugin(&prosody.component_address(), "echo")
    });
    for local in &locals {
        let mut user = User::connect(&server, local).await.expect("log in");
        user.send_registration(GATEWAY, local, 1)
            .await
            .expect("register");
        user.wait_for(|s| logged_in(s, GATEWAY))
            .await
            .expect("logged in");
    }

    let (restart, restarted) = watch::channel(false);
    let tasks: Vec<_> = locals
        .iter()
        .map(|local| {
            tokio::spawn(chat_through_restarts(
                server.clone(),
                local.clone(),
                restarted.clone(),
                20,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| {
        prosody.restart();
        gateway.wait_log("component link up", 2);
    });
    restart.send_replace(true);

    for (local, task) in locals.iter().zip(tasks) {
        let (ids, logging_in, after) = task.await.expect("chatter");
        assert!(after >= 20, "{local}: {after} echoes after the restart");
        // Once and in order: the plugin numbers the echoes it sends, so the
        // ids a user receives only grow. And none lost but, at most, the
        // one the gateway wrote as Prosody went down: XEP-0114 has no
        // acknowledgements, and Prosody resets the connection with it
        // unread (seen: one such echo in most runs).
        for pair in ids.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{local}: echo e{} came after e{}",
                pair[1],
                pair[0]
            );
        }
        let missing: Vec<u64> = (1..=ids.last().copied().unwrap_or(0))
            .filter(|k| !ids.contains(k))
            .collect();
        assert!(
            missing.len() <= 1,
            "{local}: echoes lost: {missing:?}\n{}",
            gateway.log()
        );
        assert_eq!(
            logging_in,
            0,
            "{local}: the session logged in again:\n{}",
            gateway.log()
        );
    }
    let log = gateway.log();
    assert!(
        !log.contains("ERROR"),
        "errors in the gateway's log:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}
