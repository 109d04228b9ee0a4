"""A victim and an attacker on one gateway running the hostile probe plugin,
for the containment test (tests/e2e/hostile.rs), through Prosody with
slixmpp.

Both users log in and register. The victim then streams STREAM messages
`echo k` to contact `a`, 10 ms apart, while the attacker sends the probe's
attacks one after the other (each waits for its answer, or for the host's
word that the plugin was stopped). Then the attacker asks `echo back`,
timed. One JSON object on stdout: the victim's answers in order, what the
attacker got for each attack, and how long the attacker's session took to
come back.

Usage: hostile.py --server HOST:PORT --gateway JID --stream N
                  --attack TEXT [--attack TEXT ...]
"""

import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import TIMEOUT, Client, wait_until  # noqa: E402
from slixmpp.xmlstream import ET  # noqa: E402


def probe_form(username):
    query = ET.Element("{jabber:iq:register}query")
    form = ET.SubElement(query, "{jabber:x:data}x", {"type": "submit"})
    for var, value in [("FORM_TYPE", "jabber:iq:register"), ("username", username)]:
        field = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
        ET.SubElement(field, "{jabber:x:data}value").text = value
    return query


async def logged_in(server, gateway, local):
    host, port = server.rsplit(":", 1)
    client = Client(f"{local}@localhost/e2e", "pass")
    # Error replies to the user's messages count too, with their text.
    def on_error(msg):
        client.messages.append(
            {
                "from": str(msg["from"]),
                "type": "error",
                "id": msg["id"],
                "body": msg["error"]["text"],
                "condition": msg["error"]["condition"],
            }
        )
        client.message_arrived.set()

    client.add_event_handler("message_error", on_error)
    client.connect(host, int(port))
    await asyncio.wait_for(client.ready.wait(), TIMEOUT)
    iq = client.make_iq_set(ito=gateway)
    iq.append(probe_form(local))
    await iq.send(timeout=TIMEOUT)
    # The gateway's status presence says the session logged in.
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if client.client_roster.presence(gateway):
            break
        await asyncio.sleep(0.05)
    return client


async def stream(victim, gateway, count):
    for k in range(1, count + 1):
        victim.send_message(mto=f"a@{gateway}", mbody=f"echo {k}", mtype="chat")
        await asyncio.sleep(0.01)
    last = str(count)
    await victim.wait_body(f"a@{gateway}", lambda b: b == last, f"answer {last}")
    return [
        m["body"]
        for m in victim.messages
        if m["from"].split("/")[0] == f"a@{gateway}" and m["type"] == "chat"
    ]


async def attack(attacker, gateway, attacks):
    outcomes = []
    for text in attacks:
        since = len(attacker.messages)
        attacker.send_message(mto=f"a@{gateway}", mbody=text, mtype="chat")
        # The probe's answer, an error for the message, or the gateway's
        # word that the plugin was stopped.
        got = await wait_until(
            attacker.messages,
            attacker.message_arrived,
            lambda m: m["type"] == "error"
            or (m["from"].split("/")[0] == f"a@{gateway}" and not m["body"].startswith("flood "))
            or m["from"] == gateway,
            f"an outcome of {text!r}",
            since,
        )
        outcomes.append(
            {"attack": text, "type": got["type"], "from": got["from"], "body": got["body"], "id": got["id"]}
        )
    since = len(attacker.messages)
    asked = time.monotonic()
    attacker.send_message(mto=f"a@{gateway}", mbody="echo back", mtype="chat")
    await wait_until(
        attacker.messages,
        attacker.message_arrived,
        lambda m: m["from"].split("/")[0] == f"a@{gateway}" and m["body"] == "back",
        "the attacker's session back",
        since,
    )
    return outcomes, time.monotonic() - asked


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--stream", type=int, required=True)
    parser.add_argument("--attack", action="append", required=True)
    args = parser.parse_args()
    victim, attacker = await asyncio.gather(
        logged_in(args.server, args.gateway, "juliet"),
        logged_in(args.server, args.gateway, "romeo"),
    )
    answers, (outcomes, back_seconds) = await asyncio.gather(
        stream(victim, args.gateway, args.stream),
        attack(attacker, args.gateway, args.attack),
    )
    # Late stanzas (duplicates, another user's) have time to arrive.
    await asyncio.sleep(0.5)
    answers = [
        m["body"]
        for m in victim.messages
        if m["from"].split("/")[0] == f"a@{args.gateway}" and m["type"] == "chat"
    ]
    errors = [m for m in victim.messages if m["type"] == "error"]
    victim.disconnect()
    attacker.disconnect()
    json.dump(
        {
            "victim_answers": answers,
            "victim_errors": errors,
            "attacks": outcomes,
            "back_seconds": back_seconds,
            "attacker_messages": [
                {k: m[k] for k in ("from", "type", "id", "body")} for m in attacker.messages
            ],
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
