"""A victim and an attacker on one gateway running the hostile probe plugin,
for the containment test (tests/e2e/hostile.rs), through Prosody with
slixmpp.

Both users log in and register. The victim then streams messages `echo k`
to contact `a`, 10 ms apart, for as long as the attacks last, while the
attacker sends the probe's attacks one after the other, each with an id of
its own, and waits for its outcome: the probe's answer or an error reply,
or, for an instance the host stopped, both the error reply and the host's
notice. Then the attacker asks `echo back`, timed. One JSON object on
stdout: how many the victim sent and the answers in order, what the
attacker got for each attack, and how long its session took to come back.

With `--and-leave`, only the attacker logs in, sends its (one) attack and
leaves without waiting for it: the plugin is busy when the test goes on.

Usage: hostile.py --server HOST:PORT --gateway JID --attack TEXT [--attack TEXT ...]
                  [--and-leave]
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
    # Each message is tagged with the attack running when it came.
    client.current = None
    plain = client.on_message

    def on_message(msg):
        plain(msg)
        client.messages[-1]["after"] = client.current

    client.del_event_handler("message", plain)
    client.add_event_handler("message", on_message)

    # Error replies to the user's messages count too, with their text.
    def on_error(msg):
        client.messages.append(
            {
                "from": str(msg["from"]),
                "type": "error",
                "id": msg["id"],
                "body": msg["error"]["text"],
                "condition": msg["error"]["condition"],
                "after": client.current,
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


async def stream(victim, gateway, done):
    """Streams `echo k` until `done` is set (the attacks are over); waits
    for the last answer; returns how many were sent."""
    k = 0
    while not done.is_set() or k < 100:
        k += 1
        victim.send_message(mto=f"a@{gateway}", mbody=f"echo {k}", mtype="chat")
        await asyncio.sleep(0.01)
    last = str(k)
    await victim.wait_body(f"a@{gateway}", lambda b: b == last, f"answer {last}")
    return k


def outcome_of(messages, gateway, mid, stopped):
    """What arrived for the attack sent with id `mid`: the probe's answer,
    the error reply, the gateway's notice. A stopped instance gives both
    an error and a notice; the others one answer or one error."""
    answer = next(
        (m for m in messages
         if m["type"] == "chat" and m["from"].split("/")[0] == f"a@{gateway}"
         and not m["body"].startswith("flood ") and m.get("after") == mid),
        None,
    )
    error = next((m for m in messages if m["type"] == "error" and m["id"] == mid), None)
    notice = next(
        (m for m in messages if m["from"] == gateway and m.get("after") == mid and m["body"]),
        None,
    )
    complete = (error is not None and notice is not None) if stopped else (answer or error)
    return complete, {"answer": answer, "error": error, "notice": notice}


async def attack(attacker, gateway, attacks, done):
    outcomes = []
    for n, text in enumerate(attacks):
        mid = f"atk{n}"
        attacker.current = mid
        stopped = text.split()[0] in ("block", "spin", "hog", "crash")
        msg = attacker.make_message(mto=f"a@{gateway}", mbody=text, mtype="chat")
        msg["id"] = mid
        msg.send()
        deadline = time.monotonic() + TIMEOUT
        while True:
            complete, outcome = outcome_of(attacker.messages, gateway, mid, stopped)
            if complete:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no outcome of {text!r}: {attacker.messages[-5:]}")
            attacker.message_arrived.clear()
            try:
                await asyncio.wait_for(attacker.message_arrived.wait(), 1)
            except asyncio.TimeoutError:
                pass
        outcomes.append({"attack": text, **outcome})
    attacker.current = "back"
    asked = time.monotonic()
    attacker.send_message(mto=f"a@{gateway}", mbody="echo back", mtype="chat")
    await wait_until(
        attacker.messages,
        attacker.message_arrived,
        lambda m: m["from"].split("/")[0] == f"a@{gateway}" and m["body"] == "back",
        "the attacker's session back",
    )
    back = time.monotonic() - asked
    done.set()
    return outcomes, back


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--attack", action="append", required=True)
    parser.add_argument("--and-leave", action="store_true", help="send the one attack, and leave at once")
    args = parser.parse_args()
    if args.and_leave:
        attacker = await logged_in(args.server, args.gateway, "romeo")
        attacker.send_message(mto=f"a@{args.gateway}", mbody=args.attack[0], mtype="chat")
        await asyncio.sleep(2)  # through the server and into the plugin before we go
        attacker.disconnect()
        json.dump({"sent": args.attack[0]}, sys.stdout)
        return
    victim, attacker = await asyncio.gather(
        logged_in(args.server, args.gateway, "juliet"),
        logged_in(args.server, args.gateway, "romeo"),
    )
    done = asyncio.Event()
    sent, (outcomes, back_seconds) = await asyncio.gather(
        stream(victim, args.gateway, done),
        attack(attacker, args.gateway, args.attack, done),
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
            "victim_sent": sent,
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
