"""The echo network's groups through a real client (slixmpp's xep_0045,
MAM by hand) and a real Prosody: the bookmark read back from the user's
PEP, the join, talking both ways, the group commands, the archive paged,
the room's avatar (its presence, vcard-temp and disco#info).

Phase `before` registers (2 contacts, 1 group) and does all of it; phase
`after` (a restart of the gateway later) joins again and reads the
participants and the archive back. One JSON object on stdout.

With `--bookmarks invitation` (a server that grants no `iq` privilege,
ejabberd 23.01) the group comes as a XEP-0249 invitation instead of a
bookmark.

Usage: groups.py --server HOST:PORT --gateway JID --phase before|after
                 [--bookmarks pep|invitation]
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

from client import TIMEOUT, Client

MUC_USER = "http://jabber.org/protocol/muc#user"
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
BOOKMARKS = "urn:xmpp:bookmarks:1"
PUBSUB = "http://jabber.org/protocol/pubsub"
UPDATE = "vcard-temp:x:update"


class GroupClient(Client):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0045")
        self.register_plugin("xep_0060")
        self.groupchat = []
        self.presences = []
        self.subjects = []
        self.mam = []
        self.arrived = asyncio.Event()
        self.add_event_handler("groupchat_message", self.on_groupchat)
        self.add_event_handler("groupchat_presence", self.on_presence)
        self.add_event_handler("groupchat_subject", self.on_subject)
        self.register_handler(Callback("mam results", MatchXPath(f"{{{self.default_ns}}}message"), self.on_mam))
        self.photos = []
        self.register_handler(
            Callback(
                "room photos",
                MatchXPath(f"{{{self.default_ns}}}presence/{{{UPDATE}}}x"),
                self.on_photo,
            )
        )
        self.invitations = []
        self.register_handler(
            Callback(
                "invitations",
                MatchXPath(f"{{{self.default_ns}}}message/{{jabber:x:conference}}x"),
                self.on_invitation,
            )
        )

    def note(self, items, item):
        items.append(item)
        self.arrived.set()

    def on_groupchat(self, msg):
        if msg["body"]:
            self.note(self.groupchat, {"from": str(msg["from"]), "id": msg["id"], "body": msg["body"]})

    def on_presence(self, p):
        x = p.xml.find(f"{{{MUC_USER}}}x")
        codes = sorted(s.get("code") for s in x.findall(f"{{{MUC_USER}}}status")) if x is not None else []
        item = x.find(f"{{{MUC_USER}}}item") if x is not None else None
        self.note(
            self.presences,
            {
                "from": str(p["from"]),
                "type": p["type"],
                "codes": codes,
                "jid": item.get("jid") if item is not None else None,
                "reason": item.findtext(f"{{{MUC_USER}}}reason") if item is not None else None,
                "show": p.xml.findtext("{jabber:client}show"),
                "status": p.xml.findtext("{jabber:client}status"),
            },
        )

    def on_subject(self, msg):
        self.note(self.subjects, {"from": str(msg["from"]), "subject": msg["subject"]})

    def on_photo(self, p):
        if not p["from"].resource:  # the room's own presence, not a puppet's
            self.note(self.photos, {"from": str(p["from"]), "photo": p.xml.findtext(f"{{{UPDATE}}}x/{{{UPDATE}}}photo")})

    async def room_avatar(self, room):
        """The SHA-1 of the PHOTO in the room's vcard-temp, and the hashes
        its disco#info names."""
        iq = self.make_iq_get(ito=room)
        ET.SubElement(iq.xml, "{vcard-temp}vCard")
        vcard = await iq.send(timeout=TIMEOUT)
        binval = vcard.xml.findtext("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL")
        info = await self.plugin["xep_0030"].get_info(jid=room, timeout=TIMEOUT)
        hashes = [
            v.text
            for f in info.xml.iter("{jabber:x:data}field")
            if f.get("var") == "muc#roominfo_avatarhash"
            for v in f.findall("{jabber:x:data}value")
        ]
        return {
            "vcard": hashlib.sha1(base64.b64decode(binval)).hexdigest() if binval else None,
            "disco": hashes,
        }

    def on_invitation(self, msg):
        x = msg.xml.find("{jabber:x:conference}x")
        self.note(self.invitations, {"from": str(msg["from"]), "jid": x.get("jid"), "reason": x.get("reason")})

    def on_mam(self, msg):
        result = msg.xml.find(f"{{{MAM}}}result")
        if result is None:
            return
        forwarded = result.find("{urn:xmpp:forward:0}forwarded")
        inner = forwarded.find("{jabber:client}message")
        self.note(
            self.mam,
            {
                "id": result.get("id"),
                "queryid": result.get("queryid"),
                "body": inner.findtext("{jabber:client}body"),
                "dated": forwarded.find("{urn:xmpp:delay}delay") is not None,
            },
        )

    async def wait(self, items, check, what):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for item in items:
                if check(item):
                    return item
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), 1)
            except asyncio.TimeoutError:
                pass
        raise TimeoutError(f"never saw {what}; saw {items[-10:]}")

    async def say(self, room, body):
        self.send_message(mto=room, mbody=body, mtype="groupchat")
        return await self.wait(
            self.groupchat, lambda m: m["from"].endswith("/romeo") and m["body"] == body, f"the reflection of {body!r}"
        )

    async def archive(self, room, queryid, rsm):
        iq = self.make_iq_set(ito=room)
        query = ET.SubElement(iq.xml, f"{{{MAM}}}query", {"queryid": queryid})
        set_ = ET.SubElement(query, f"{{{RSM}}}set")
        for name, value in rsm:
            ET.SubElement(set_, f"{{{RSM}}}{name}").text = value
        result = await iq.send(timeout=TIMEOUT)
        fin = result.xml.find(f"{{{MAM}}}fin")
        page = [m for m in self.mam if m["queryid"] == queryid]
        return {
            "bodies": [m["body"] for m in page],
            "dated": all(m["dated"] for m in page),
            "complete": fin.get("complete") in ("true", "1"),
            "last": fin.findtext(f"{{{RSM}}}set/{{{RSM}}}last"),
        }

    async def bookmarks(self, gateway):
        """The user's bookmarks node as the server keeps it, polled until
        the gateway's publish is there."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                items = await self.plugin["xep_0060"].get_items(self.boundjid.bare, BOOKMARKS, timeout=TIMEOUT)
                found = []
                for item in items["pubsub"]["items"]:
                    conference = item.xml.find(f"{{{BOOKMARKS}}}conference")
                    if conference is not None:
                        found.append(
                            {
                                "jid": item["id"],
                                "name": conference.get("name"),
                                "autojoin": conference.get("autojoin"),
                                "nick": conference.findtext(f"{{{BOOKMARKS}}}nick"),
                            }
                        )
                if found:
                    return found
            except Exception:  # the node does not exist yet
                pass
            await asyncio.sleep(0.2)
        raise TimeoutError("no bookmark in the user's PEP")


def register_form(username):
    query = ET.Element("{jabber:iq:register}query")
    form = ET.SubElement(query, "{jabber:x:data}x", {"type": "submit"})
    for var, value in [("FORM_TYPE", "jabber:iq:register"), ("username", username), ("contacts", "2"), ("groups", "1")]:
        field = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
        ET.SubElement(field, "{jabber:x:data}value").text = value
    return query


async def join(client, room):
    client.plugin["xep_0045"].join_muc(room, "romeo")
    own = await client.wait(client.presences, lambda p: "110" in p["codes"], "the self-presence")
    subject = await client.wait(client.subjects, lambda s: True, "the subject")
    others = sorted(p["from"].split("/", 1)[1] for p in client.presences if "110" not in p["codes"] and p["type"] != "unavailable")
    return {"own": own, "subject": subject, "participants": others}


async def before(client, gateway, report, bookmarks):
    iq = client.make_iq_set(ito=gateway)
    iq.append(register_form("romeo"))
    await iq.send(timeout=TIMEOUT)
    room = f"g0@{gateway}"
    if bookmarks == "pep":
        report["bookmarks"] = await client.bookmarks(gateway)
    else:
        report["invitation"] = await client.wait(client.invitations, lambda i: True, "the invitation")
    report["join"] = await join(client, room)
    report["reflected"] = await client.say(room, "hello room")
    report["heard"] = (await client.wait(client.groupchat, lambda m: m["body"] == "heard: hello room", "heard"))["from"]
    await client.say(room, "/join Ann")
    report["ann"] = (await client.wait(client.presences, lambda p: p["from"].endswith("/Ann"), "Ann's presence"))["type"]
    await client.say(room, "/away Ann at lunch")
    away = await client.wait(client.presences, lambda p: p["from"].endswith("/Ann") and p["show"], "Ann away")
    report["away"] = {"show": away["show"], "status": away["status"], "available": away["type"] != "unavailable"}
    await client.say(room, "/join Bob")
    await client.say(room, "/kick Bob")
    kicked = await client.wait(client.presences, lambda p: p["from"].endswith("/Bob") and p["type"] == "unavailable", "Bob kicked")
    report["kick"] = {"codes": kicked["codes"], "reason": kicked["reason"]}
    await client.say(room, "/subject Topic of the day")
    report["subject"] = (await client.wait(client.subjects, lambda s: s["subject"] == "Topic of the day", "the new subject"))["from"]
    await client.say(room, "/burst 5")
    await client.wait(client.groupchat, lambda m: m["body"] == "burst 5", "burst 5")
    first = await client.archive(room, "p1", [("max", "4")])
    second = await client.archive(room, "p2", [("max", "50"), ("after", first["last"])])
    report["archive"] = {"first": first, "second": second}
    await client.say(room, "/avatar")
    photo = await client.wait(client.photos, lambda p: p["from"] == room and p["photo"], "the room's photo")
    report["avatar"] = {"presence": photo["photo"], **(await client.room_avatar(room))}


async def after(client, gateway, report, _bookmarks):
    room = f"g0@{gateway}"
    report["join"] = await join(client, room)
    photo = await client.wait(client.photos, lambda p: p["from"] == room, "the room's photo on joining")
    report["avatar"] = {"presence": photo["photo"], **(await client.room_avatar(room))}
    report["archive"] = await client.archive(room, "a1", [("max", "50")])
    report["reflected"] = await client.say(room, "after the restart")
    report["heard"] = (await client.wait(client.groupchat, lambda m: m["body"] == "heard: after the restart", "heard"))["from"]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--phase", required=True)
    parser.add_argument("--bookmarks", default="pep")
    args = parser.parse_args()
    host, port = args.server.rsplit(":", 1)
    client = GroupClient("romeo@localhost/e2e", "pass")
    client.connect(host, int(port))
    await asyncio.wait_for(client.ready.wait(), TIMEOUT)
    report = {}
    try:
        await (before if args.phase == "before" else after)(client, args.gateway, report, args.bookmarks)
    finally:
        client.disconnect()
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
