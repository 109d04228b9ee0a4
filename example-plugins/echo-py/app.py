"""The echo network (shared/ECHO.md) in Python, built with componentize-py.

A legacy network that lives inside the plugin: every message the user sends
to a contact comes back from it, and commands (`/nick`, `/avatar`, `/burst`…)
exercise the host's imports. It behaves exactly like the Rust build in
`example-plugins/echo`, so the same end-to-end tests run against both.

Two rules of the contract shape this file:
- an exception escaping an export traps the instance (the host restarts it
  and tells the user it crashed), so every export turns expected failures
  into `Err(text)` for the result-returning exports, or logs them;
- contact handles are host resources, owned by the plugin (those it looks
  up and those the exports receive): `with` drops each as soon as it is done
  instead of waiting for the garbage collector.
"""

from typing import List, Optional, Tuple

from componentize_py_types import Err, Result
from wit_world import exports
from wit_world.imports import groups, roster, session
from wit_world.imports.types import (
    ChatState,
    FieldKind,
    FormField,
    HttpResponse,
    LogLevel,
    NetworkInfo,
    SendOptions,
    Show,
    TextMessage,
    Vcard,
)

import echo_groups
from common import Refused, host, next_counter, reason, registration_value
from png import square_png

MAX_CONTACTS = 100_000

SHOWS = {
    "online": Show.ONLINE,
    "away": Show.AWAY,
    "xa": Show.XA,
    "dnd": Show.DND,
    "offline": Show.OFFLINE,
}


def contact_count(value: Optional[str]) -> int:
    """The `contacts` field as a number, with the echo network's bounds."""
    text = (value if value is not None else "3").strip()
    if text.isascii() and text.isdigit() and int(text) <= MAX_CONTACTS:
        return int(text)
    raise Refused(f"contacts must be a whole number from 0 to {MAX_CONTACTS}, not {text!r}")


def options(legacy_id=None, reply_to=None, carbon=False) -> SendOptions:
    return SendOptions(legacy_msg_id=legacy_id, when=None, reply_to=reply_to, carbon=carbon)


def last_key(contact: roster.Contact) -> str:
    return f"last-message:{contact.legacy_id()}"


def send(contact: roster.Contact, body: str, legacy_id: str, reply_to=None) -> None:
    """Sends from the contact, remembering it as the contact's last message
    (for `/correct` and `/retract`)."""
    host(session.kv_set, last_key(contact), legacy_id.encode())
    host(contact.send_text, body, options(legacy_id, reply_to))


def echo(contact: roster.Contact, body: str) -> None:
    """Sends `body` from the contact with the next `e<k>` legacy id."""
    send(contact, body, f"e{next_counter('echo-messages')}")


def add_contact(legacy_id: str, name: str) -> None:
    with host(roster.by_legacy_id, legacy_id) as contact:
        contact.set_name(name)
        contact.set_presence(Show.ONLINE, "echo", None)
        host(contact.add_to_roster)


def profile(contact: roster.Contact) -> Vcard:
    legacy_id = contact.legacy_id()
    number = legacy_id[1:]
    is_numbered = legacy_id.startswith("c") and number.isascii() and number.isdigit()
    full_name = f"Contact {int(number)}" if is_numbered else legacy_id
    return Vcard(
        full_name=full_name,
        given=None,
        surname=None,
        birthday=None,
        phones=[],
        note="echo contact",
        url=None,
        email=f"{legacy_id}@echo.invalid",
        country=None,
        locality=None,
    )


def run_command(contact: roster.Contact, command: str, n: int) -> None:
    previous = f"u{n - 1}" if n > 1 else None
    name, _, arg = command.partition(" ")
    arg = arg.strip()
    if name == "nick" and arg:
        contact.set_name(arg)
    elif name == "presence":
        show, _, status = arg.partition(" ")
        if show not in SHOWS:
            echo(contact, f"unknown presence: {show}")
            return
        contact.set_presence(SHOWS[show], status.strip() or None, None)
    elif name == "contact" and arg:
        add_contact(arg, arg)
    elif name == "unfriend":
        host(contact.remove_from_roster)
    elif name == "avatar" and arg == "none":
        host(contact.set_avatar, None, None)
    elif name == "avatar":
        legacy_id = contact.legacy_id()
        unique_id = f"{legacy_id}-{next_counter('avatar:' + legacy_id)}"
        host(contact.set_avatar, square_png(legacy_id), unique_id)
    elif name == "vcard":
        contact.set_vcard(profile(contact))
    elif name == "store":
        key, _, value = arg.partition(" ")
        try:
            session.kv_set(f"user:{key}", value.encode())
        except Err as e:
            echo(contact, f"not stored: {reason(e)}")
    elif name == "load":
        value = session.kv_get(f"user:{arg}")
        echo(contact, value.decode(errors="replace") if value is not None else "(none)")
    elif name == "typing":
        contact.composing()
        session.set_timer(1000, f"paused:{contact.legacy_id()}")
    elif name == "read":
        if previous is None:
            echo(contact, "no previous message to read")
        else:
            host(contact.displayed, previous, False)
    elif name == "react":
        if previous is None:
            echo(contact, "no previous message to react to")
        else:
            host(contact.react, previous, arg.split(), False)
    elif name == "reply" and arg:
        if previous is None:
            echo(contact, "no previous message to reply to")
        else:
            send(contact, arg, f"e{next_counter('echo-messages')}", reply_to=previous)
    elif name == "correct" and arg:
        last = session.kv_get(last_key(contact))
        if last is None:
            echo(contact, "nothing to correct")
        else:
            host(contact.correct, last.decode(), arg, options())
    elif name == "retract":
        last = session.kv_get(last_key(contact))
        if last is None:
            echo(contact, "nothing to retract")
        else:
            host(contact.retract, last.decode(), False)
    elif name == "carbon" and arg:
        legacy_id = f"u{next_counter('user-messages')}"
        host(contact.send_text, arg, options(legacy_id, carbon=True))
    elif name == "burst":
        if not (arg.isascii() and arg.isdigit()):
            raise Refused(f"/burst needs a count, not {arg!r}")
        count = int(arg)
        first = next_counter("echo-messages", count)
        for i in range(count):
            send(contact, f"burst {i + 1}", f"e{first + i}")
    elif name == "crash":
        # Not a `Refused`: it escapes the export, which traps the instance.
        raise RuntimeError("the echo network crashes on request")
    elif name == "spin":
        n = 0
        while True:
            n += 1
    elif name == "hog":
        hoard = []
        while True:
            hoard.append(bytearray(b"\x01" * (1 << 20)))
    else:
        echo(contact, f"unknown command: /{command}")


def answer(contact: roster.Contact, text: str) -> None:
    """An echo for an export that returns nothing: failures are logged."""
    try:
        echo(contact, text)
    except Refused as e:
        session.log(LogLevel.WARN, f"cannot answer: {e}")


class Plugin(exports.Plugin):
    def gateway_info(self) -> NetworkInfo:
        return NetworkInfo(
            name="Echo network",
            network_type="echo",
            instructions="Pick any user name; every message you send to a contact comes back.",
            registration_fields=[
                FormField("username", "User name", FieldKind.TEXT_SINGLE, True, None),
                FormField("contacts", "Number of contacts", FieldKind.TEXT_SINGLE, False, "3"),
                FormField("groups", "Number of groups", FieldKind.TEXT_SINGLE, False, "1"),
            ],
        )

    def validate_registration(self, form: List[Tuple[str, str]]) -> None:
        values = dict(form)
        username = values.get("username", "")
        if username == "":
            raise Err("a user name is needed")
        if username == "fail":
            raise Err("username refused by the echo network")
        try:
            contact_count(values.get("contacts"))
            echo_groups.group_count(values.get("groups"))
        except Refused as e:
            raise Err(str(e)) from None

    def login(self) -> str:
        username = registration_value("username") or ""
        # `crashlogin` makes login trap in the Rust build; an uncaught
        # exception does the same here.
        if username == "crashlogin":
            raise RuntimeError("the echo network crashes on purpose for user crashlogin")
        return f"Echo network: logged in as {username}"

    def logout(self) -> None:
        pass

    def fill_roster(self) -> None:
        try:
            for i in range(contact_count(registration_value("contacts"))):
                add_contact(f"c{i}", f"Contact {i}")
        except Refused as e:
            raise Err(str(e)) from None

    def legacy_id_to_jid_username(self, legacy_id: str) -> Optional[str]:
        # The echo network's ids need no mapping: XEP-0106 escaping it is.
        return None

    def jid_username_to_legacy_id(self, username: str, unescaped: str) -> str:
        try:
            count = contact_count(registration_value("contacts"))
        except Refused as e:
            raise Err(str(e)) from None
        number = unescaped[1:]
        if (
            unescaped.startswith("c")
            and number.isascii()
            and number.isdigit()
            and f"c{int(number)}" == unescaped
            and int(number) < count
        ):
            return unescaped
        raise Err(f"{unescaped} is not a contact on the echo network")

    def on_text(self, contact: roster.Contact, message: TextMessage) -> Optional[str]:
        with contact:
            n = next_counter("user-messages")
            legacy_id = f"u{n}"
            try:
                if message.body.startswith("/"):
                    run_command(contact, message.body[1:], n)
                else:
                    host(contact.received, legacy_id)
                    echo(contact, message.body)
            except Refused as e:
                raise Err(str(e)) from None
            return legacy_id

    def update_contact_info(self, contact: roster.Contact) -> None:
        with contact:
            pass

    def fetch_vcard(self, contact: roster.Contact) -> None:
        with contact:
            contact.set_vcard(profile(contact))

    def on_timer(self, token: str) -> None:
        if echo_groups.on_timer(token):
            return
        # `/typing` stops typing a second later.
        if token.startswith("paused:"):
            try:
                with roster.by_legacy_id(token[len("paused:"):]) as contact:
                    contact.paused()
            except Err:
                pass

    def on_stream_data(self, id: int, data: bytes) -> None:
        pass

    def on_stream_closed(self, id: int, reason: Optional[str]) -> None:
        pass

    def on_http_response(self, id: int, response: Result[HttpResponse, str]) -> None:
        pass

    def on_chat_state(self, contact: roster.Contact, state: ChatState) -> None:
        with contact:
            answer(contact, f"saw {state.name.lower()}")

    def on_displayed(self, contact: roster.Contact, legacy_msg_ids: List[str]) -> None:
        with contact:
            answer(contact, f"saw displayed {' '.join(legacy_msg_ids)}")

    def on_correct(self, contact: roster.Contact, legacy_msg_id: str, body: str) -> None:
        with contact:
            try:
                echo(contact, f"saw correction {legacy_msg_id}: {body}")
            except Refused as e:
                raise Err(str(e)) from None

    def on_retract(self, contact: roster.Contact, legacy_msg_id: str) -> None:
        with contact:
            try:
                echo(contact, f"saw retraction {legacy_msg_id}")
            except Refused as e:
                raise Err(str(e)) from None

    def on_react(self, contact: roster.Contact, legacy_msg_id: str, emojis: List[str]) -> None:
        with contact:
            try:
                echo(contact, f"saw reactions {legacy_msg_id}: {' '.join(emojis)}")
            except Refused as e:
                raise Err(str(e)) from None

    # Groups (ECHO.md "Groups"), as the Rust build has them: echo_groups.py.
    def fill_bookmarks(self) -> None:
        refusing(echo_groups.fill_bookmarks)

    def fill_participants(self, muc: groups.Muc) -> None:
        with muc:
            refusing(echo_groups.fill_participants, muc)

    def update_muc_info(self, muc: groups.Muc) -> None:
        with muc:
            refusing(echo_groups.describe, muc)

    def backfill(self, muc: groups.Muc, before: Optional[groups.ArchiveBound]) -> None:
        with muc:
            pass

    def jid_username_to_muc_legacy_id(self, username: str, unescaped: str) -> str:
        return refusing(echo_groups.known_group, unescaped)

    def muc_legacy_id_to_jid_username(self, legacy_id: str) -> Optional[str]:
        return None

    def on_muc_text(self, muc: groups.Muc, message: TextMessage) -> Optional[str]:
        with muc:
            return refusing(echo_groups.on_text, muc, message)

    def on_muc_correct(self, muc: groups.Muc, legacy_msg_id: str, body: str) -> None:
        with muc:
            refusing(echo_groups.saw, muc, f"correction {legacy_msg_id}: {body}")

    def on_muc_retract(self, muc: groups.Muc, legacy_msg_id: str) -> None:
        with muc:
            refusing(echo_groups.saw, muc, f"retraction {legacy_msg_id}")

    def on_muc_react(self, muc: groups.Muc, legacy_msg_id: str, emojis: List[str]) -> None:
        with muc:
            refusing(echo_groups.saw, muc, f"reactions {legacy_msg_id}: {' '.join(emojis)}")

    def on_muc_displayed(self, muc: groups.Muc, legacy_msg_id: str) -> None:
        with muc:
            echo_groups.answer(muc, f"displayed {legacy_msg_id}")

    def on_leave_group(self, muc: groups.Muc) -> None:
        with muc:
            refusing(echo_groups.leave, muc)

    def on_muc_chat_state(self, muc: groups.Muc, state: ChatState) -> None:
        with muc:
            echo_groups.answer(muc, state.name.lower())


def refusing(call, *args):
    """Runs an export's body: a `Refused` becomes the export's `Err`."""
    try:
        return call(*args)
    except Refused as e:
        raise Err(str(e)) from None
