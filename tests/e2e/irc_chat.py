"""The IRC gateway end to end: an XMPP user (slixmpp) and an IRC user (the
`irc` package) talk through Prosody, Gatehouse with the IRC plugin, and a
real IRC server (ngircd), for the end-to-end tests.

The IRC user `Bob` connects; the XMPP user `romeo` registers with the
gateway (nick `romeo`, contact `bob`). They exchange messages both ways
(Unicode, /me, formatting, a CTCP request, a text longer than an IRC line),
Bob goes away and comes back, and quits. Then the script asks the test to
stop the IRC server (a line `STOP-IRC` on stdout, answered on stdin), and to
start it again (`START-IRC`), and checks that the gateway reconnected by
itself and still carries messages. One JSON object on the last stdout line.

Usage: irc_chat.py --server HOST:PORT --gateway JID --irc PORT
"""

import argparse
import asyncio
import json
import sys
import time

from irc.client_aio import AioReactor
from slixmpp.xmlstream import ET

from client import TIMEOUT, Client, wait_until

LONG = ("Ünïcödé " * 40 + "🎉" * 60 + " end").strip()


class XmppUser(Client):
    """The XMPP side, recording presences as well as messages."""

    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.presences = []
        self.presence_arrived = asyncio.Event()
        self.add_event_handler("presence", self.on_presence)

    def on_presence(self, presence):
        self.presences.append(
            {
                "from": presence["from"].bare,
                "type": presence["type"],
                "show": presence["show"],
                "status": presence["status"],
            }
        )
        self.presence_arrived.set()

    async def wait_presence(self, sender, check, what, since=0):
        """The first presence from `sender` that passes `check`, among those
        that arrived after the first `since`."""
        return await wait_until(
            self.presences,
            self.presence_arrived,
            lambda p: p["from"] == sender and check(p),
            f"presence from {sender}: {what}",
            since,
        )


class IrcUser:
    """The IRC side: one connection of the `irc` package."""

    def __init__(self, loop):
        self.reactor = AioReactor(loop=loop)
        self.connection = self.reactor.server()
        self.welcomed = asyncio.Event()
        self.received = []
        self.arrived = asyncio.Event()
        for event in ["privmsg", "action"]:
            self.reactor.add_global_handler(event, self.on_message)
        self.reactor.add_global_handler("welcome", lambda c, e: self.welcomed.set())

    def on_message(self, _connection, event):
        self.received.append({"kind": event.type, "from": event.source.nick, "text": event.arguments[0]})
        self.arrived.set()

    async def connect(self, port, nick):
        self.welcomed.clear()
        await self.connection.connect("127.0.0.1", port, nick)
        await asyncio.wait_for(self.welcomed.wait(), TIMEOUT)

    async def wait(self, check, what):
        return await wait_until(self.received, self.arrived, check, f"IRC {what}")


def register_form(port):
    query = ET.Element("{jabber:iq:register}query")
    form = ET.SubElement(query, "{jabber:x:data}x", {"type": "submit"})
    for var, value in [
        ("FORM_TYPE", "jabber:iq:register"),
        ("server", f"127.0.0.1:{port}"),
        ("nickname", "romeo"),
        ("contacts", "bob"),
        ("presence_poll", "1"),
    ]:
        field = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
        ET.SubElement(field, "{jabber:x:data}value").text = value
    return query


async def ask_test(request):
    """Asks the Rust test to do something to the IRC server; waits for it."""
    print(request, flush=True)
    answer = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not answer.strip():
        raise RuntimeError(f"no answer to {request}")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--irc", type=int, required=True)
    args = parser.parse_args()
    gateway = args.gateway
    bob_jid = f"bob@{gateway}"
    report = {}

    bob = IrcUser(asyncio.get_running_loop())
    await bob.connect(args.irc, "Bob")

    host, port = args.server.rsplit(":", 1)
    romeo = XmppUser("romeo@localhost/irc", "pass")
    romeo.connect(host, int(port))
    await asyncio.wait_for(romeo.ready.wait(), TIMEOUT)
    iq = romeo.make_iq_set(ito=gateway)
    iq.append(register_form(args.irc))
    await iq.send(timeout=TIMEOUT)

    deadline = time.monotonic() + TIMEOUT
    while bob_jid not in romeo.gateway_roster(gateway) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    report["roster"] = romeo.gateway_roster(gateway)
    online = await romeo.wait_presence(bob_jid, lambda p: p["type"] == "available", "online")
    report["online"] = online

    # XMPP → IRC, Unicode and XML-special characters.
    romeo.send_message(mto=bob_jid, mbody="héllo Bob ✓ <&>", mtype="chat")
    report["to_irc"] = await bob.wait(lambda m: m["kind"] == "privmsg", "message from romeo")

    # IRC → XMPP: to `romeo` from `Bob`, who is the contact bob@.
    bob.connection.privmsg("romeo", "hi Romeo — ünïcode 🎉")
    report["to_xmpp"] = await romeo.wait_body(bob_jid, lambda b: b.startswith("hi Romeo"), "Bob's message")
    bob.connection.action("romeo", "waves")
    report["action"] = (await romeo.wait_body(bob_jid, lambda b: b.startswith("/me"), "an action"))["body"]
    bob.connection.privmsg("romeo", "\x02bold\x02 and \x0304red\x03 text")
    report["formatted"] = (await romeo.wait_body(bob_jid, lambda b: "bold" in b, "formatted"))["body"]
    # A CTCP request is ignored; the next message still arrives.
    bob.connection.ctcp("VERSION", "romeo")
    bob.connection.privmsg("romeo", "after the ctcp")
    await romeo.wait_body(bob_jid, lambda b: b == "after the ctcp", "the message after a CTCP")
    report["bodies"] = [m["body"] for m in romeo.messages if m["from"].split("/")[0] == bob_jid]

    # A text longer than an IRC line arrives whole, in several lines.
    bob.received.clear()
    romeo.send_message(mto=bob_jid, mbody=LONG, mtype="chat")
    deadline = time.monotonic() + TIMEOUT
    while len("".join(m["text"] for m in bob.received).encode()) < len(LONG.encode()):
        if time.monotonic() > deadline:
            break
        bob.arrived.clear()
        try:
            await asyncio.wait_for(bob.arrived.wait(), 5)
        except asyncio.TimeoutError:
            pass
    report["long_pieces"] = len(bob.received)
    report["long_whole"] = "".join(m["text"] for m in bob.received) == LONG
    romeo.send_message(mto=bob_jid, mbody="/me dances", mtype="chat")
    report["irc_action"] = await bob.wait(lambda m: m["kind"] == "action", "an action")

    # Away and back, then gone.
    mark = len(romeo.presences)
    bob.connection.send_raw("AWAY :gone fishing")
    report["away"] = await romeo.wait_presence(bob_jid, lambda p: p["show"] == "away", "away", mark)
    mark = len(romeo.presences)
    bob.connection.send_raw("AWAY")
    report["back"] = await romeo.wait_presence(bob_jid, lambda p: p["type"] == "available", "back", mark)
    mark = len(romeo.presences)
    bob.connection.quit("bye")
    report["gone"] = await romeo.wait_presence(bob_jid, lambda p: p["type"] == "unavailable", "offline", mark)

    # The IRC server goes away and comes back; the gateway reconnects alone.
    await ask_test("STOP-IRC")
    report["disconnected"] = (
        await romeo.wait_body(gateway, lambda b: b.startswith("Disconnected from the IRC server"), "disconnection")
    )["body"]
    await ask_test("START-IRC")
    report["reconnected"] = (
        await romeo.wait_body(gateway, lambda b: b.startswith("Reconnected"), "reconnection")
    )["body"]
    bob = IrcUser(asyncio.get_running_loop())
    await bob.connect(args.irc, "bob")
    romeo.send_message(mto=bob_jid, mbody="back again", mtype="chat")
    report["after_restart"] = await bob.wait(lambda m: m["text"] == "back again", "a message after the restart")

    romeo.disconnect()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
