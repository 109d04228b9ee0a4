"""An IRC channel as a group, end to end: the XMPP user `romeo` (slixmpp,
xep_0045) joins `#gatehouse@<gateway>` like a biboumi user; the IRC user
`Bob` (the `irc` package) is in the channel, sets its topic, talks, is
renamed and leaves, all through a real ngircd. One JSON object on stdout.

Usage: irc_channel.py --server HOST:PORT --gateway JID --irc PORT
"""

import argparse
import asyncio
import json
import sys
import time

from irc.client_aio import AioReactor
from slixmpp.xmlstream import ET

from client import TIMEOUT, Client, wait_until

MUC_USER = "http://jabber.org/protocol/muc#user"
CHANNEL = "#gatehouse"


class IrcUser:
    def __init__(self, loop):
        self.reactor = AioReactor(loop=loop)
        self.connection = self.reactor.server()
        self.welcomed = asyncio.Event()
        self.received = []
        self.arrived = asyncio.Event()
        for event in ["pubmsg", "action", "join", "namreply"]:
            self.reactor.add_global_handler(event, self.on_event)
        self.reactor.add_global_handler("welcome", lambda c, e: self.welcomed.set())

    def on_event(self, _connection, event):
        nick = event.source.nick if event.source and "!" in event.source else str(event.source)
        self.received.append({"kind": event.type, "from": nick, "args": list(event.arguments), "target": event.target})
        self.arrived.set()

    async def wait(self, check, what):
        return await wait_until(self.received, self.arrived, check, f"IRC {what}")


class XmppUser(Client):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.register_plugin("xep_0045")
        self.events = []
        self.arrived = asyncio.Event()
        self.add_event_handler("groupchat_presence", self.on_presence)
        self.add_event_handler("groupchat_message", self.on_groupchat)
        self.add_event_handler("groupchat_subject", self.on_subject)

    def note(self, item):
        self.events.append(item)
        self.arrived.set()

    def on_presence(self, p):
        x = p.xml.find(f"{{{MUC_USER}}}x")
        item = x.find(f"{{{MUC_USER}}}item") if x is not None else None
        codes = sorted(s.get("code") for s in x.findall(f"{{{MUC_USER}}}status")) if x is not None else []
        self.note(
            {
                "kind": "presence",
                "nick": p["from"].resource,
                "type": p["type"],
                "codes": codes,
                "role": item.get("role") if item is not None else None,
                "new_nick": item.get("nick") if item is not None else None,
            }
        )

    def on_groupchat(self, msg):
        if msg["body"]:
            self.note({"kind": "message", "nick": msg["from"].resource, "body": msg["body"]})

    def on_subject(self, msg):
        self.note({"kind": "subject", "nick": msg["from"].resource, "subject": msg["subject"]})

    async def wait(self, check, what):
        return await wait_until(self.events, self.arrived, check, f"XMPP {what}")


def register_form(port):
    query = ET.Element("{jabber:iq:register}query")
    form = ET.SubElement(query, "{jabber:x:data}x", {"type": "submit"})
    for var, value in [
        ("FORM_TYPE", "jabber:iq:register"),
        ("server", f"127.0.0.1:{port}"),
        ("nickname", "romeo"),
    ]:
        field = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
        ET.SubElement(field, "{jabber:x:data}value").text = value
    return query


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--irc", type=int, required=True)
    args = parser.parse_args()
    room = f"{CHANNEL}@{args.gateway}"
    report = {}

    bob = IrcUser(asyncio.get_running_loop())
    await bob.connection.connect("127.0.0.1", args.irc, "Bob")
    await asyncio.wait_for(bob.welcomed.wait(), TIMEOUT)
    bob.connection.join(CHANNEL)
    await bob.wait(lambda e: e["kind"] == "join" and e["from"] == "Bob", "Bob's join")
    bob.connection.topic(CHANNEL, "All about gateways")

    host, port = args.server.rsplit(":", 1)
    romeo = XmppUser("romeo@localhost/irc", "pass")
    romeo.connect(host, int(port))
    await asyncio.wait_for(romeo.ready.wait(), TIMEOUT)
    iq = romeo.make_iq_set(ito=args.gateway)
    iq.append(register_form(args.irc))
    await iq.send(timeout=TIMEOUT)
    # The gateway's presence once the IRC server welcomed it.
    deadline = time.monotonic() + TIMEOUT
    joined = None
    while time.monotonic() < deadline and joined is None:
        romeo.plugin["xep_0045"].join_muc(room, "romeo")
        try:
            joined = await asyncio.wait_for(
                romeo.wait(lambda e: e["kind"] == "presence" and "110" in e["codes"], "the self-presence"), 10
            )
        except (asyncio.TimeoutError, TimeoutError):
            pass
    report["own"] = joined
    report["bob"] = await romeo.wait(
        lambda e: e["kind"] == "presence" and e["nick"] == "Bob" and e["role"] == "moderator", "Bob as operator"
    )
    report["topic"] = await romeo.wait(lambda e: e["kind"] == "subject" and e["subject"], "the topic")
    await bob.wait(lambda e: e["kind"] == "join" and e["from"] == "romeo", "romeo's join")

    bob.connection.privmsg(CHANNEL, "hello from IRC ✓")
    report["to_xmpp"] = await romeo.wait(lambda e: e["kind"] == "message" and e["nick"] == "Bob", "Bob's message")
    romeo.send_message(mto=room, mbody="hello from XMPP <&>", mtype="groupchat")
    report["to_irc"] = await bob.wait(lambda e: e["kind"] == "pubmsg", "romeo's message")
    report["reflected"] = await romeo.wait(
        lambda e: e["kind"] == "message" and e["nick"] == "romeo", "the reflection"
    )
    bob.connection.action(CHANNEL, "waves")
    report["action"] = (await romeo.wait(lambda e: e["kind"] == "message" and e["body"].startswith("/me"), "/me"))["body"]
    bob.connection.nick("Robert")
    report["renamed"] = await romeo.wait(lambda e: e["kind"] == "presence" and "303" in e["codes"], "the rename")
    await romeo.wait(lambda e: e["kind"] == "presence" and e["nick"] == "Robert" and e["type"] != "unavailable", "Robert")
    bob.connection.part(CHANNEL, "bye")
    report["left"] = await romeo.wait(
        lambda e: e["kind"] == "presence" and e["nick"] == "Robert" and e["type"] == "unavailable", "Robert leaving"
    )
    romeo.disconnect()
    bob.connection.disconnect()
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
