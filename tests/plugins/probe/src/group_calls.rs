//! `gcalls HEX`: the fuzz target for the host's side of the groups
//! contract (`gatehouse_tests::fuzz::group_imports`), as `calls` is for
//! the rest: each call an opcode byte, then its arguments, on the rooms
//! and participants the calls before it looked up. A separate command, so
//! that the older target's seeds keep their meaning.

use gatehouse_guest::groups::{Affiliation, GroupSendOptions, MucType, Role};
use gatehouse_guest::{Bookmarks, Contact, Muc, Participant};

use crate::calls::Reader;

fn options(input: &mut Reader<'_>) -> GroupSendOptions {
    GroupSendOptions {
        legacy_msg_id: input.opt_text(),
        when: input.flag().then(|| input.u64()),
        reply_to: input.opt_text(),
        archive_only: input.flag(),
    }
}

fn affiliation(input: &mut Reader<'_>) -> Affiliation {
    [
        Affiliation::Owner,
        Affiliation::Admin,
        Affiliation::Member,
        Affiliation::Outcast,
        Affiliation::None,
    ][usize::from(input.u8()) % 5]
}

fn role(input: &mut Reader<'_>) -> Role {
    [
        Role::Moderator,
        Role::Participant,
        Role::Visitor,
        Role::None,
    ][usize::from(input.u8()) % 4]
}

/// Runs the group calls `data` spells, starting from one room and
/// `contact`; returns how many ran.
pub fn run(data: &[u8], contact: Contact) -> usize {
    let mut input = Reader { data };
    let mut mucs: Vec<Muc> = Bookmarks::by_legacy_id("fuzz-room").into_iter().collect();
    let mut people: Vec<Participant> = Vec::new();
    let mut calls = 0;
    while !input.done() && calls < 10_000 {
        calls += 1;
        let op = input.u8() % 30;
        let pick = usize::from(input.u8());
        if mucs.is_empty() {
            if let Ok(found) = Bookmarks::by_legacy_id(&input.text()) {
                mucs.push(found);
            }
            continue;
        }
        let muc = &mucs[pick % mucs.len()];
        match op {
            0 => {
                if let Ok(found) = Bookmarks::by_legacy_id(&input.text()) {
                    mucs.push(found);
                }
            }
            1 => {
                if let Ok(found) = Bookmarks::by_jid(&input.text()) {
                    mucs.push(found);
                }
            }
            2 => mucs.extend(Bookmarks::mucs().into_iter().take(4)),
            3 => muc.set_name(input.opt_text().as_deref()),
            4 => muc.set_description(input.opt_text().as_deref()),
            5 => {
                let (subject, setter) = (input.opt_text(), input.opt_text());
                let when = input.flag().then(|| input.u64());
                drop(muc.set_subject(subject.as_deref(), setter.as_deref(), when));
            }
            6 => muc.set_type(if input.flag() {
                MucType::Channel
            } else {
                MucType::Group
            }),
            7 => {
                let avatar = input.flag().then(|| input.bytes());
                drop(muc.set_avatar(avatar.as_deref(), input.opt_text().as_deref()));
            }
            8 => muc.set_participant_count(input.flag().then(|| input.u32())),
            9 => drop(muc.set_user_nick(&input.text())),
            10 => drop(muc.add_to_bookmarks(input.flag())),
            11 => drop(muc.remove_from_bookmarks()),
            12 => people.extend(muc.participant_by_nick(&input.text())),
            13 => people.extend(muc.participant_by_legacy_id(&input.text())),
            14 => people.push(muc.user_participant()),
            15 => people.extend(muc.participants().into_iter().take(4)),
            16 => people.extend(muc.participant_by_contact(&contact)),
            // A handle given back.
            17 => {
                if !people.is_empty() {
                    people.swap_remove(pick % people.len());
                } else if mucs.len() > 1 {
                    mucs.swap_remove(pick % mucs.len());
                }
            }
            _ if people.is_empty() => {}
            op => {
                let p = &people[pick % people.len()];
                match op {
                    18 => {
                        let body = input.text();
                        drop(p.send_text_with(&body, options(&mut input)));
                    }
                    19 => {
                        let (id, body) = (input.text(), input.text());
                        drop(p.correct(&id, &body, options(&mut input)));
                    }
                    20 => drop(p.retract(&input.text())),
                    21 => {
                        let id = input.text();
                        drop(p.react(&id, &input.texts()));
                    }
                    22 => drop(p.displayed(&input.text())),
                    23 => match input.u8() % 4 {
                        0 => p.composing(),
                        1 => p.paused(),
                        2 => p.active(),
                        _ => p.inactive(),
                    },
                    24 => {
                        let show = input.show();
                        p.set_presence(show, input.opt_text().as_deref());
                    }
                    25 => drop(p.set_nick(&input.text())),
                    26 => match input.u8() % 3 {
                        0 => p.leave(),
                        1 => p.kick(input.opt_text().as_deref()),
                        _ => p.ban(input.opt_text().as_deref()),
                    },
                    27 => p.set_affiliation(affiliation(&mut input)),
                    28 => p.set_role(role(&mut input)),
                    _ => drop((
                        p.nick(),
                        p.is_user(),
                        p.role(),
                        p.affiliation(),
                        p.contact(),
                    )),
                }
            }
        }
    }
    calls
}
