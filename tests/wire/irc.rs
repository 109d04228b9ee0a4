//! The IRC plugin against a scripted IRC server on a loopback socket: the
//! protocol details a real server rarely shows on cue (PING, a nick in use)
//! and hostile input (garbage, an endless line, invalid UTF-8, stray CTCP),
//! none of which may trap the plugin. The real-server test is in
//! `tests/e2e/irc.rs`.

use std::time::Duration;

use gatehouse_tests::{GATEWAY, Wire, child_text};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::{NS, ROMEO};

/// The server's side of the gateway's connection.
struct Peer {
    lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    out: tokio::net::tcp::OwnedWriteHalf,
}

impl Peer {
    /// The next line the plugin sent, within 10 s.
    async fn line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("a line from the plugin within 10 s")
            .expect("read")
            .expect("the connection is open")
    }

    /// Reads lines until one starts with `prefix` (USERHOST polls and the
    /// like may come in between).
    async fn line_starting(&mut self, prefix: &str) -> String {
        loop {
            let line = self.line().await;
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.out.write_all(bytes).await.expect("write");
    }
}

/// A gateway with the IRC plugin, a registered user, and the connection
/// the plugin opened to the scripted server, past NICK and USER.
async fn irc_session() -> (Wire, Peer) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut w = Wire::start_with(true, "irc", &format!("allow = [\"127.0.0.1:{port}\"]")).await;
    w.link
        .send(&format!(
            "<iq type='set' id='reg' from='{ROMEO}/pc' to='{GATEWAY}'>\
             <query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
             <field var='server'><value>127.0.0.1:{port}</value></field>\
             <field var='nickname'><value>romeo</value></field>\
             <field var='contacts'><value>Bob</value></field></x></query></iq>"
        ))
        .await;
    let (socket, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("the plugin connects")
        .unwrap();
    let (read, out) = TcpStream::into_split(socket);
    let mut peer = Peer {
        lines: BufReader::new(read).lines(),
        out,
    };
    assert_eq!(peer.line().await, "NICK romeo");
    assert_eq!(peer.line().await, "USER romeo 0 * :romeo via Gatehouse");
    (w, peer)
}

/// Waits for a chat message to the user with this body; returns its sender.
async fn message_to_user(w: &mut Wire, body: &str) -> String {
    let el = w
        .link
        .recv_until(body, |e| {
            e.is("message", NS) && child_text(e, "body", NS).as_deref() == Some(body)
        })
        .await;
    el.attr("from").unwrap_or_default().to_owned()
}

#[tokio::test]
async fn ping_and_a_nick_in_use_are_answered() {
    let (mut w, mut peer) = irc_session().await;
    peer.send(b":irc.test 433 * romeo :Nickname already in use\r\n")
        .await;
    assert_eq!(peer.line().await, "NICK romeo_");
    message_to_user(
        &mut w,
        "The nick romeo is taken on the IRC server; trying romeo_.",
    )
    .await;
    peer.send(b"PING :token-1\r\n").await;
    assert_eq!(peer.line_starting("PONG").await, "PONG :token-1");
    peer.send(b":irc.test 001 romeo_ :Welcome\r\n").await;
    // The presence poll starts with the welcome, for the contact of the form.
    assert_eq!(peer.line_starting("USERHOST").await, "USERHOST Bob");
    peer.send(b":irc.test 302 romeo_ :Bob=+bob@host\r\n").await;
    let presence = w
        .link
        .recv_until("Bob's presence", |e| {
            e.is("presence", NS)
                && e.attr("from")
                    .is_some_and(|f| f.starts_with(&format!("bob@{GATEWAY}/")))
        })
        .await;
    assert_eq!(presence.attr("type"), None, "available");
    // A message to Bob goes to the nick as the user wrote it, from romeo_.
    w.link
        .send(&format!(
            "<message type='chat' id='m1' from='{ROMEO}/pc' to='bob@{GATEWAY}'><body>hi</body></message>"
        ))
        .await;
    assert_eq!(peer.line_starting("PRIVMSG").await, "PRIVMSG Bob :hi");
}

#[tokio::test]
async fn hostile_server_input_never_traps_the_plugin() {
    let (mut w, mut peer) = irc_session().await;
    peer.send(b":irc.test 001 romeo :Welcome\r\n").await;
    let mut hostile: Vec<u8> = Vec::new();
    hostile.extend_from_slice(b"\r\n\n:\r\n@\r\n: PRIVMSG\r\n:x!y@z PRIVMSG\r\n");
    hostile
        .extend_from_slice(b"\x00\x01\x02garbage\r\n:bob!b@h PRIVMSG romeo :\x01VERSION\x01\r\n");
    hostile.extend_from_slice(
        b":bob!b@h PRIVMSG romeo :\x01\r\n:bob!b@h PRIVMSG romeo :\x03\x02\x0f\r\n",
    );
    hostile.extend_from_slice(
        b":bad nick!b@h PRIVMSG romeo :spoof\r\n:irc.test 302 romeo :=== * =\r\n",
    );
    hostile.extend_from_slice(b":irc.test 301\r\n:irc.test 401\r\nNICK\r\n:bob!b@h NICK\r\n");
    // An endless line (a megabyte without a newline), then its end.
    hostile.extend(std::iter::repeat_n(b'x', 1 << 20));
    hostile.extend_from_slice(b"\r\n");
    // Latin-1, which is not UTF-8, and then a proper message.
    hostile.extend_from_slice(b":bob!b@h PRIVMSG romeo :caf\xe9 cr\xe8me\r\n");
    hostile.extend_from_slice(b":Bob!b@h PRIVMSG ROMEO :still \x02here\x02\r\n");
    peer.send(&hostile).await;
    // Everything the user gets up to the last message: the two messages,
    // and no crash notice (the host tells the user of every crash) nor the
    // spoofed nick's text.
    let mut bodies = Vec::new();
    let mut senders = Vec::new();
    while bodies.last().map(String::as_str) != Some("still here") {
        let el = w.link.recv().await;
        if let Some(body) = child_text(&el, "body", NS) {
            senders.push(el.attr("from").unwrap_or_default().to_owned());
            bodies.push(body);
        }
    }
    assert_eq!(bodies, ["café crème", "still here"]);
    // `Bob` and `bob` are one contact; the formatting is gone.
    assert_eq!(
        senders,
        [
            format!("bob@{GATEWAY}/gatehouse"),
            format!("bob@{GATEWAY}/gatehouse")
        ]
    );
    while let Some(el) = w.link.recv_within(Duration::from_millis(300)).await {
        assert!(
            child_text(&el, "body", NS).is_none(),
            "{}",
            String::from(&el)
        );
    }
}

/// Presences from a channel's occupant, until one passes `last`.
async fn occupant_presences(
    w: &mut Wire,
    last: impl Fn(&minidom::Element) -> bool,
) -> Vec<minidom::Element> {
    let mut seen = Vec::new();
    loop {
        let e = w.link.recv().await;
        let done = last(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn muc_item(e: &minidom::Element) -> (Option<String>, Option<String>) {
    let item = e
        .get_child("x", "http://jabber.org/protocol/muc#user")
        .and_then(|x| x.get_child("item", "http://jabber.org/protocol/muc#user"));
    (
        item.and_then(|i| i.attr("affiliation")).map(str::to_owned),
        item.and_then(|i| i.attr("role")).map(str::to_owned),
    )
}

fn codes(e: &minidom::Element) -> Vec<String> {
    e.get_child("x", "http://jabber.org/protocol/muc#user")
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_channel_joined_by_its_room_jid_is_a_group() {
    let (mut w, mut peer) = irc_session().await;
    peer.send(b":irc.test 001 romeo :Welcome\r\n").await;
    let room = format!("#test@{GATEWAY}");
    w.link
        .send(&format!(
            "<presence from='{ROMEO}/pc' to='{room}/romeo'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    assert_eq!(peer.line_starting("JOIN").await, "JOIN #test");
    // Only the user so far: a channel is semi-anonymous (no 100).
    let own = w
        .link
        .recv_until("the self-presence", |e| {
            e.is("presence", NS) && codes(e).contains(&"110".into())
        })
        .await;
    assert_eq!(own.attr("from"), Some(format!("{room}/romeo").as_str()));
    assert_eq!(codes(&own), ["110"]);
    let subject = w
        .link
        .recv_until("the subject", |e| e.has_child("subject", NS))
        .await;
    assert_eq!(child_text(&subject, "subject", NS).as_deref(), Some(""));
    // The server's topic and names: the subject, the people with their modes.
    peer.send(b":irc.test 332 romeo #test :Welcome topic\r\n")
        .await;
    let topic = w
        .link
        .recv_until("the topic", |e| e.has_child("subject", NS))
        .await;
    assert_eq!(
        topic.attr("from"),
        Some(room.as_str()),
        "no setter: from the room"
    );
    assert_eq!(
        child_text(&topic, "subject", NS).as_deref(),
        Some("Welcome topic")
    );
    peer.send(b":irc.test 353 romeo = #test :romeo @alice +bob carol\r\n")
        .await;
    let seen = occupant_presences(&mut w, |e| {
        e.attr("from") == Some(format!("{room}/carol").as_str())
            && muc_item(e) == (Some("none".into()), Some("participant".into()))
    })
    .await;
    let last_of = |nick: &str| {
        seen.iter()
            .rev()
            .find(|e| e.attr("from") == Some(format!("{room}/{nick}").as_str()))
            .map(muc_item)
    };
    assert_eq!(
        last_of("alice"),
        Some((Some("admin".into()), Some("moderator".into())))
    );
    assert_eq!(
        last_of("bob"),
        Some((Some("member".into()), Some("participant".into())))
    );
    assert!(
        seen.iter().all(|e| e
            .get_child("x", "http://jabber.org/protocol/muc#user")
            .and_then(|x| x.get_child("item", "http://jabber.org/protocol/muc#user"))
            .is_some_and(|i| i.attr("jid").is_none())),
        "a channel shows no real JIDs"
    );
    // Their messages, and the user's.
    peer.send(b":alice!a@host PRIVMSG #test :hi all\r\n").await;
    let hi = w
        .link
        .recv_until("alice's message", |e| {
            child_text(e, "body", NS).as_deref() == Some("hi all")
        })
        .await;
    assert_eq!(hi.attr("type"), Some("groupchat"));
    assert_eq!(hi.attr("from"), Some(format!("{room}/alice").as_str()));
    w.link
        .send(&format!(
            "<message type='groupchat' id='c1' from='{ROMEO}/pc' to='{room}'><body>hello channel</body></message>"
        ))
        .await;
    assert_eq!(
        peer.line_starting("PRIVMSG").await,
        "PRIVMSG #test :hello channel"
    );
    let reflected = w
        .link
        .recv_until("the reflection", |e| e.attr("id") == Some("c1"))
        .await;
    assert_eq!(
        reflected.attr("from"),
        Some(format!("{room}/romeo").as_str())
    );
    // Nick changes, kicks, joins, parts, quits, topics.
    peer.send(b":bob!b@host NICK robert\r\n").await;
    let renamed = w
        .link
        .recv_until("bob's rename", |e| {
            e.attr("from") == Some(format!("{room}/bob").as_str())
        })
        .await;
    assert_eq!(codes(&renamed), ["303"]);
    peer.send(b":alice!a@host KICK #test carol :spam\r\n").await;
    let kicked = w
        .link
        .recv_until("carol's kick", |e| {
            e.attr("from") == Some(format!("{room}/carol").as_str())
                && e.attr("type") == Some("unavailable")
        })
        .await;
    assert_eq!(codes(&kicked), ["307"]);
    peer.send(
        b":dave!d@host JOIN #test\r\n:dave!d@host PART #test\r\n:robert!b@host QUIT :bye\r\n",
    )
    .await;
    let left = occupant_presences(&mut w, |e| {
        e.attr("from") == Some(format!("{room}/robert").as_str())
            && e.attr("type") == Some("unavailable")
    })
    .await;
    let dave: Vec<_> = left
        .iter()
        .filter(|e| e.attr("from") == Some(format!("{room}/dave").as_str()))
        .map(|e| e.attr("type"))
        .collect();
    assert_eq!(dave, [None, Some("unavailable")]);
    peer.send(b":alice!a@host TOPIC #test :New topic\r\n").await;
    let topic = w
        .link
        .recv_until("the new topic", |e| e.has_child("subject", NS))
        .await;
    assert_eq!(topic.attr("from"), Some(format!("{room}/alice").as_str()));
    assert_eq!(
        child_text(&topic, "subject", NS).as_deref(),
        Some("New topic")
    );
    // The user kicked: out, told why (307 with 110); a join from XMPP
    // later JOINs the channel again.
    peer.send(b":alice!a@host KICK #test romeo :out\r\n").await;
    let out = w
        .link
        .recv_until("the user's kick", |e| {
            e.attr("from") == Some(format!("{room}/romeo").as_str())
                && e.attr("type") == Some("unavailable")
        })
        .await;
    let mut own = codes(&out);
    own.sort();
    assert_eq!(own, ["110", "307"]);
    w.link
        .send(&format!(
            "<presence from='{ROMEO}/pc' to='{room}/romeo'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    assert_eq!(peer.line_starting("JOIN").await, "JOIN #test");
    let back = w
        .link
        .recv_until("the self-presence again", |e| {
            e.is("presence", NS) && codes(e).contains(&"110".into())
        })
        .await;
    assert_eq!(back.attr("type"), None, "{}", String::from(&back));
    // Leaving the group by ad-hoc command PARTs the channel.
    let commands = "http://jabber.org/protocol/commands";
    w.link
        .send(&format!(
            "<iq type='set' id='lg1' from='{ROMEO}/pc' to='{GATEWAY}'>\
             <command xmlns='{commands}' node='leave-group' action='execute'/></iq>"
        ))
        .await;
    let form = w
        .link
        .recv_until("the leave form", |e| e.attr("id") == Some("lg1"))
        .await;
    let session = form
        .get_child("command", commands)
        .and_then(|c| c.attr("sessionid"))
        .expect("a command session")
        .to_owned();
    w.link
        .send(&format!(
            "<iq type='set' id='lg2' from='{ROMEO}/pc' to='{GATEWAY}'>\
             <command xmlns='{commands}' node='leave-group' sessionid='{session}' action='complete'>\
             <x xmlns='jabber:x:data' type='submit'><field var='group'><value>{room}</value></field></x>\
             </command></iq>"
        ))
        .await;
    assert_eq!(peer.line_starting("PART").await, "PART #test");
    let done = w
        .link
        .recv_until("the command's end", |e| e.attr("id") == Some("lg2"))
        .await;
    assert_eq!(done.attr("type"), Some("result"), "{}", String::from(&done));
    let note = done
        .get_child("command", commands)
        .and_then(|c| c.get_child("note", commands))
        .map(|n| n.text());
    assert_eq!(note, Some(format!("You left {room}.")));
}
