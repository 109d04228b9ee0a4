"""The echo network's commands through a real client (slixmpp), for the
end-to-end tests.

Phase `before` registers, then sends a plain message and each command, and
records what the client observed: markers, reactions, corrections and
retractions with the ids they reference, the avatar fetched through XEP-0084
(its SHA-1 checked), the vCard fetched, the carbon of the message "sent from
another client". Phase `after` (run once the gateway was restarted) checks
that no roster push arrives and that a correction of a message from before
the restart still maps; it logs in before the gateway is killed (it prints
READY and waits for a line on stdin, the test's word that the gateway was
restarted and logged the session in again), so that a roster push the
restart made again would reach it. One JSON object on stdout.

Usage: commands.py --server HOST:PORT --gateway JID --phase before|after
                   [--carbon-wait SECONDS]
"""

import argparse
import asyncio
import base64
import hashlib
import json
import sys
import time

from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from client import TIMEOUT, Client, register_form

RECEIPTS = "urn:xmpp:receipts"
MARKERS = "urn:xmpp:chat-markers:0"
CORRECT = "urn:xmpp:message-correct:0"
RETRACT = "urn:xmpp:message-retract:1"
REACTIONS = "urn:xmpp:reactions:0"
REPLY = "urn:xmpp:reply:0"
CHATSTATES = "http://jabber.org/protocol/chatstates"
EVENT = "http://jabber.org/protocol/pubsub#event"
PUBSUB = "http://jabber.org/protocol/pubsub"
AVATAR_META = "urn:xmpp:avatar:metadata"
AVATAR_DATA = "urn:xmpp:avatar:data"
VCARD4 = "urn:ietf:params:xml:ns:vcard-4.0"


def describe(msg):
    """What a message carries, as plain data."""
    xml = msg.xml
    seen = {"from": str(msg["from"]), "id": msg["id"], "type": msg["type"], "body": msg["body"]}
    for key, tag in [
        ("received", f"{{{RECEIPTS}}}received"),
        ("displayed", f"{{{MARKERS}}}displayed"),
        ("replace", f"{{{CORRECT}}}replace"),
        ("retract", f"{{{RETRACT}}}retract"),
        ("reply", f"{{{REPLY}}}reply"),
    ]:
        el = xml.find(tag)
        if el is not None:
            seen[key] = el.get("id")
    reactions = xml.find(f"{{{REACTIONS}}}reactions")
    if reactions is not None:
        seen["reactions"] = {"id": reactions.get("id"), "emojis": [r.text for r in reactions]}
    for state in ["composing", "paused", "active"]:
        if xml.find(f"{{{CHATSTATES}}}{state}") is not None:
            seen["chatstate"] = state
    info = xml.find(f"{{{EVENT}}}event/{{{EVENT}}}items/{{{EVENT}}}item/{{{AVATAR_META}}}metadata/{{{AVATAR_META}}}info")
    if info is not None:
        seen["avatar"] = info.get("id")
    return seen


class Observer(Client):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.seen = []
        self.carbons = []
        self.pushes = []
        self.push_items = []
        self.register_plugin("xep_0280")
        self.add_event_handler("carbon_sent", self.on_carbon)
        # slixmpp's "message" event only fires for messages with a body;
        # markers, reactions and chat states have none.
        self.register_handler(
            Callback("every message", MatchXPath(f"{{{self.default_ns}}}message"), self.on_any_message)
        )
        self.add_event_handler("roster_update", self.on_roster_update)

    def on_any_message(self, msg):
        if msg["type"] in ("chat", "headline", "normal"):
            self.seen.append(describe(msg))
            self.message_arrived.set()

    def on_carbon(self, msg):
        self.carbons.append(str(msg["carbon_sent"]["body"]))

    def on_roster_update(self, iq):
        if iq["type"] == "set":
            self.pushes.extend(str(jid) for jid in iq["roster"]["items"])
            for jid, item in iq["roster"]["items"].items():
                self.push_items.append(
                    {"jid": str(jid), "name": item["name"], "subscription": item["subscription"]}
                )

    async def wait_for(self, what, match):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for item in self.seen:
                if match(item):
                    self.seen.remove(item)
                    return item
            self.message_arrived.clear()
            try:
                await asyncio.wait_for(self.message_arrived.wait(), 1)
            except asyncio.TimeoutError:
                pass
        raise TimeoutError(f"never saw {what}; saw {self.seen}")

    def say(self, to, msg_id, body):
        msg = self.make_message(mto=to, mbody=body, mtype="chat")
        msg["id"] = msg_id
        msg.send()

    async def get(self, to, payload):
        iq = self.make_iq_get(ito=to)
        iq.append(payload)
        return await iq.send(timeout=TIMEOUT)


def items(node, item_id=None):
    pubsub = ET.Element(f"{{{PUBSUB}}}pubsub")
    items_el = ET.SubElement(pubsub, f"{{{PUBSUB}}}items", {"node": node})
    if item_id:
        ET.SubElement(items_el, f"{{{PUBSUB}}}item", {"id": item_id})
    return pubsub


async def before(client, gateway, report, carbon_wait):
    contact = f"c0@{gateway}"
    iq = client.make_iq_set(ito=gateway)
    iq.append(register_form("romeo", 2))
    await iq.send(timeout=TIMEOUT)
    if not await until(lambda: len(client.complete_roster(gateway)) >= 2, TIMEOUT):
        raise TimeoutError(f"the roster never held 2 contacts: {client.complete_roster(gateway)}")
    await client.plugin["xep_0280"].enable()

    client.say(contact, "m1", "hello ✓")
    report["receipt"] = (await client.wait_for("receipt", lambda m: "received" in m))["received"]
    report["echo"] = await client.wait_for("echo", lambda m: m["body"] == "hello ✓")

    client.say(contact, "m2", "/read")
    report["read"] = (await client.wait_for("marker", lambda m: "displayed" in m))["displayed"]
    client.say(contact, "m3", "/react 👍")
    report["react"] = (await client.wait_for("reactions", lambda m: "reactions" in m))["reactions"]
    client.say(contact, "m4", "/reply indeed")
    report["reply"] = await client.wait_for("reply", lambda m: "reply" in m)
    client.say(contact, "m5", "/correct hello, corrected")
    report["correct"] = await client.wait_for("correction", lambda m: "replace" in m)
    client.say(contact, "m6", "/retract")
    report["retract"] = (await client.wait_for("retraction", lambda m: "retract" in m))["retract"]
    client.say(contact, "m7", "/typing")
    report["typing"] = [
        (await client.wait_for("composing", lambda m: m.get("chatstate") == "composing"))["chatstate"],
        (await client.wait_for("paused", lambda m: m.get("chatstate") == "paused"))["chatstate"],
    ]
    client.say(contact, "m8", "/carbon typed on my phone")
    deadline = time.monotonic() + carbon_wait
    while not client.carbons and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    report["carbons"] = client.carbons

    client.say(contact, "m9", "/avatar")
    avatar_id = (await client.wait_for("avatar event", lambda m: "avatar" in m))["avatar"]
    data = await client.get(contact, items(AVATAR_DATA, avatar_id))
    encoded = data.xml.find(f".//{{{AVATAR_DATA}}}data").text
    report["avatar"] = {"id": avatar_id, "sha1": hashlib.sha1(base64.b64decode(encoded)).hexdigest()}

    vcard = await client.get(contact, ET.Element(f"{{{VCARD4}}}vcard"))
    report["vcard_fn"] = vcard.xml.find(f".//{{{VCARD4}}}fn/{{{VCARD4}}}text").text

    client.say(contact, "m10", "/avatar none")
    removal = await client.wait_for("avatar removal", lambda m: m["type"] == "headline")
    report["avatar_removed"] = "avatar" not in removal

    client.say(contact, "m11", "/nick Juliet ✓")
    report["nick"] = await until(lambda: client.client_roster[contact]["name"] == "Juliet ✓")

    client.say(contact, "m12", "/presence away gone fishing")
    report["presence"] = await until(
        lambda: any(
            p["show"] == "away" and p["status"] == "gone fishing"
            for p in client.client_roster.presence(contact).values()
        )
    )

    client.say(contact, "m13", "/contact Zoë @ home")
    report["contact"] = await until(
        lambda: any(client.client_roster[j]["name"] == "Zoë @ home" for j in client.client_roster)
    )

    client.say(contact, "m14", "/burst 3")
    report["burst"] = [
        (await client.wait_for(f"burst {i}", lambda m, i=i: m["body"] == f"burst {i}"))["body"] for i in (1, 2, 3)
    ]

    c1 = f"c1@{gateway}"
    was_friend = client.client_roster[c1]["subscription"] == "both"
    client.say(c1, "m15", "/unfriend")
    # slixmpp drops the item on the removal push, and makes an empty one
    # again when the puppet's "unavailable" presence follows.
    report["unfriend"] = was_friend and await until(
        lambda: not client.client_roster.has_jid(c1) or client.client_roster[c1]["subscription"] == "none"
    )

    # The user's own side reaches the plugin.
    composing = client.make_message(mto=contact, mtype="chat")
    composing["chat_state"] = "composing"
    composing.send()
    report["saw_composing"] = (await client.wait_for("saw composing", lambda m: m["body"] == "saw composing"))["body"]


async def until(condition, within=20):
    """Whether `condition` became true within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except KeyError:
            pass
        await asyncio.sleep(0.05)
    return False


async def after(client, gateway, report):
    contact = f"c0@{gateway}"
    # The correction of a message sent before the restart.
    msg = client.make_message(mto=contact, mbody="hello again", mtype="chat")
    msg["id"] = "m1-fix"
    msg["replace"]["id"] = "m1"
    msg.send()
    report["saw"] = (await client.wait_for("the plugin's view", lambda m: m["body"].startswith("saw correction")))["body"]
    # Pushes a restart makes again come after the server's roster answers
    # the gateway: time for that on a loaded machine.
    await asyncio.sleep(3)
    report["pushes_after_restart"] = client.pushes
    # A push that only says again what the roster held before the kill is
    # a duplicate; one that changes it (the plugin's fill renaming a contact
    # or adding back one that left) is news.
    report["repeated_pushes"] = [
        p for p in client.push_items if client.before_kill.get(p["jid"]) == (p["name"], p["subscription"])
    ]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--phase", choices=["before", "after"], required=True)
    # How long to wait for the carbon of a message the plugin sends as the
    # user: a server that makes none (ejabberd) is given a few seconds.
    parser.add_argument("--carbon-wait", type=float, default=TIMEOUT)
    args = parser.parse_args()
    host, port = args.server.rsplit(":", 1)
    client = Observer("romeo@localhost/e2e", "pass")
    client.register_plugin("xep_0308")
    client.register_plugin("xep_0085")
    client.connect(host, int(port))
    await asyncio.wait_for(client.ready.wait(), TIMEOUT)
    report = {}
    if args.phase == "after":
        # Online across the kill and the restart: every push is seen.
        client.before_kill = {
            str(jid): (client.client_roster[jid]["name"], client.client_roster[jid]["subscription"])
            for jid in client.client_roster
        }
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if args.phase == "before":
        await before(client, args.gateway, report, args.carbon_wait)
    else:
        await after(client, args.gateway, report)
    client.disconnect()
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
