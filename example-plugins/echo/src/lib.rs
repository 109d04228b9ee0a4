//! The echo network: a legacy network that lives inside the plugin, so that
//! the whole gateway can be tried, tested and benchmarked without an account
//! anywhere. Its behaviour is a contract (`shared/ECHO.md`): the tests and
//! the benchmarks rely on it.

use gatehouse_guest::{
    ChatState, Contact, Error, FormValues, LogLevel, Muc, NetworkInfo, Plugin, Roster, SendOptions,
    Show, TextMessage, Vcard, session,
};

mod files;
mod groups;

/// The echo network keeps nothing in memory: its counters and each
/// contact's last message are in the key-value store, so that they survive
/// restarts and reloads.
struct Echo;

/// The most contacts an account may have.
const MAX_CONTACTS: u32 = 100_000;

impl Plugin for Echo {
    fn new() -> Self {
        Echo
    }

    fn gateway_info(&mut self) -> NetworkInfo {
        NetworkInfo::new("Echo network", "echo")
            .instructions("Pick any user name; every message you send to a contact comes back.")
            .field_required("username", "User name")
            .field_optional("contacts", "Number of contacts", Some("3"))
            .field_optional("groups", "Number of groups", Some("1"))
    }

    fn validate_registration(&mut self, form: &FormValues) -> Result<(), Error> {
        let value = |var: &str| form.iter().find(|(k, _)| k == var).map(|(_, v)| v.as_str());
        match value("username") {
            None | Some("") => return Err("a user name is needed".into()),
            Some("fail") => return Err("username refused by the echo network".into()),
            Some(_) => {}
        }
        contact_count(value("contacts"))?;
        groups::group_count(value("groups"))?;
        Ok(())
    }

    fn login(&mut self) -> Result<String, Error> {
        let username = session::registration_value("username").unwrap_or_default();
        if username == "crashlogin" {
            panic!("the echo network crashes on purpose for user crashlogin");
        }
        // A v2 build says so in its status too: the load bench sees a
        // session move to the new code by its new status presence.
        Ok(format!("{PREFIX}Echo network: logged in as {username}"))
    }

    fn fill_roster(&mut self) -> Result<(), Error> {
        let count = contact_count(session::registration_value("contacts").as_deref())?;
        for i in 0..count {
            let contact = Roster::by_legacy_id(&format!("c{i}"))?;
            contact.set_name(Some(&format!("Contact {i}")));
            contact.set_presence(Show::Online, Some("echo"), None);
            contact.add_to_roster()?;
        }
        Ok(())
    }

    fn jid_username_to_legacy_id(
        &mut self,
        _username: &str,
        unescaped: &str,
    ) -> Result<String, Error> {
        let count = contact_count(session::registration_value("contacts").as_deref())?;
        let known = unescaped
            .strip_prefix('c')
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < count && unescaped == format!("c{n}"));
        if known {
            Ok(unescaped.to_owned())
        } else {
            Err(format!("{unescaped} is not a contact on the echo network").into())
        }
    }

    fn on_text(&mut self, contact: Contact, message: TextMessage) -> Result<Option<String>, Error> {
        let n = next("user-messages", 1);
        let legacy_id = format!("u{n}");
        match message.body.strip_prefix('/') {
            Some(command) => run_command(&contact, command, n)?,
            None => {
                contact.received(&legacy_id)?;
                echo(&contact, &message.body)?;
            }
        }
        Ok(Some(legacy_id))
    }

    /// The network has a profile for every contact: the one `/vcard` sets.
    fn fetch_vcard(&mut self, contact: Contact) -> Result<(), Error> {
        contact.set_vcard(&profile(&contact));
        Ok(())
    }

    fn on_timer(&mut self, token: &str) {
        if groups::on_timer(token) {
            return;
        }
        // `/typing` stops typing a second later.
        if let Some(legacy_id) = token.strip_prefix("paused:")
            && let Ok(contact) = Roster::by_legacy_id(legacy_id)
        {
            contact.paused();
        }
    }

    fn on_chat_state(&mut self, contact: Contact, state: ChatState) {
        let _ = echo(&contact, &format!("saw {}", chat_state_name(state)));
    }

    fn on_displayed(&mut self, contact: Contact, legacy_msg_ids: Vec<String>) {
        let _ = echo(
            &contact,
            &format!("saw displayed {}", legacy_msg_ids.join(" ")),
        );
    }

    fn on_correct(
        &mut self,
        contact: Contact,
        legacy_msg_id: &str,
        body: &str,
    ) -> Result<(), Error> {
        echo(&contact, &format!("saw correction {legacy_msg_id}: {body}"))
    }

    fn on_retract(&mut self, contact: Contact, legacy_msg_id: &str) -> Result<(), Error> {
        echo(&contact, &format!("saw retraction {legacy_msg_id}"))
    }

    fn on_react(
        &mut self,
        contact: Contact,
        legacy_msg_id: &str,
        emojis: Vec<String>,
    ) -> Result<(), Error> {
        echo(
            &contact,
            &format!("saw reactions {legacy_msg_id}: {}", emojis.join(" ")),
        )
    }

    fn fill_bookmarks(&mut self) -> Result<(), Error> {
        groups::fill_bookmarks()
    }

    fn fill_participants(&mut self, muc: Muc) -> Result<(), Error> {
        groups::fill_participants(&muc)
    }

    fn update_muc_info(&mut self, muc: Muc) -> Result<(), Error> {
        groups::describe(&muc)
    }

    fn jid_username_to_muc_legacy_id(
        &mut self,
        _username: &str,
        unescaped: &str,
    ) -> Result<String, Error> {
        groups::known_group(unescaped)
    }

    fn on_muc_text(&mut self, muc: Muc, message: TextMessage) -> Result<Option<String>, Error> {
        groups::on_text(muc, message)
    }

    fn on_muc_correct(&mut self, muc: Muc, legacy_msg_id: &str, body: &str) -> Result<(), Error> {
        groups::saw(&muc, &format!("correction {legacy_msg_id}: {body}"))
    }

    fn on_muc_retract(&mut self, muc: Muc, legacy_msg_id: &str) -> Result<(), Error> {
        groups::saw(&muc, &format!("retraction {legacy_msg_id}"))
    }

    fn on_muc_react(
        &mut self,
        muc: Muc,
        legacy_msg_id: &str,
        emojis: Vec<String>,
    ) -> Result<(), Error> {
        groups::saw(
            &muc,
            &format!("reactions {legacy_msg_id}: {}", emojis.join(" ")),
        )
    }

    fn on_muc_displayed(&mut self, muc: Muc, legacy_msg_id: &str) {
        let _ = groups::saw(&muc, &format!("displayed {legacy_msg_id}"));
    }

    fn on_leave_group(&mut self, muc: Muc) -> Result<(), Error> {
        groups::leave(&muc)
    }

    fn on_muc_chat_state(&mut self, muc: Muc, state: ChatState) {
        let _ = groups::saw(&muc, chat_state_name(state));
    }
}

gatehouse_guest::export_plugin!(Echo);

fn chat_state_name(state: ChatState) -> &'static str {
    match state {
        ChatState::Active => "active",
        ChatState::Composing => "composing",
        ChatState::Paused => "paused",
        ChatState::Inactive => "inactive",
        ChatState::Gone => "gone",
    }
}

/// The `contacts` field as a number, with the echo network's bounds.
fn contact_count(value: Option<&str>) -> Result<u32, String> {
    let value = value.unwrap_or("3").trim();
    match value.parse::<u32>() {
        Ok(n) if n <= MAX_CONTACTS => Ok(n),
        _ => Err(format!(
            "contacts must be a whole number from 0 to {MAX_CONTACTS}, not {value:?}"
        )),
    }
}

/// Bumps a counter of the key-value store by `n`; returns its first new
/// value. Counters live there so that legacy ids never repeat, even across
/// restarts and reloads.
pub(crate) fn next(key: &str, n: u64) -> u64 {
    let current = session::kv_get(key)
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    if let Err(e) = session::kv_set(key, (current + n).to_string().as_bytes()) {
        // Ids may repeat after a restart; say so where the operator looks.
        session::log(LogLevel::Error, &format!("cannot save counter {key}: {e}"));
    }
    current + 1
}

/// What a `v2` build (for the hot-reload tests) puts before each echo.
const PREFIX: &str = if cfg!(feature = "v2") { "v2: " } else { "" };

/// Sends `body` from the contact with the next `e<k>` legacy id.
fn echo(contact: &Contact, body: &str) -> Result<(), Error> {
    let id = format!("e{}", next("echo-messages", 1));
    send(contact, &format!("{PREFIX}{body}"), id)
}

fn send(contact: &Contact, body: &str, legacy_id: String) -> Result<(), Error> {
    send_with(contact, body, legacy_id, None)
}

/// Sends from the contact, remembering it as the contact's last message
/// (for `/correct` and `/retract`).
fn send_with(
    contact: &Contact,
    body: &str,
    legacy_id: String,
    reply_to: Option<String>,
) -> Result<(), Error> {
    session::kv_set(&last_key(contact), legacy_id.as_bytes())?;
    let options = SendOptions {
        legacy_msg_id: Some(legacy_id),
        reply_to,
        ..SendOptions::default()
    };
    contact.send_text_with(body, options)?;
    Ok(())
}

fn last_key(contact: &Contact) -> String {
    format!("last-message:{}", contact.legacy_id())
}

/// The contact's last message, if it sent one.
fn last_message(contact: &Contact) -> Option<String> {
    session::kv_get(&last_key(contact)).and_then(|v| String::from_utf8(v).ok())
}

fn run_command(contact: &Contact, command: &str, n: u64) -> Result<(), Error> {
    // The user's message before this command.
    let previous = (n > 1).then(|| format!("u{}", n - 1));
    let (name, arg) = match command.split_once(' ') {
        Some((name, arg)) => (name, arg.trim()),
        None => (command, ""),
    };
    match name {
        "nick" if !arg.is_empty() => contact.set_name(Some(arg)),
        "file" => files::send(contact, arg)?,
        "presence" => {
            let (show, status) = match arg.split_once(' ') {
                Some((show, status)) => (show, Some(status.trim())),
                None => (arg, None),
            };
            let show = match show {
                "online" => Show::Online,
                "away" => Show::Away,
                "xa" => Show::Xa,
                "dnd" => Show::Dnd,
                "offline" => Show::Offline,
                other => return echo(contact, &format!("unknown presence: {other}")),
            };
            contact.set_presence(show, status, None);
        }
        "contact" if !arg.is_empty() => {
            let new = Roster::by_legacy_id(arg)?;
            new.set_name(Some(arg));
            new.set_presence(Show::Online, Some("echo"), None);
            new.add_to_roster()?;
        }
        "unfriend" => contact.remove_from_roster()?,
        "avatar" if arg == "none" => contact.set_avatar(None, None)?,
        "avatar" => {
            let id = contact.legacy_id();
            let unique_id = format!("{id}-{}", next(&format!("avatar:{id}"), 1));
            contact.set_avatar(Some(&square_png(&id)), Some(&unique_id))?;
        }
        "vcard" => contact.set_vcard(&profile(contact)),
        "store" => {
            let (key, value) = arg.split_once(' ').unwrap_or((arg, ""));
            if let Err(e) = session::kv_set(&format!("user:{key}"), value.as_bytes()) {
                echo(contact, &format!("not stored: {}", e.reason()))?;
            }
        }
        "load" => {
            let value = session::kv_get(&format!("user:{arg}"))
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_else(|| "(none)".to_owned());
            echo(contact, &value)?;
        }
        "crash" => panic!("the echo network crashes on request"),
        "spin" => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "hog" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
            }
        }
        "typing" => {
            contact.composing();
            session::set_timer(1000, &format!("paused:{}", contact.legacy_id()));
        }
        "read" => match previous {
            Some(id) => contact.displayed(&id, false)?,
            None => echo(contact, "no previous message to read")?,
        },
        "react" => match previous {
            Some(id) => {
                let emojis: Vec<String> = arg.split_whitespace().map(str::to_owned).collect();
                contact.react(&id, &emojis, false)?;
            }
            None => echo(contact, "no previous message to react to")?,
        },
        "reply" if !arg.is_empty() => match previous {
            Some(id) => {
                let legacy_id = format!("e{}", next("echo-messages", 1));
                send_with(contact, arg, legacy_id, Some(id))?;
            }
            None => echo(contact, "no previous message to reply to")?,
        },
        "correct" if !arg.is_empty() => match last_message(contact) {
            Some(id) => {
                contact.correct(&id, arg, SendOptions::default())?;
            }
            None => echo(contact, "nothing to correct")?,
        },
        "retract" => match last_message(contact) {
            Some(id) => contact.retract(&id, false)?,
            None => echo(contact, "nothing to retract")?,
        },
        "carbon" if !arg.is_empty() => {
            let options = SendOptions {
                legacy_msg_id: Some(format!("u{}", next("user-messages", 1))),
                carbon: true,
                ..SendOptions::default()
            };
            contact.send_text_with(arg, options)?;
        }
        "burst" => {
            let n: u64 = arg
                .parse()
                .map_err(|_| format!("/burst needs a count, not {arg:?}"))?;
            let first = next("echo-messages", n);
            for i in 0..n {
                send(
                    contact,
                    &format!("burst {}", i + 1),
                    format!("e{}", first + i),
                )?;
            }
        }
        _ => echo(contact, &format!("unknown command: /{command}"))?,
    }
    Ok(())
}

/// A contact's profile: full name `Contact <i>` (or its id), an email and
/// a note.
fn profile(contact: &Contact) -> Vcard {
    let id = contact.legacy_id();
    let full_name = match id.strip_prefix('c').and_then(|n| n.parse::<u32>().ok()) {
        Some(i) => format!("Contact {i}"),
        None => id.clone(),
    };
    Vcard {
        full_name: Some(full_name),
        email: Some(format!("{id}@echo.invalid")),
        note: Some("echo contact".to_owned()),
        ..Vcard::default()
    }
}

/// A 64×64 PNG of one colour, derived from `seed`.
fn square_png(seed: &str) -> Vec<u8> {
    // FNV-1a: a stable colour per contact.
    let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let rgb = [(hash >> 16) as u8, (hash >> 8) as u8, hash as u8];
    let pixels: Vec<u8> = rgb.iter().copied().cycle().take(64 * 64 * 3).collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 64, 64);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing to a Vec cannot fail; an empty result would be refused by
    // the host as "not an image", which is a clear enough report.
    if let Ok(mut writer) = encoder.write_header() {
        let _ = writer.write_image_data(&pixels);
    }
    out
}
