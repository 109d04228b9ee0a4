"""The gateway's ad-hoc commands (XEP-0050) run by a real client (slixmpp),
for the end-to-end tests.

Three accounts: `romeo` (registered, and the gateway's admin), `juliet`
(registered) and `nurse` (not registered). Each runs the commands it is
offered, and some it is not; every answer is recorded as what the stanza
said (status, session id, note, the form's type, fields and table, or the
error's condition and XEP-0050 condition). One JSON object on stdout, for
the Rust test to assert on.

Usage: adhoc.py --server HOST:PORT --gateway JID
"""

import argparse
import asyncio
import json
import sys
import time

from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from client import TIMEOUT, Client, register_form

COMMANDS = "http://jabber.org/protocol/commands"
DATA = "jabber:x:data"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def read_form(x):
    """A jabber:x:data element as a dict."""
    if x is None:
        return None
    fields = {}
    types = {}
    options = {}
    for field in x.findall(f"{{{DATA}}}field"):
        values = [v.text or "" for v in field.findall(f"{{{DATA}}}value")]
        fields[field.get("var")] = values[0] if len(values) == 1 else values
        types[field.get("var")] = field.get("type")
        choices = [(o.get("label"), o.findtext(f"{{{DATA}}}value")) for o in field.findall(f"{{{DATA}}}option")]
        if choices:
            options[field.get("var")] = choices
    reported = x.find(f"{{{DATA}}}reported")
    items = []
    for item in x.findall(f"{{{DATA}}}item"):
        row = {}
        for field in item.findall(f"{{{DATA}}}field"):
            value = field.find(f"{{{DATA}}}value")
            row[field.get("var")] = value.text if value is not None else None
        items.append(row)
    title = x.find(f"{{{DATA}}}title")
    return {
        "type": x.get("type"),
        "title": title.text if title is not None else None,
        "fields": fields,
        "types": types,
        "options": options,
        "reported": [f.get("var") for f in reported] if reported is not None else None,
        "items": items,
    }


def read_answer(iq):
    """A command's answer (or error) as a dict."""
    if iq["type"] == "error":
        error = iq.xml.find("{jabber:client}error")
        specific = [c.tag.split("}")[1] for c in error if c.tag.startswith(f"{{{COMMANDS}}}")]
        text = error.find(f"{{{STANZAS}}}text")
        return {
            "error": iq["error"]["condition"],
            "error_type": error.get("type"),
            "specific": specific[0] if specific else None,
            "text": text.text if text is not None else None,
        }
    command = iq.xml.find(f"{{{COMMANDS}}}command")
    note = command.find(f"{{{COMMANDS}}}note")
    actions = command.find(f"{{{COMMANDS}}}actions")
    return {
        "from": str(iq["from"]),
        "node": command.get("node"),
        "status": command.get("status"),
        "sessionid": command.get("sessionid"),
        "note_type": note.get("type") if note is not None else None,
        "note": note.text if note is not None else None,
        "actions": (
            {"execute": actions.get("execute"), "offered": [a.tag.split("}")[1] for a in actions]}
            if actions is not None
            else None
        ),
        "form": read_form(command.find(f"{{{DATA}}}x")),
    }


async def run(client, gateway, node, action="execute", sessionid=None, values=None):
    """Sends one command request; its answer as a dict."""
    iq = client.make_iq_set(ito=gateway)
    attrs = {"node": node, "action": action}
    if sessionid:
        attrs["sessionid"] = sessionid
    command = ET.Element(f"{{{COMMANDS}}}command", attrs)
    if values is not None:
        x = ET.SubElement(command, f"{{{DATA}}}x", {"type": "submit"})
        for var, value in values.items():
            field = ET.SubElement(x, f"{{{DATA}}}field", {"var": var})
            ET.SubElement(field, f"{{{DATA}}}value").text = value
    iq.append(command)
    try:
        answer = await iq.send(timeout=TIMEOUT)
    except IqError as e:
        answer = e.iq
    return read_answer(answer)


async def listed(client, gateway):
    """The commands the gateway lists to this client: node -> name."""
    iq = client.make_iq_get(ito=gateway)
    iq.append(ET.Element(f"{{{DISCO_ITEMS}}}query", {"node": COMMANDS}))
    answer = await iq.send(timeout=TIMEOUT)
    query = answer.xml.find(f"{{{DISCO_ITEMS}}}query")
    return {
        "node": query.get("node"),
        "items": [
            {"jid": i.get("jid"), "node": i.get("node"), "name": i.get("name")}
            for i in query.findall(f"{{{DISCO_ITEMS}}}item")
        ],
    }


async def connect(server, local):
    host, port = server.rsplit(":", 1)
    client = Client(f"{local}@localhost/adhoc", "pass")
    client.presences = []
    client.add_event_handler(
        "presence",
        lambda p: client.presences.append({"from": str(p["from"]), "type": p["type"]}),
    )
    client.connect(host, int(port))
    await asyncio.wait_for(client.ready.wait(), TIMEOUT)
    return client


async def register(client, gateway, contacts):
    iq = client.make_iq_set(ito=gateway)
    iq.append(register_form(client.boundjid.user, contacts))
    await iq.send(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while len(client.gateway_roster(gateway)) < contacts:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the roster never held {contacts} contacts")
        await asyncio.sleep(0.05)


async def wait_for(check, what):
    for _ in range(int(TIMEOUT / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    raise TimeoutError(what)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--gateway", required=True)
    args = parser.parse_args()
    gw = args.gateway
    romeo = await connect(args.server, "romeo")
    juliet = await connect(args.server, "juliet")
    nurse = await connect(args.server, "nurse")
    await register(romeo, gw, 1)
    await register(juliet, gw, 2)
    out = {}
    status_of = lambda a: a["form"]["fields"]["state"]  # noqa: E731

    out["list_admin"] = await listed(romeo, gw)
    out["list_user"] = await listed(juliet, gw)
    out["list_stranger"] = await listed(nurse, gw)

    out["stranger_status"] = await run(nurse, gw, "status")
    out["stranger_users"] = await run(nurse, gw, "admin/users")
    out["user_users"] = await run(juliet, gw, "admin/users")
    out["user_kick"] = await run(juliet, gw, "admin/kick")
    out["unknown"] = await run(juliet, gw, "no-such-command")

    out["status"] = await run(juliet, gw, "status")
    out["contacts"] = await run(juliet, gw, "contacts")
    out["groups"] = await run(juliet, gw, "groups")
    form = await run(juliet, gw, "leave-group")
    out["leave_form"] = form
    out["leave"] = await run(juliet, gw, "leave-group", "complete", form["sessionid"], {"group": f"g0@{gw}"})
    out["groups_after_leave"] = await run(juliet, gw, "groups")
    out["leave_nothing"] = await run(juliet, gw, "leave-group")

    seen = len(juliet.presences)
    out["logout"] = await run(juliet, gw, "logout")
    await wait_for(
        lambda: any(p["from"] == gw and p["type"] == "unavailable" for p in juliet.presences[seen:]),
        "the gateway's unavailable presence after logout",
    )
    out["status_after_logout"] = status_of(await run(juliet, gw, "status"))
    out["login"] = await run(juliet, gw, "login")
    out["login_again"] = await run(juliet, gw, "login")
    out["status_after_login"] = status_of(await run(juliet, gw, "status"))
    out["sync"] = await run(juliet, gw, "sync-contacts")

    out["users"] = await run(romeo, gw, "admin/users")
    first = await run(romeo, gw, "admin/session")
    out["session_form"] = first
    out["session"] = await run(
        romeo, gw, "admin/session", "complete", first["sessionid"], {"user": "juliet@localhost"}
    )
    out["session_replayed"] = await run(
        romeo, gw, "admin/session", "complete", first["sessionid"], {"user": "juliet@localhost"}
    )
    second = await run(romeo, gw, "admin/session")
    out["session_unknown_user"] = await run(
        romeo, gw, "admin/session", "complete", second["sessionid"], {"user": "nurse@localhost"}
    )
    stolen = await run(romeo, gw, "admin/kick")
    out["kick_stolen"] = await run(
        juliet, gw, "admin/kick", "complete", stolen["sessionid"], {"user": "romeo@localhost"}
    )
    canceled = await run(romeo, gw, "admin/kick")
    out["kick_canceled"] = await run(romeo, gw, "admin/kick", "cancel", canceled["sessionid"])
    out["kick_after_cancel"] = await run(
        romeo, gw, "admin/kick", "complete", canceled["sessionid"], {"user": "juliet@localhost"}
    )
    kick = await run(romeo, gw, "admin/kick")
    out["kick"] = await run(
        romeo, gw, "admin/kick", "complete", kick["sessionid"], {"user": "juliet@localhost"}
    )
    await juliet.wait_body(gw, lambda b: "administrator" in b, "the kick's message")
    out["kick_message"] = [m["body"] for m in juliet.messages if m["from"].split("/")[0] == gw]
    out["status_after_kick"] = status_of(await run(juliet, gw, "status"))
    out["plugin"] = await run(romeo, gw, "admin/plugin")
    out["reload"] = await run(romeo, gw, "admin/reload")

    form = await run(juliet, gw, "unregister")
    out["unregister_form"] = form
    out["unregister_unconfirmed"] = await run(
        juliet, gw, "unregister", "complete", form["sessionid"], {"confirm": "false"}
    )
    form = await run(juliet, gw, "unregister")
    out["unregister"] = await run(
        juliet, gw, "unregister", "complete", form["sessionid"], {"confirm": "true"}
    )
    # slixmpp keeps a removed item, with no subscription left.
    await wait_for(
        lambda: all(i["subscription"] == "none" for i in juliet.gateway_roster(gw).values()),
        "juliet's contacts removed",
    )
    out["list_after_unregister"] = await listed(juliet, gw)
    out["users_after_unregister"] = await run(romeo, gw, "admin/users")

    for client in (romeo, juliet, nurse):
        client.disconnect()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
