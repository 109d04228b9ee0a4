"""A real XMPP client (slixmpp) driving the echo gateway, for end-to-end tests.

Each --user logs in to Prosody, registers with the gateway (XEP-0077 data
form), waits until its roster holds every contact the gateway pushed, sends a
message to contact c0 and waits for the echo. All users run at once. The
result is one JSON object on stdout, per user: the roster as the client sees
it, the echo, every chat message received, and timings. The Rust test
asserts on it.

Usage: client.py --server HOST:PORT --gateway JID [--no-register]
                 --user LOCAL:PASSWORD:ECHO_USERNAME:CONTACTS [--user ...]
"""

import argparse
import asyncio
import json
import sys
import time

import slixmpp
from slixmpp.xmlstream import ET

TIMEOUT = 120


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        self.plugin["feature_mechanisms"].unencrypted_plain = True
        self.ready = asyncio.Event()
        self.messages = []
        self.message_arrived = asyncio.Event()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("presence_subscribe", self.on_subscribe)

    async def on_start(self, _event):
        self.send_presence()
        await self.get_roster()
        self.ready.set()

    def on_subscribe(self, presence):
        """A contact asks to subscribe (a server without working roster
        pushes): slixmpp accepts and subscribes back by itself; like Gajim or
        Conversations, name the contact after the nickname it sent
        (XEP-0172)."""
        nick = presence.xml.find("{http://jabber.org/protocol/nick}nick")
        if nick is not None and nick.text:
            self.update_roster(presence["from"].bare, name=nick.text)

    def on_message(self, msg):
        self.messages.append(
            {
                "from": str(msg["from"]),
                "type": msg["type"],
                "id": msg["id"],
                "body": msg["body"],
            }
        )
        self.message_arrived.set()

    async def wait_message(self, sender_bare, body):
        return await self.wait_body(sender_bare, lambda b: b == body, repr(body))

    async def wait_body(self, sender_bare, check, what):
        """The first chat message from `sender_bare` whose body passes `check`."""
        return await wait_until(
            self.messages,
            self.message_arrived,
            lambda m: m["from"].split("/")[0] == sender_bare and check(m["body"]),
            f"message {what} from {sender_bare}",
        )

    def complete_roster(self, gateway):
        """The gateway's items that are named and subscribed both ways."""
        return {
            jid: item
            for jid, item in self.gateway_roster(gateway).items()
            if item["name"] and item["subscription"] == "both"
        }

    def gateway_roster(self, gateway):
        items = {}
        for jid in self.client_roster:
            if jid.endswith("@" + gateway):
                item = self.client_roster[jid]
                items[jid] = {"name": item["name"], "subscription": item["subscription"]}
        return items


async def wait_until(items, arrived, check, what, since=0):
    """The first of `items` (a list that grows, `arrived` set on each append)
    from index `since` on that passes `check`, waiting up to TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for item in items[since:]:
            if check(item):
                return item
        arrived.clear()
        try:
            await asyncio.wait_for(arrived.wait(), deadline - time.monotonic())
        except asyncio.TimeoutError:
            break
    raise TimeoutError(f"no {what}; got {items}")


def register_form(username, contacts):
    query = ET.Element("{jabber:iq:register}query")
    form = ET.SubElement(query, "{jabber:x:data}x", {"type": "submit"})
    for var, value in [
        ("FORM_TYPE", "jabber:iq:register"),
        ("username", username),
        ("contacts", str(contacts)),
    ]:
        field = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
        ET.SubElement(field, "{jabber:x:data}value").text = value
    return query


async def run_user(server, gateway, spec, register=True):
    local, password, username, contacts = spec.split(":")
    contacts = int(contacts)
    host, port = server.rsplit(":", 1)
    client = Client(f"{local}@localhost/e2e", password)
    client.connect(host, int(port))
    await asyncio.wait_for(client.ready.wait(), TIMEOUT)

    started = time.monotonic()
    if register:
        iq = client.make_iq_set(ito=gateway)
        iq.append(register_form(username, contacts))
        await iq.send(timeout=TIMEOUT)
    registered = time.monotonic()

    deadline = started + TIMEOUT
    while len(client.complete_roster(gateway)) < contacts and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    roster_done = time.monotonic()
    roster = client.gateway_roster(gateway)

    echo = None
    if contacts > 0:
        body = f"hello from {local} ✓ <&>"
        sent = time.monotonic()
        client.send_message(mto=f"c0@{gateway}", mbody=body, mtype="chat")
        echo = await client.wait_message(f"c0@{gateway}", body)
        echo["seconds"] = time.monotonic() - sent

    # Let stray stanzas (another user's, if routing were wrong) arrive.
    await asyncio.sleep(0.5)
    client.disconnect()
    return local, {
        "roster": roster,
        "echo": echo,
        "messages": client.messages,
        "register_seconds": registered - started,
        "roster_seconds": roster_done - started,
    }


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--user", action="append", required=True)
    parser.add_argument(
        "--no-register",
        action="store_true",
        help="users registered before: only log in, find the roster, chat",
    )
    args = parser.parse_args()
    results = await asyncio.gather(
        *(run_user(args.server, args.gateway, u, not args.no_register) for u in args.user)
    )
    json.dump(dict(results), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
