//! An IRC gateway: private messages between an XMPP user and the people of
//! one IRC server, with their presence, and the server's channels as groups
//! (`channels`).
//!
//! The connection is a host-held stream (`session.open-stream`): it
//! outlives plugin crashes and reloads, so what must outlive them too lives
//! in the key-value store (the stream's id, the nick in use, whether the
//! server welcomed us, the reconnection delay); the rest is rebuilt from
//! the next lines (the plugin's own fields). Contacts are keyed by their
//! folded nick, so `Bob` and `bob` are one contact; their JID is its
//! XEP-0106 escape.
//!
//! It is written with callbacks (`on_stream_data`, `on_timer`) rather than
//! the SDK's tasks: the stream and the timers outlive the instance, and a
//! task (with what it awaits) would not.

mod channels;
mod line;

use std::collections::{HashMap, HashSet, VecDeque};

use gatehouse_guest::{
    Contact, Error, FormValues, LogLevel, Muc, NetworkInfo, Plugin, Roster, SendOptions, Show,
    TextMessage, session,
};
use line::{Line, LineBuffer, ctcp, fold, max_text, split_text, strip_formatting, valid_nick};

/// How long to wait before reconnecting, at most (seconds).
const MAX_BACKOFF: u32 = 60;
/// USERHOST takes at most five nicks.
const USERHOST_BATCH: usize = 5;

/// What an instance knows besides the key-value store: lost on a crash or a
/// reload, and rebuilt from what the server sends next.
#[derive(Default)]
struct Irc {
    lines: LineBuffer,
    /// The last presence set per contact, so that a poll only sends changes.
    presences: HashMap<String, (Show, Option<String>)>,
    /// The nicks of each USERHOST sent, in order: replies name only the
    /// nicks that are online.
    userhost: VecDeque<Vec<String>>,
    /// Nicks gone away whose WHOIS (for the away message) is pending.
    whois: HashSet<String>,
}

impl Plugin for Irc {
    fn new() -> Self {
        Irc::default()
    }

    fn gateway_info(&mut self) -> NetworkInfo {
        NetworkInfo::new("IRC", "irc")
            .instructions(
                "Your IRC server (host:port; port 6697 uses TLS) and the nick to use there. \
                 Write to nick@this-gateway to talk with someone on IRC.",
            )
            .field_required("server", "IRC server (host:port)")
            .field_required("nickname", "Nickname")
            .field(
                "password",
                "Server password (optional)",
                gatehouse_guest::FieldKind::TextPrivate,
                false,
                None,
            )
            .field_optional(
                "contacts",
                "Nicks to add to your roster (comma-separated)",
                None,
            )
            .field_optional(
                "channels",
                "Channels to join (comma-separated; or join #channel@this-gateway)",
                None,
            )
            .field_optional(
                "presence_poll",
                "Seconds between presence checks",
                Some("30"),
            )
    }

    fn validate_registration(&mut self, form: &FormValues) -> Result<(), Error> {
        let value = |var: &str| form.iter().find(|(k, _)| k == var).map(|(_, v)| v.as_str());
        server_address(value("server").unwrap_or_default())?;
        let nick = value("nickname").unwrap_or_default();
        if !valid_nick(nick) {
            return Err(format!("{nick:?} is not a valid IRC nickname").into());
        }
        for nick in nick_list(value("contacts").unwrap_or_default()) {
            if !valid_nick(&nick) {
                return Err(format!("{nick:?} (in contacts) is not a valid IRC nickname").into());
            }
        }
        for channel in value("channels").unwrap_or_default().split([',', ' ']) {
            let channel = channel.trim();
            if !channel.is_empty() && !channels::is_channel(channel) {
                return Err(format!("{channel:?} (in channels) is not an IRC channel name").into());
            }
        }
        poll_seconds(value("presence_poll"))?;
        Ok(())
    }

    fn login(&mut self) -> Result<String, Error> {
        let (host, port) = server_address(&registration("server"))?;
        // After a reload the stream is still open: carry on with it.
        if let Some(stream) = kv_u32("stream")
            && session::stream_write(stream, b"PING :gatehouse\r\n").is_ok()
        {
            return Ok(format!("IRC: connected to {host}:{port} as {}", our_nick()));
        }
        self.connect()?;
        Ok(format!(
            "IRC: connecting to {host}:{port} as {}",
            registration("nickname")
        ))
    }

    fn logout(&mut self) {
        if let Some(stream) = kv_u32("stream") {
            let _ = session::stream_write(stream, b"QUIT :Gatehouse\r\n");
            session::close_stream(stream);
        }
        self.forget_connection();
    }

    fn fill_roster(&mut self) -> Result<(), Error> {
        for nick in nick_list(&registration("contacts")) {
            contact_for(&nick)?.add_to_roster()?;
        }
        Ok(())
    }

    fn jid_username_to_legacy_id(
        &mut self,
        _username: &str,
        unescaped: &str,
    ) -> Result<String, Error> {
        if valid_nick(unescaped) {
            Ok(fold(unescaped))
        } else {
            Err(format!("{unescaped} is not a valid IRC nickname").into())
        }
    }

    fn update_contact_info(&mut self, contact: Contact) -> Result<(), Error> {
        let id = contact.legacy_id();
        let name = kv_string(&format!("display:{id}")).unwrap_or(id);
        contact.set_name(Some(&name));
        contact.add_to_roster()?;
        // Watch it from the next presence poll on.
        Ok(())
    }

    fn on_text(&mut self, contact: Contact, message: TextMessage) -> Result<Option<String>, Error> {
        let Some(stream) = kv_u32("stream").filter(|_| kv_string("welcomed").is_some()) else {
            return Err("not connected to the IRC server yet; try again in a moment".into());
        };
        let target = kv_string(&format!("display:{}", contact.legacy_id()))
            .unwrap_or_else(|| contact.legacy_id());
        let nick = our_nick();
        let (action, body) = match message.body.strip_prefix("/me ") {
            Some(action) => (true, action),
            None => (false, message.body.as_str()),
        };
        // CTCP framing takes two bytes of the room.
        let room = max_text(&nick, &target).saturating_sub(if action { 10 } else { 0 });
        let mut out = Vec::new();
        for piece in split_text(body, room) {
            let text = if action {
                format!("\u{1}ACTION {piece}\u{1}")
            } else {
                piece
            };
            out.extend_from_slice(format!("PRIVMSG {target} :{text}\r\n").as_bytes());
        }
        // The user is told the host's reason alone, without its kind.
        session::stream_write(stream, &out).map_err(|e| Error::new(e.reason()))?;
        Ok(None)
    }

    fn fill_bookmarks(&mut self) -> Result<(), Error> {
        channels::fill_bookmarks()
    }

    fn update_muc_info(&mut self, muc: Muc) -> Result<(), Error> {
        channels::describe(&muc);
        Ok(())
    }

    fn jid_username_to_muc_legacy_id(
        &mut self,
        _username: &str,
        unescaped: &str,
    ) -> Result<String, Error> {
        channels::channel_of(unescaped)
    }

    fn fill_participants(&mut self, muc: Muc) -> Result<(), Error> {
        channels::fill_participants(&muc)
    }

    fn on_muc_text(&mut self, muc: Muc, message: TextMessage) -> Result<Option<String>, Error> {
        channels::on_text(&muc, &message)
    }

    fn on_leave_group(&mut self, muc: Muc) -> Result<(), Error> {
        channels::leave(&muc)
    }

    fn on_timer(&mut self, token: &str) {
        match token.split_once(':') {
            Some(("poll", generation)) if Some(generation) == kv_string("poll").as_deref() => {
                self.poll_presences();
                session::set_timer(poll_seconds_now() * 1000, token);
            }
            _ if token == "reconnect" => {
                if let Err(e) = self.connect() {
                    session::log(LogLevel::Warn, &format!("reconnecting: {e}"));
                    schedule_reconnect(&e);
                }
            }
            _ => {}
        }
    }

    fn on_stream_data(&mut self, stream: u32, data: Vec<u8>) {
        if kv_u32("stream") != Some(stream) {
            return;
        }
        for text in self.lines.push(&data) {
            if let Some(line) = Line::parse(&text) {
                self.handle(stream, &line);
            }
        }
    }

    fn on_stream_closed(&mut self, stream: u32, reason: Option<String>) {
        if kv_u32("stream") != Some(stream) {
            return;
        }
        self.forget_connection();
        channels::disconnected();
        let why = reason.unwrap_or_else(|| "closed by the server".into());
        for contact in Roster::contacts() {
            self.set_presence(&contact, Show::Offline, None);
        }
        schedule_reconnect(&why);
    }
}

gatehouse_guest::export_plugin!(Irc);

impl Irc {
    /// One line from the server.
    fn handle(&mut self, stream: u32, line: &Line<'_>) {
        let send = |text: String| {
            let _ = session::stream_write(stream, format!("{text}\r\n").as_bytes());
        };
        if channels::handle(line) {
            return;
        }
        match line.command {
            "PING" => send(format!("PONG :{}", line.param(0))),
            // RPL_WELCOME: registered, under the nick the server confirms.
            "001" => {
                kv_set("nick", line.param(0));
                kv_set("welcomed", "1");
                kv_set("backoff", "0");
                if kv_string("reconnecting").is_some() {
                    session::kv_delete("reconnecting");
                    session::send_gateway_message(&format!(
                        "Reconnected to the IRC server as {}.",
                        line.param(0)
                    ));
                }
                session::log(
                    LogLevel::Info,
                    &format!("connected to IRC as {}", line.param(0)),
                );
                // A new poll generation: a chain left from an older connection stops.
                let generation = kv_u32("poll").unwrap_or(0).wrapping_add(1).to_string();
                kv_set("poll", &generation);
                self.poll_presences();
                session::set_timer(poll_seconds_now() * 1000, &format!("poll:{generation}"));
                channels::rejoin();
            }
            // ERR_NICKNAMEINUSE, ERR_ERRONEUSNICKNAME before we are registered:
            // try another nick, and say so.
            "433" | "432" if kv_string("welcomed").is_none() => {
                let wanted = line.param(1);
                let next = if wanted.len() < 30 {
                    format!("{wanted}_")
                } else {
                    format!("gh{}", wanted.len())
                };
                session::send_gateway_message(&format!(
                    "The nick {wanted} is taken on the IRC server; trying {next}."
                ));
                kv_set("nick", &next);
                send(format!("NICK {next}"));
            }
            "NICK" => {
                let (Some(old), new) = (line.nick(), line.param(0)) else {
                    return;
                };
                if !valid_nick(new) {
                    return;
                }
                let ours = fold(old) == fold(&our_nick());
                channels::on_nick(old, new, ours);
                if ours {
                    kv_set("nick", new);
                    session::send_gateway_message(&format!("Your IRC nick is now {new}."));
                } else if let Some(contact) = known(old) {
                    let _ = contact.send_text(&format!("/me is now known as {new}"));
                    self.set_presence(&contact, Show::Offline, None);
                }
            }
            "PRIVMSG" | "NOTICE" => self.on_message(line),
            // RPL_USERHOST: the online nicks of the oldest pending batch.
            "302" => self.on_userhost(line.param(1)),
            // RPL_AWAY (from a WHOIS, or a PRIVMSG to someone away).
            "301" => {
                let nick = fold(line.param(1));
                self.whois.remove(&nick);
                if let Some(contact) = known(&nick) {
                    self.set_presence(&contact, Show::Away, Some(line.param(2).to_owned()));
                }
            }
            // RPL_ENDOFWHOIS without an away message.
            "318" => {
                let nick = fold(line.param(1));
                if self.whois.remove(&nick)
                    && let Some(contact) = known(&nick)
                {
                    self.set_presence(&contact, Show::Away, None);
                }
            }
            // ERR_NOSUCHNICK: a message went to someone not on IRC.
            "401" => {
                if let Some(contact) = known(line.param(1)) {
                    self.set_presence(&contact, Show::Offline, None);
                    let _ = contact
                        .send_text(&format!("(not delivered: {} is not on IRC)", line.param(1)));
                }
            }
            "QUIT" => {
                if let Some(nick) = line.nick() {
                    channels::on_quit(nick);
                    if let Some(contact) = known(nick) {
                        self.set_presence(&contact, Show::Offline, None);
                    }
                }
            }
            "ERROR" => session::log(LogLevel::Warn, &format!("IRC server: {}", line.param(0))),
            _ => {}
        }
    }

    /// A private message or notice to the user. CTCP `ACTION` becomes `/me`;
    /// other CTCP requests (VERSION, PING, …) are ignored, and so are channel
    /// messages and server notices.
    fn on_message(&mut self, line: &Line<'_>) {
        let (Some(nick), target, text) = (line.nick(), line.param(0), line.param(1)) else {
            return;
        };
        if fold(target) != fold(&our_nick()) || !valid_nick(nick) {
            return;
        }
        let body = match ctcp(text) {
            Some(("ACTION", action)) if line.command == "PRIVMSG" => format!("/me {action}"),
            Some(_) => return,
            None => text.to_owned(),
        };
        let body = strip_formatting(&body);
        if body.trim().is_empty() {
            return;
        }
        let Ok(contact) = contact_for(nick) else {
            return;
        };
        // Whoever writes is online.
        if self
            .presences
            .get(&fold(nick))
            .is_none_or(|p| p.0 == Show::Offline)
        {
            self.set_presence(&contact, Show::Online, None);
        }
        if let Err(e) = contact.send_text_with(&body, SendOptions::default()) {
            session::log(
                LogLevel::Warn,
                &format!("message from {nick}: {}", e.reason()),
            );
        }
    }

    /// Asks the server who of the contacts is online or away.
    fn poll_presences(&mut self) {
        let Some(stream) = kv_u32("stream") else {
            return;
        };
        let nicks: Vec<String> = Roster::contacts()
            .iter()
            .map(|c| {
                let id = c.legacy_id();
                kv_string(&format!("display:{id}")).unwrap_or(id)
            })
            .collect();
        let mut out = String::new();
        for batch in nicks.chunks(USERHOST_BATCH) {
            out.push_str(&format!("USERHOST {}\r\n", batch.join(" ")));
            self.userhost
                .push_back(batch.iter().map(|n| fold(n)).collect());
        }
        if !out.is_empty() {
            let _ = session::stream_write(stream, out.as_bytes());
        }
    }

    /// `nick*=+user@host nick2=-user@host`: `-` is away. Nicks of the batch
    /// that are not named are offline.
    fn on_userhost(&mut self, reply: &str) {
        let Some(batch) = self.userhost.pop_front() else {
            return;
        };
        let mut seen: HashMap<String, bool> = HashMap::new();
        for entry in reply.split_whitespace() {
            if let Some((nick, rest)) = entry.split_once('=') {
                let nick = fold(nick.trim_end_matches('*'));
                seen.insert(nick, rest.starts_with('-'));
            }
        }
        let Some(stream) = kv_u32("stream") else {
            return;
        };
        for nick in batch {
            let Some(contact) = known(&nick) else {
                continue;
            };
            let before = self.presences.get(&nick).map(|p| p.0);
            match seen.get(&nick) {
                None => self.set_presence(&contact, Show::Offline, None),
                Some(false) => self.set_presence(&contact, Show::Online, None),
                // Newly away: the away message comes with a WHOIS.
                Some(true) if before != Some(Show::Away) => {
                    if self.whois.insert(nick.clone()) {
                        let _ =
                            session::stream_write(stream, format!("WHOIS {nick}\r\n").as_bytes());
                    }
                }
                Some(true) => {}
            }
        }
    }

    /// Sets a contact's presence if it changed.
    fn set_presence(&mut self, contact: &Contact, show: Show, status: Option<String>) {
        let new = (show, status);
        let id = contact.legacy_id();
        if self.presences.get(&id) != Some(&new) {
            contact.set_presence(show, new.1.as_deref(), None);
            self.presences.insert(id, new);
        }
    }

    /// Opens the connection and introduces the user.
    fn connect(&mut self) -> Result<(), String> {
        let (host, port) = server_address(&registration("server"))?;
        let opened = if port == 6697 {
            session::open_tls_stream(&host, port)
        } else {
            session::open_stream(&host, port)
        };
        let stream = opened.map_err(|e| format!("cannot reach {host}:{port}: {}", e.reason()))?;
        self.forget_connection();
        kv_set("stream", &stream.to_string());
        let nick = registration("nickname");
        kv_set("nick", &nick);
        let mut hello = String::new();
        let password = registration("password");
        if !password.is_empty() {
            hello.push_str(&format!("PASS :{password}\r\n"));
        }
        hello.push_str(&format!(
            "NICK {nick}\r\nUSER {nick} 0 * :{nick} via Gatehouse\r\n"
        ));
        session::stream_write(stream, hello.as_bytes()).map_err(|e| e.reason().to_owned())
    }

    /// Forgets everything about the current connection.
    fn forget_connection(&mut self) {
        session::kv_delete("stream");
        session::kv_delete("welcomed");
        self.lines = LineBuffer::default();
        self.userhost.clear();
        self.whois.clear();
    }
}

/// Tells the user and tries again later, waiting twice as long each time.
fn schedule_reconnect(why: &str) {
    let backoff = (kv_u32("backoff").unwrap_or(0) * 2).clamp(1, MAX_BACKOFF);
    kv_set("backoff", &backoff.to_string());
    kv_set("reconnecting", "1");
    session::send_gateway_message(&format!(
        "Disconnected from the IRC server ({why}); reconnecting in {backoff} s."
    ));
    session::set_timer(backoff * 1000, "reconnect");
}

/// The contact of a nick, if the user has one (unlike `by_legacy_id`, this
/// never creates one: a stranger quitting is no reason for a contact).
fn known(nick: &str) -> Option<Contact> {
    let id = fold(nick);
    Roster::contacts().into_iter().find(|c| c.legacy_id() == id)
}

/// The contact for a nick as the network spells it, created if new.
fn contact_for(nick: &str) -> Result<Contact, Error> {
    let id = fold(nick);
    let key = format!("display:{id}");
    if kv_string(&key).is_none() {
        kv_set(&key, nick);
    }
    Roster::by_legacy_id(&id)
}

fn server_address(value: &str) -> Result<(String, u16), String> {
    let (host, port) = value
        .trim()
        .rsplit_once(':')
        .ok_or_else(|| format!("{value:?} is not host:port"))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("{port:?} is not a port"))?;
    if host.is_empty() {
        return Err(format!("{value:?} has no host"));
    }
    Ok((host.to_owned(), port))
}

fn nick_list(value: &str) -> Vec<String> {
    value
        .split([',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

fn poll_seconds(value: Option<&str>) -> Result<u32, String> {
    let value = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("30");
    value
        .parse::<u32>()
        .ok()
        .filter(|s| (1..=3600).contains(s))
        .ok_or_else(|| format!("presence checks every {value:?} s: use 1 to 3600"))
}

fn poll_seconds_now() -> u32 {
    poll_seconds(session::registration_value("presence_poll").as_deref()).unwrap_or(30)
}

fn registration(var: &str) -> String {
    session::registration_value(var).unwrap_or_default()
}

fn our_nick() -> String {
    kv_string("nick").unwrap_or_else(|| registration("nickname"))
}

fn kv_string(key: &str) -> Option<String> {
    session::kv_get(key).and_then(|v| String::from_utf8(v).ok())
}

fn kv_u32(key: &str) -> Option<u32> {
    kv_string(key).and_then(|v| v.parse().ok())
}

fn kv_set(key: &str, value: &str) {
    if let Err(e) = session::kv_set(key, value.as_bytes()) {
        session::log(
            LogLevel::Error,
            &format!("cannot store {key}: {}", e.reason()),
        );
    }
}
