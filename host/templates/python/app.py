"""{{name}}: a Gatehouse gateway plugin.

The host calls the methods of `Plugin` on behalf of one user. A method whose
WIT result has an error raises `Err(text)` for it; any other exception traps
the instance, which the host restarts. Contacts are host resources the
plugin owns, those it looks up and those the methods receive: a `with` block
gives each back when done. See the plugin guide (docs/plugin-guide.md in
Gatehouse) for each call.
"""

from typing import List, Optional, Tuple

from componentize_py_types import Err, Result
from wit_world import exports
from wit_world.imports import groups, roster, session
from wit_world.imports.types import FieldKind, FormField, HttpResponse, NetworkInfo, SendOptions, Show


def registration_value(name: str) -> Optional[str]:
    return dict(session.registration()).get(name)


class Plugin(exports.Plugin):
    def gateway_info(self) -> NetworkInfo:
        """The network's name and the registration form users fill."""
        return NetworkInfo(
            name="{{name}}",
            network_type="{{name}}",
            instructions="Enter your {{name}} user name.",
            registration_fields=[FormField("username", "User name", FieldKind.TEXT_SINGLE, True, None)],
        )

    def validate_registration(self, form: List[Tuple[str, str]]) -> None:
        pass

    def login(self) -> str:
        """Connect to the network here; the text is the gateway's status."""
        return f"logged in as {registration_value('username')}"

    def logout(self) -> None:
        pass

    def fill_roster(self) -> None:
        """Put the user's contacts in their XMPP roster."""
        try:
            with roster.by_legacy_id("example") as contact:
                contact.set_name("Example contact")
                contact.set_presence(Show.ONLINE, None, None)
                contact.add_to_roster()
        except Err as e:
            raise Err(f"cannot fill the roster: {e.value.value}") from None

    def legacy_id_to_jid_username(self, legacy_id: str) -> Optional[str]:
        """The JID local part of a new contact's id; None: its XEP-0106 escape."""
        return None

    def jid_username_to_legacy_id(self, username: str, unescaped: str) -> str:
        return unescaped

    def on_text(self, contact: roster.Contact, message) -> Optional[str]:
        """The user wrote to a contact: send it to the network here. This
        skeleton answers with the same text."""
        with contact:
            try:
                contact.send_text(f"you said: {message.body}", SendOptions(None, None, None, False))
            except Err as e:
                raise Err(f"cannot answer: {e.value.value}") from None
            return None

    def update_contact_info(self, contact: roster.Contact) -> None:
        with contact:
            pass

    def fetch_vcard(self, contact: roster.Contact) -> None:
        with contact:
            pass

    def on_timer(self, token: str) -> None:
        pass

    def on_stream_data(self, id: int, data: bytes) -> None:
        pass

    def on_stream_closed(self, id: int, reason: Optional[str]) -> None:
        pass

    def on_http_response(self, id: int, response: Result[HttpResponse, str]) -> None:
        """The head of the answer to `session.http_request(…)`; its body
        follows as `on_stream_data` / `on_stream_closed` with the same id."""
        pass

    def on_chat_state(self, contact: roster.Contact, state) -> None:
        with contact:
            pass

    def on_displayed(self, contact: roster.Contact, legacy_msg_ids: List[str]) -> None:
        with contact:
            pass

    def on_correct(self, contact: roster.Contact, legacy_msg_id: str, body: str) -> None:
        with contact:
            pass

    def on_retract(self, contact: roster.Contact, legacy_msg_id: str) -> None:
        with contact:
            pass

    def on_react(self, contact: roster.Contact, legacy_msg_id: str, emojis: List[str]) -> None:
        with contact:
            pass

    # Groups: look them up with `groups.by_legacy_id` in `fill_bookmarks`
    # and `add_to_bookmarks` them; the host serves them as MUC rooms.
    def fill_bookmarks(self) -> None:
        pass

    def fill_participants(self, muc: groups.Muc) -> None:
        with muc:
            pass

    def update_muc_info(self, muc: groups.Muc) -> None:
        with muc:
            pass

    def backfill(self, muc: groups.Muc, before: Optional[groups.ArchiveBound]) -> None:
        with muc:
            pass

    def on_leave_group(self, muc: groups.Muc) -> None:
        with muc:
            raise Err("this network does not let you leave a group from XMPP yet")

    def jid_username_to_muc_legacy_id(self, username: str, unescaped: str) -> str:
        raise Err(f"there is no group {unescaped}")

    def muc_legacy_id_to_jid_username(self, legacy_id: str) -> Optional[str]:
        return None

    def on_muc_text(self, muc: groups.Muc, message) -> Optional[str]:
        with muc:
            raise Err("this network does not take group messages yet")

    def on_muc_correct(self, muc: groups.Muc, legacy_msg_id: str, body: str) -> None:
        with muc:
            pass

    def on_muc_retract(self, muc: groups.Muc, legacy_msg_id: str) -> None:
        with muc:
            pass

    def on_muc_react(self, muc: groups.Muc, legacy_msg_id: str, emojis: List[str]) -> None:
        with muc:
            pass

    def on_muc_displayed(self, muc: groups.Muc, legacy_msg_id: str) -> None:
        with muc:
            pass

    def on_muc_chat_state(self, muc: groups.Muc, state) -> None:
        with muc:
            pass
