"""The echo network's groups (shared/ECHO.md "Groups"), as the Rust build
has them: `g0`…`g{G-1}`, each with the user, `Contact 0` and `Contact 1`;
a message is heard by `Contact 0`, a `/command` changes the group."""

import time
from typing import Optional

from common import Refused, host, next_counter, registration_value
from png import square_png
from wit_world.imports import groups, roster, session
from wit_world.imports.groups import GroupSendOptions, MucType
from wit_world.imports.types import LogLevel, Show, TextMessage

MAX_GROUPS = 1000


def group_count(value: Optional[str]) -> int:
    """The `groups` field as a number, with the echo network's bounds."""
    text = (value if value is not None else "1").strip()
    if text.isascii() and text.isdigit() and int(text) <= MAX_GROUPS:
        return int(text)
    raise Refused(f"groups must be a whole number from 0 to {MAX_GROUPS}, not {text!r}")


def fill_bookmarks() -> None:
    for i in range(group_count(registration_value("groups"))):
        if session.kv_get(left_key(f"g{i}")) is not None:
            continue  # a group the user left stays left
        with host(groups.by_legacy_id, f"g{i}") as muc:
            describe(muc)
            host(muc.add_to_bookmarks, True)


def leave(muc: groups.Muc) -> None:
    """The user left a group: the echo network keeps them out of it."""
    host(session.kv_set, left_key(muc.legacy_id()), b"1")


def left_key(legacy_id: str) -> str:
    return f"group-left:{legacy_id}"


def describe(muc: groups.Muc) -> None:
    """A group's name, kind and subject (the one `/subject` set last, kept)."""
    legacy_id = muc.legacy_id()
    number = legacy_id[1:]
    numbered = legacy_id.startswith("g") and number.isascii() and number.isdigit()
    name = f"Group {int(number)}" if numbered else legacy_id
    muc.set_name(name)
    muc.set_type(MucType.GROUP)
    kept = session.kv_get(f"group-subject:{legacy_id}")
    subject = kept.decode(errors="replace") if kept is not None else f"Echo {name.lower()}"
    host(muc.set_subject, subject, "Contact 0", None)


def contact_participant(muc: groups.Muc, i: int) -> groups.Participant:
    with host(roster.by_legacy_id, f"c{i}") as contact:
        contact.set_name(f"Contact {i}")
        return host(muc.participant_by_contact, contact)


def fill_participants(muc: groups.Muc) -> None:
    with muc.user_participant():
        pass
    for i in range(2):
        with contact_participant(muc, i):
            pass


def known_group(unescaped: str) -> str:
    count = group_count(registration_value("groups"))
    number = unescaped[1:]
    if (
        unescaped.startswith("g")
        and number.isascii()
        and number.isdigit()
        and f"g{int(number)}" == unescaped
        and int(number) < count
    ):
        return unescaped
    raise Refused(f"{unescaped} is not a group on the echo network")


def options(legacy_id=None, when=None, archive_only=False) -> GroupSendOptions:
    return GroupSendOptions(legacy_msg_id=legacy_id, when=when, reply_to=None, archive_only=archive_only)


def say(muc: groups.Muc, i: int, body: str) -> None:
    """A text from `Contact <i>`, remembered as its last in the group."""
    legacy_id = f"e{next_counter('echo-messages')}"
    host(session.kv_set, f"group-last:{muc.legacy_id()}:{i}", legacy_id.encode())
    with contact_participant(muc, i) as p:
        host(p.send_text, body, options(legacy_id))


def saw(muc: groups.Muc, what: str) -> None:
    say(muc, 0, f"saw {what}")


def answer(muc: groups.Muc, what: str) -> None:
    """`saw` for an export that returns nothing: failures are logged."""
    try:
        saw(muc, what)
    except Refused as e:
        session.log(LogLevel.WARN, f"cannot answer: {e}")


def on_text(muc: groups.Muc, message: TextMessage) -> str:
    n = next_counter("user-messages")
    if message.body.startswith("/"):
        run(muc, message.body[1:], n)
    else:
        host(session.kv_set, f"heard:{n}", message.body.encode())
        session.set_timer(0, f"heard:{n}:{muc.legacy_id()}")
    return f"u{n}"


def on_timer(token: str) -> bool:
    """`Contact 0` hears the user's message; false if the timer is not ours."""
    if not token.startswith("heard:"):
        return False
    _, n, room = token.split(":", 2)
    raw = session.kv_get(f"heard:{n}")
    session.kv_delete(f"heard:{n}")
    if raw is not None:
        try:
            with host(groups.by_legacy_id, room) as muc:
                say(muc, 0, f"heard: {raw.decode(errors='replace')}")
        except Refused as e:
            session.log(LogLevel.WARN, f"heard: {e}")
    return True


def last_message(muc: groups.Muc) -> Optional[str]:
    raw = session.kv_get(f"group-last:{muc.legacy_id()}:0")
    return raw.decode() if raw is not None else None


def count_of(name: str, arg: str) -> int:
    if not (arg.isascii() and arg.isdigit()):
        raise Refused(f"/{name} needs a count, not {arg!r}")
    return int(arg)


def run(muc: groups.Muc, command: str, n: int) -> None:
    name, _, arg = command.partition(" ")
    arg = arg.strip()
    previous = f"u{n - 1}" if n > 1 else None
    now = int(time.time())
    if name == "join" and arg:
        with host(muc.participant_by_nick, arg):
            pass
    elif name == "crowd":
        # For the load bench: N participants p1…pN join.
        for i in range(1, count_of(name, arg) + 1):
            with host(muc.participant_by_nick, f"p{i}"):
                pass
    elif name == "leave" and arg:
        with host(muc.participant_by_nick, arg) as p:
            p.leave()
    elif name == "away" and arg:
        # For the tests (not in ECHO.md): NICK goes away, with a status.
        nick, _, status = arg.partition(" ")
        with host(muc.participant_by_nick, nick) as p:
            p.set_presence(Show.AWAY, status.strip() or None)
    elif name == "kick" and arg:
        with host(muc.participant_by_nick, arg) as p:
            p.kick("echo kick")
    elif name == "rename":
        old, _, new = arg.partition(" ")
        if not new.strip():
            return say(muc, 0, "/rename needs OLD NEW")
        with host(muc.participant_by_nick, old) as p:
            host(p.set_nick, new.strip())
    elif name == "subject":
        host(session.kv_set, f"group-subject:{muc.legacy_id()}", arg.encode())
        host(muc.set_subject, arg, "Contact 0", now)
    elif name == "name" and arg:
        muc.set_name(arg)
    elif name == "avatar" and arg == "none":
        host(muc.set_avatar, None, None)
    elif name == "avatar":
        legacy_id = muc.legacy_id()
        unique_id = f"{legacy_id}-{next_counter('avatar:' + legacy_id)}"
        host(muc.set_avatar, square_png(legacy_id), unique_id)
    elif name == "burst":
        count = count_of(name, arg)
        first = next_counter("echo-messages", count)
        with contact_participant(muc, 0) as p:
            for i in range(count):
                host(p.send_text, f"burst {i + 1}", options(f"e{first + i}"))
    elif name == "history":
        count = count_of(name, arg)
        first = next_counter("echo-messages", count)
        with contact_participant(muc, 1) as p:
            for i in range(1, count + 1):
                when = max(0, now - (count + 1 - i) * 60)
                host(p.send_text, f"old {i}", options(f"e{first + i - 1}", when, True))
    elif name == "carbon" and arg:
        with muc.user_participant() as p:
            host(p.send_text, arg, options(f"u{next_counter('user-messages')}"))
    elif name == "newgroup" and arg:
        with host(groups.by_legacy_id, arg) as created:
            describe(created)
            host(created.add_to_bookmarks, True)
    elif name == "removed":
        host(muc.remove_from_bookmarks)
    elif name == "react":
        if previous is None:
            return say(muc, 0, "no previous message to react to")
        with contact_participant(muc, 0) as p:
            host(p.react, previous, arg.split())
    elif name == "correct" and arg:
        target = last_message(muc)
        if target is None:
            return say(muc, 0, "nothing to correct")
        with contact_participant(muc, 0) as p:
            host(p.correct, target, arg, options())
    elif name == "retract":
        target = last_message(muc)
        if target is None:
            return say(muc, 0, "nothing to retract")
        with contact_participant(muc, 0) as p:
            host(p.retract, target)
    else:
        say(muc, 0, f"unknown command: /{command}")
