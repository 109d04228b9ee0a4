//! The echo network's groups (`shared/ECHO.md` "Groups"): `g0`…`g{G-1}`,
//! each with the user, `Contact 0` and `Contact 1`; a message is heard by
//! `Contact 0`, a `/command` changes the group.

use gatehouse_guest::groups::{GroupSendOptions, MucType};
use gatehouse_guest::{Bookmarks, Error, Muc, Participant, Roster, TextMessage, session};

use crate::next;

/// The most groups an account may have.
const MAX_GROUPS: u32 = 1000;

/// The `groups` field as a number, with the echo network's bounds.
pub fn group_count(value: Option<&str>) -> Result<u32, String> {
    let value = value.unwrap_or("1").trim();
    match value.parse::<u32>() {
        Ok(n) if n <= MAX_GROUPS => Ok(n),
        _ => Err(format!(
            "groups must be a whole number from 0 to {MAX_GROUPS}, not {value:?}"
        )),
    }
}

fn registered_groups() -> Result<u32, Error> {
    Ok(group_count(
        session::registration_value("groups").as_deref(),
    )?)
}

/// At login: every group the user did not leave, described and
/// bookmarked with autojoin.
pub fn fill_bookmarks() -> Result<(), Error> {
    for i in 0..registered_groups()? {
        let id = format!("g{i}");
        if session::kv_get(&left_key(&id)).is_some() {
            continue;
        }
        let muc = Bookmarks::by_legacy_id(&id)?;
        describe(&muc)?;
        muc.add_to_bookmarks(true)?;
    }
    Ok(())
}

/// The user left a group: the echo network keeps them out of it.
pub fn leave(muc: &Muc) -> Result<(), Error> {
    session::kv_set(&left_key(&muc.legacy_id()), b"1")
}

fn left_key(id: &str) -> String {
    format!("group-left:{id}")
}

/// A group's name, kind and subject: `Group <i>` for `g<i>`, else its id.
pub fn describe(muc: &Muc) -> Result<(), Error> {
    let id = muc.legacy_id();
    let name = match id.strip_prefix('g').and_then(|n| n.parse::<u32>().ok()) {
        Some(i) => format!("Group {i}"),
        None => id.clone(),
    };
    muc.set_name(Some(&name));
    muc.set_type(MucType::Group);
    // The network keeps the subject last set (`/subject`).
    let subject = session::kv_get(&subject_key(muc))
        .map(|s| String::from_utf8_lossy(&s).into_owned())
        .unwrap_or_else(|| format!("Echo {}", name.to_lowercase()));
    muc.set_subject(Some(&subject), Some("Contact 0"), None)?;
    Ok(())
}

fn subject_key(muc: &Muc) -> String {
    format!("group-subject:{}", muc.legacy_id())
}

/// The participants: the user (the registration's user name), and the
/// contacts `c0` and `c1` as `Contact 0` and `Contact 1`.
pub fn fill_participants(muc: &Muc) -> Result<(), Error> {
    muc.user_participant();
    for i in 0..2 {
        contact_participant(muc, i)?;
    }
    Ok(())
}

fn contact_participant(muc: &Muc, i: u32) -> Result<Participant, Error> {
    let contact = Roster::by_legacy_id(&format!("c{i}"))?;
    contact.set_name(Some(&format!("Contact {i}")));
    muc.participant_by_contact(&contact)
}

/// The group behind a room JID: `g<n>` for the registered ones.
pub fn known_group(unescaped: &str) -> Result<String, Error> {
    let count = registered_groups()?;
    let known = unescaped
        .strip_prefix('g')
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n < count && unescaped == format!("g{n}"));
    if known {
        Ok(unescaped.to_owned())
    } else {
        Err(format!("{unescaped} is not a group on the echo network").into())
    }
}

/// The user wrote to a group: a command runs; any other text is heard by
/// `Contact 0` once the host reflected it (a timer: the answer comes after
/// the reflection, which follows this call).
pub fn on_text(muc: Muc, message: TextMessage) -> Result<Option<String>, Error> {
    let n = next("user-messages", 1);
    match message.body.strip_prefix('/') {
        Some(command) => run(&muc, command, n)?,
        None => {
            session::kv_set(&format!("heard:{n}"), message.body.as_bytes())?;
            session::set_timer(0, &format!("heard:{n}:{}", muc.legacy_id()));
        }
    }
    Ok(Some(format!("u{n}")))
}

/// A timer of this module fired; false if it is not one.
pub fn on_timer(token: &str) -> bool {
    let Some(rest) = token.strip_prefix("heard:") else {
        return false;
    };
    let Some((n, room)) = rest.split_once(':') else {
        return true;
    };
    let key = format!("heard:{n}");
    let body = session::kv_get(&key).map(|b| String::from_utf8_lossy(&b).into_owned());
    session::kv_delete(&key);
    if let (Some(body), Ok(muc)) = (body, Bookmarks::by_legacy_id(room))
        && let Err(e) = say(&muc, 0, &format!("heard: {body}"))
    {
        session::log(gatehouse_guest::LogLevel::Warn, &format!("heard: {e}"));
    }
    true
}

/// A text from `Contact i` in the group, with the next `e<k>` id,
/// remembered as the group's last message from them.
fn say(muc: &Muc, i: u32, body: &str) -> Result<(), Error> {
    let legacy_id = format!("e{}", next("echo-messages", 1));
    session::kv_set(&last_key(muc, i), legacy_id.as_bytes())?;
    let options = GroupSendOptions {
        legacy_msg_id: Some(legacy_id),
        ..GroupSendOptions::default()
    };
    contact_participant(muc, i)?.send_text_with(body, options)?;
    Ok(())
}

fn last_key(muc: &Muc, i: u32) -> String {
    format!("group-last:{}:{i}", muc.legacy_id())
}

/// `Contact i`'s last message in the group.
fn last_message(muc: &Muc, i: u32) -> Option<String> {
    session::kv_get(&last_key(muc, i)).and_then(|v| String::from_utf8(v).ok())
}

/// What the user did in a group, as `Contact 0` saw it (as in 1:1).
pub fn saw(muc: &Muc, what: &str) -> Result<(), Error> {
    say(muc, 0, &format!("saw {what}"))
}

fn run(muc: &Muc, command: &str, n: u64) -> Result<(), Error> {
    // The user's message before this command.
    let previous = (n > 1).then(|| format!("u{}", n - 1));
    let (name, arg) = match command.split_once(' ') {
        Some((name, arg)) => (name, arg.trim()),
        None => (command, ""),
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    match name {
        "join" if !arg.is_empty() => {
            muc.participant_by_nick(arg)?;
        }
        // For the load bench: N participants `p1`…`pN` join.
        "crowd" => {
            let n: u32 = arg
                .parse()
                .map_err(|_| format!("/crowd needs a count, not {arg:?}"))?;
            for i in 1..=n {
                muc.participant_by_nick(&format!("p{i}"))?;
            }
        }
        "leave" if !arg.is_empty() => muc.participant_by_nick(arg)?.leave(),
        // For the tests (not in ECHO.md): NICK goes away, with a status.
        "away" if !arg.is_empty() => {
            let (nick, status) = arg.split_once(' ').unwrap_or((arg, ""));
            let status = (!status.is_empty()).then_some(status.trim());
            muc.participant_by_nick(nick)?
                .set_presence(gatehouse_guest::Show::Away, status);
        }
        "kick" if !arg.is_empty() => muc.participant_by_nick(arg)?.kick(Some("echo kick")),
        "rename" => {
            let Some((old, new)) = arg.split_once(' ') else {
                return say(muc, 0, "/rename needs OLD NEW");
            };
            muc.participant_by_nick(old)?.set_nick(new.trim())?;
        }
        "subject" => {
            session::kv_set(&subject_key(muc), arg.as_bytes())?;
            muc.set_subject(Some(arg), Some("Contact 0"), Some(now()))?;
        }
        "name" if !arg.is_empty() => muc.set_name(Some(arg)),
        "avatar" if arg == "none" => muc.set_avatar(None, None)?,
        "avatar" => {
            let id = muc.legacy_id();
            let unique_id = format!("{id}-{}", next(&format!("avatar:{id}"), 1));
            muc.set_avatar(Some(&crate::square_png(&id)), Some(&unique_id))?;
        }
        "burst" => {
            let n: u64 = arg
                .parse()
                .map_err(|_| format!("/burst needs a count, not {arg:?}"))?;
            let first = next("echo-messages", n);
            let speaker = contact_participant(muc, 0)?;
            for i in 0..n {
                let options = GroupSendOptions {
                    legacy_msg_id: Some(format!("e{}", first + i)),
                    ..GroupSendOptions::default()
                };
                speaker.send_text_with(&format!("burst {}", i + 1), options)?;
            }
        }
        "history" => {
            let n: u64 = arg
                .parse()
                .map_err(|_| format!("/history needs a count, not {arg:?}"))?;
            let first = next("echo-messages", n);
            let speaker = contact_participant(muc, 1)?;
            for i in 1..=n {
                let options = GroupSendOptions {
                    legacy_msg_id: Some(format!("e{}", first + i - 1)),
                    when: Some(now().saturating_sub((n + 1 - i) * 60)),
                    archive_only: true,
                    ..GroupSendOptions::default()
                };
                speaker.send_text_with(&format!("old {i}"), options)?;
            }
        }
        "carbon" if !arg.is_empty() => {
            let options = GroupSendOptions {
                legacy_msg_id: Some(format!("u{}", next("user-messages", 1))),
                ..GroupSendOptions::default()
            };
            muc.user_participant().send_text_with(arg, options)?;
        }
        "newgroup" if !arg.is_empty() => {
            let new = Bookmarks::by_legacy_id(arg)?;
            describe(&new)?;
            new.add_to_bookmarks(true)?;
        }
        "removed" => muc.remove_from_bookmarks()?,
        "react" => match previous {
            Some(id) => {
                let emojis: Vec<String> = arg.split_whitespace().map(str::to_owned).collect();
                contact_participant(muc, 0)?.react(&id, &emojis)?;
            }
            None => say(muc, 0, "no previous message to react to")?,
        },
        "correct" if !arg.is_empty() => match last_message(muc, 0) {
            Some(id) => {
                contact_participant(muc, 0)?.correct(&id, arg, GroupSendOptions::default())?;
            }
            None => say(muc, 0, "nothing to correct")?,
        },
        "retract" => match last_message(muc, 0) {
            Some(id) => contact_participant(muc, 0)?.retract(&id)?,
            None => say(muc, 0, "nothing to retract")?,
        },
        _ => say(muc, 0, &format!("unknown command: /{command}"))?,
    }
    Ok(())
}
