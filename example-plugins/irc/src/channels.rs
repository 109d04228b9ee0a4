//! IRC channels as groups: the user joins `#chan@gateway` from XMPP (or
//! has it in the registration's `channels`, bookmarked with autojoin), the
//! plugin JOINs it, and the channel's people are its participants: NAMES
//! (353) fills them with their modes as roles, JOIN, PART, KICK, QUIT and
//! NICK change them, TOPIC (and 332) is the subject, PRIVMSG, NOTICE and
//! ACTION to the channel are its messages.
//!
//! A channel's legacy id is its folded name (IRC compares them without
//! case); the name as the server spells it is kept in the key-value store,
//! with the channels the user is in, which are joined again after each
//! (re)connection.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use gatehouse_guest::groups::{Affiliation, MucType, Role};
use gatehouse_guest::{Bookmarks, Error, LogLevel, Muc, Participant, TextMessage, session};

use crate::line::{Line, ctcp, fold, max_text, split_text, strip_formatting, valid_nick};
use crate::{kv_set, kv_string, kv_u32, our_nick, registration};

thread_local! {
    /// The nicks of each channel's NAMES reply so far (353 until 366):
    /// at its end, whoever the room holds and the server did not name has
    /// left (while the gateway was away, say).
    static NAMES: RefCell<HashMap<String, HashSet<String>>> = RefCell::new(HashMap::new());
}

/// Whether a name is a channel's (RFC 2812 §1.3: `#` or `&`, at most 50
/// characters, no space, comma or BEL).
pub fn is_channel(name: &str) -> bool {
    name.starts_with(['#', '&'])
        && name.len() > 1
        && name.chars().count() <= 50
        && !name.contains([' ', ',', '\u{7}', ':'])
        && !name.chars().any(char::is_control)
}

/// The channels the user is in (display names), as the store keeps them.
fn joined() -> Vec<String> {
    kv_string("channels")
        .map(|v| {
            v.split(' ')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn remember(channel: &str, keep: bool) {
    let mut channels = joined();
    channels.retain(|c| fold(c) != fold(channel));
    if keep {
        channels.push(channel.to_owned());
    }
    kv_set("channels", &channels.join(" "));
}

fn display(id: &str) -> String {
    kv_string(&format!("chan-display:{id}")).unwrap_or_else(|| id.to_owned())
}

/// The group of a channel, created (and its spelling kept) if new.
fn muc_for(channel: &str) -> Result<Muc, Error> {
    let id = fold(channel);
    let key = format!("chan-display:{id}");
    if kv_string(&key).is_none() {
        kv_set(&key, channel);
    }
    Bookmarks::by_legacy_id(&id)
}

/// The known group of a channel, never created.
fn known(channel: &str) -> Option<Muc> {
    let id = fold(channel);
    Bookmarks::mucs().into_iter().find(|m| m.legacy_id() == id)
}

/// The present participant with this nick, never created.
fn present(muc: &Muc, nick: &str) -> Option<Participant> {
    let folded = fold(nick);
    muc.participants()
        .into_iter()
        .find(|p| fold(&p.nick()) == folded)
}

fn write(text: &str) {
    if let Some(stream) = kv_u32("stream") {
        let _ = session::stream_write(stream, text.as_bytes());
    }
}

fn connected() -> bool {
    kv_u32("stream").is_some() && kv_string("welcomed").is_some()
}

/// At login: the registration's channels and those the user was in, in
/// the user's bookmarks with autojoin.
pub fn fill_bookmarks() -> Result<(), Error> {
    let mut channels = joined();
    for channel in registration("channels").split([',', ' ']).map(str::trim) {
        if is_channel(channel) && !channels.iter().any(|c| fold(c) == fold(channel)) {
            channels.push(channel.to_owned());
        }
    }
    for channel in channels {
        muc_for(&channel)?.add_to_bookmarks(true)?;
    }
    Ok(())
}

/// A channel's name and kind (a channel: open, semi-anonymous).
pub fn describe(muc: &Muc) {
    muc.set_name(Some(&display(&muc.legacy_id())));
    muc.set_type(MucType::Channel);
}

/// The room JID the user joined names a channel.
pub fn channel_of(unescaped: &str) -> Result<String, Error> {
    if !is_channel(unescaped) {
        return Err(format!("{unescaped} is not an IRC channel name (#channel)").into());
    }
    let id = fold(unescaped);
    let key = format!("chan-display:{id}");
    if kv_string(&key).is_none() {
        kv_set(&key, unescaped);
    }
    Ok(id)
}

/// The user's first join in a session: the user's nick, and a JOIN (once
/// connected; the welcome joins every remembered channel).
pub fn fill_participants(muc: &Muc) -> Result<(), Error> {
    // Joined from XMPP: the channel is the user's again (after a kick or
    // a part, too), and in their bookmarks.
    muc.add_to_bookmarks(true)?;
    muc.set_user_nick(&our_nick())?;
    muc.user_participant();
    let channel = display(&muc.legacy_id());
    remember(&channel, true);
    if connected() {
        write(&format!("JOIN {channel}\r\n"));
    }
    Ok(())
}

/// After the server's welcome: the user's nick (the server may have
/// given another) in every room, and every channel the user is in joined
/// again, in lines an IRC server takes (510 bytes).
pub fn rejoin() {
    let nick = our_nick();
    for muc in Bookmarks::mucs() {
        if let Err(e) = muc.set_user_nick(&nick) {
            session::log(LogLevel::Warn, &format!("nick in {}: {e}", muc.legacy_id()));
        }
    }
    let mut line = String::new();
    for channel in joined() {
        if !line.is_empty() && line.len() + channel.len() + 1 > 500 {
            write(&format!("JOIN {line}\r\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(',');
        }
        line.push_str(&channel);
    }
    if !line.is_empty() {
        write(&format!("JOIN {line}\r\n"));
    }
}

/// The connection ended: everyone else is out of every room (the next
/// NAMES brings them back).
pub fn disconnected() {
    NAMES.with(|names| names.borrow_mut().clear());
    for muc in Bookmarks::mucs() {
        for p in muc.participants() {
            if !p.is_user() {
                p.leave();
            }
        }
    }
}

/// The user wrote to a channel.
pub fn on_text(muc: &Muc, message: &TextMessage) -> Result<Option<String>, Error> {
    if !connected() {
        return Err("not connected to the IRC server yet; try again in a moment".into());
    }
    let channel = display(&muc.legacy_id());
    let (action, body) = match message.body.strip_prefix("/me ") {
        Some(action) => (true, action),
        None => (false, message.body.as_str()),
    };
    let room = max_text(&our_nick(), &channel).saturating_sub(if action { 10 } else { 0 });
    let mut out = String::new();
    for piece in split_text(body, room) {
        let text = if action {
            format!("\u{1}ACTION {piece}\u{1}")
        } else {
            piece
        };
        out.push_str(&format!("PRIVMSG {channel} :{text}\r\n"));
    }
    let stream = kv_u32("stream").ok_or("not connected to the IRC server")?;
    session::stream_write(stream, out.as_bytes()).map_err(|e| Error::new(e.reason()))?;
    Ok(None)
}

/// The user leaves a channel: PART, and it is not joined again at the
/// next connection.
pub fn leave(muc: &Muc) -> Result<(), Error> {
    let channel = display(&muc.legacy_id());
    remember(&channel, false);
    if connected() {
        write(&format!("PART {channel}\r\n"));
    }
    Ok(())
}

/// A line about channels; false if it is about none.
pub fn handle(line: &Line<'_>) -> bool {
    let result = match line.command {
        "JOIN" if is_channel(line.param(0)) => on_join(line),
        "PART" if is_channel(line.param(0)) => on_part(line),
        "KICK" if is_channel(line.param(0)) => on_kick(line),
        "TOPIC" if is_channel(line.param(0)) => on_topic(line, line.nick(), line.param(1)),
        // RPL_TOPIC: `me #chan :topic`.
        "332" if is_channel(line.param(1)) => on_topic(line, None, line.param(2)),
        // RPL_NAMREPLY: `me = #chan :@op +voice nick`.
        "353" if is_channel(line.param(2)) => on_names(line.param(2), line.param(3)),
        // RPL_ENDOFNAMES: `me #chan :End of NAMES list`.
        "366" if is_channel(line.param(1)) => on_end_of_names(line.param(1)),
        // A JOIN refused: no such channel, too many, full, invite-only,
        // banned, a key, registration needed.
        "403" | "405" | "471" | "473" | "474" | "475" | "477" if is_channel(line.param(1)) => {
            on_refused(line.param(1), line.param(2))
        }
        "MODE" if is_channel(line.param(0)) => on_mode(line),
        "PRIVMSG" | "NOTICE" if is_channel(line.param(0)) => on_message(line),
        _ => return false,
    };
    if let Err(e) = result {
        session::log(
            LogLevel::Warn,
            &format!("{} {}: {e}", line.command, line.param(0)),
        );
    }
    true
}

/// Someone quit IRC: they leave every channel. (Not exclusive: the
/// caller also handles their contact.)
pub fn on_quit(nick: &str) {
    for muc in Bookmarks::mucs() {
        if let Some(p) = present(&muc, nick) {
            p.leave();
        }
    }
}

/// A nick changed: in every channel; ours becomes the user's nick there.
pub fn on_nick(old: &str, new: &str, ours: bool) {
    for muc in Bookmarks::mucs() {
        let result = if ours {
            muc.set_user_nick(new)
        } else {
            match present(&muc, old) {
                Some(p) => p.set_nick(new),
                None => Ok(()),
            }
        };
        if let Err(e) = result {
            session::log(LogLevel::Warn, &format!("NICK {old} {new}: {e}"));
        }
    }
}

fn on_join(line: &Line<'_>) -> Result<(), Error> {
    let (Some(nick), channel) = (line.nick(), line.param(0)) else {
        return Ok(());
    };
    let muc = muc_for(channel)?;
    if fold(nick) == fold(&our_nick()) {
        remember(channel, true);
        return Ok(());
    }
    if valid_nick(nick) {
        muc.participant_by_nick(nick)?;
    }
    Ok(())
}

fn on_part(line: &Line<'_>) -> Result<(), Error> {
    let (Some(nick), channel) = (line.nick(), line.param(0)) else {
        return Ok(());
    };
    let Some(muc) = known(channel) else {
        return Ok(());
    };
    if fold(nick) == fold(&our_nick()) {
        remember(channel, false);
        muc.user_participant().leave();
    } else if let Some(p) = present(&muc, nick) {
        p.leave();
    }
    Ok(())
}

fn on_kick(line: &Line<'_>) -> Result<(), Error> {
    let (channel, victim, reason) = (line.param(0), line.param(1), line.param(2));
    let Some(muc) = known(channel) else {
        return Ok(());
    };
    let reason = (!reason.is_empty()).then(|| strip_formatting(reason));
    if fold(victim) == fold(&our_nick()) {
        remember(channel, false);
        muc.user_participant().kick(reason.as_deref());
    } else if let Some(p) = present(&muc, victim) {
        p.kick(reason.as_deref());
    }
    Ok(())
}

fn on_topic(line: &Line<'_>, setter: Option<&str>, topic: &str) -> Result<(), Error> {
    let channel = if line.command == "332" {
        line.param(1)
    } else {
        line.param(0)
    };
    let muc = muc_for(channel)?;
    let setter = setter.filter(|s| valid_nick(s));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .ok();
    let topic = strip_formatting(topic);
    muc.set_subject(Some(&topic), setter, setter.and(now))
}

/// A channel mode prefix (`@` op, `%` half-op, `+` voice) as a role and
/// an affiliation, as biboumi maps them.
fn standing(prefix: char) -> (Role, Affiliation) {
    match prefix {
        '~' | '&' => (Role::Moderator, Affiliation::Owner),
        '@' => (Role::Moderator, Affiliation::Admin),
        '%' => (Role::Moderator, Affiliation::Member),
        '+' => (Role::Participant, Affiliation::Member),
        _ => (Role::Participant, Affiliation::None),
    }
}

fn on_names(channel: &str, names: &str) -> Result<(), Error> {
    let muc = muc_for(channel)?;
    for entry in names.split_whitespace() {
        let nick = entry.trim_start_matches(['~', '&', '@', '%', '+']);
        if !valid_nick(nick) {
            continue;
        }
        NAMES.with(|n| {
            n.borrow_mut()
                .entry(fold(channel))
                .or_default()
                .insert(fold(nick))
        });
        let prefix = entry.chars().next().unwrap_or(' ');
        let (role, affiliation) = standing(prefix);
        let p = if fold(nick) == fold(&our_nick()) {
            muc.user_participant()
        } else {
            muc.participant_by_nick(nick)?
        };
        p.set_affiliation(affiliation);
        p.set_role(role);
    }
    Ok(())
}

/// The end of a NAMES reply: who the room holds and the server did not
/// name has left.
fn on_end_of_names(channel: &str) -> Result<(), Error> {
    let Some(named) = NAMES.with(|n| n.borrow_mut().remove(&fold(channel))) else {
        return Ok(());
    };
    let Some(muc) = known(channel) else {
        return Ok(());
    };
    for p in muc.participants() {
        if !p.is_user() && !named.contains(&fold(&p.nick())) {
            p.leave();
        }
    }
    Ok(())
}

/// The server refused to let the user in: out of the room, and told why.
fn on_refused(channel: &str, why: &str) -> Result<(), Error> {
    remember(channel, false);
    if let Some(muc) = known(channel) {
        muc.user_participant().leave();
    }
    session::send_gateway_message(&format!(
        "Could not join {channel}: {}",
        strip_formatting(why)
    ));
    Ok(())
}

/// `MODE #chan +o-v nick1 nick2`: op, half-op and voice change roles
/// (the highest one a participant has stays: `+v` does not demote an op);
/// other modes with arguments are passed over, arguments and all.
fn on_mode(line: &Line<'_>) -> Result<(), Error> {
    let Some(muc) = known(line.param(0)) else {
        return Ok(());
    };
    let mut args = line.params.iter().skip(2);
    let mut adding = true;
    for mode in line.param(1).chars() {
        match mode {
            '+' => adding = true,
            '-' => adding = false,
            'o' | 'v' | 'h' => {
                let Some(nick) = args.next() else { break };
                let Some(p) = present(&muc, nick) else {
                    continue;
                };
                let prefix = match (mode, adding) {
                    ('o', true) => '@',
                    ('h', true) => '%',
                    ('v', true) => '+',
                    _ => ' ',
                };
                let (role, affiliation) = standing(prefix);
                p.set_affiliation(affiliation);
                p.set_role(role);
            }
            // Modes with an argument: ban, exception, invite, key, limit.
            'b' | 'e' | 'I' | 'k' => {
                args.next();
            }
            'l' if adding => {
                args.next();
            }
            _ => {}
        }
    }
    Ok(())
}

fn on_message(line: &Line<'_>) -> Result<(), Error> {
    let (Some(nick), channel, text) = (line.nick(), line.param(0), line.param(1)) else {
        return Ok(());
    };
    // Our own lines, where the server echoes them: the host reflected
    // the user's message already.
    if fold(nick) == fold(&our_nick()) || !valid_nick(nick) {
        return Ok(());
    }
    let body = match ctcp(text) {
        Some(("ACTION", action)) if line.command == "PRIVMSG" => format!("/me {action}"),
        Some(_) => return Ok(()),
        None => text.to_owned(),
    };
    let body = strip_formatting(&body);
    if body.trim().is_empty() {
        return Ok(());
    }
    let muc = muc_for(channel)?;
    muc.participant_by_nick(nick)?.send_text(&body)?;
    Ok(())
}
