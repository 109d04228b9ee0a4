"""A user watching the gateway shut down (SIGTERM), for the end-to-end tests.

Logs in, registers with the gateway (its contacts fill the roster and come
online), sends a message and waits for its echo; writes the plugin's store
(`/store`) and asks for a burst of 50, and once the burst's first message
is in, sends SIGTERM to the gateway's process and records every presence
that arrives from the gateway and its puppets until the gateway itself is
unavailable, and which burst messages came before that. One JSON object on
stdout.

Usage: shutdown.py --server HOST:PORT --gateway JID --pid PID --contacts N
"""

import argparse
import asyncio
import json
import os
import signal
import sys

from client import TIMEOUT, Client, register_form


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--contacts", type=int, required=True)
    args = parser.parse_args()
    gw = args.gateway
    host, port = args.server.rsplit(":", 1)
    client = Client("romeo@localhost/term", "pass")
    presences = []
    arrived = asyncio.Event()

    # How many messages had come when the gateway said it was leaving.
    gone_at = []

    def on_presence(p):
        if p["from"].domain == gw:
            presences.append({"from": str(p["from"]), "type": p["type"], "status": p["status"]})
            if str(p["from"]) == gw and p["type"] == "unavailable" and not gone_at:
                gone_at.append(len(client.messages))
            arrived.set()

    client.add_event_handler("presence", on_presence)
    client.connect(host, int(port))
    await asyncio.wait_for(client.ready.wait(), TIMEOUT)
    iq = client.make_iq_set(ito=gw)
    iq.append(register_form("romeo", args.contacts))
    await iq.send(timeout=TIMEOUT)
    online = lambda: {  # noqa: E731
        p["from"] for p in presences if p["type"] != "unavailable" and "@" in p["from"]
    }
    while len(online()) < args.contacts:
        arrived.clear()
        await asyncio.wait_for(arrived.wait(), TIMEOUT)
    client.send_message(mto=f"c0@{gw}", mbody="before the end", mtype="chat")
    await client.wait_message(f"c0@{gw}", "before the end")

    # A write to the plugin's store and a burst just before the signal: once
    # the burst's first message is here, all of it is queued (and the
    # write committed), and it must all arrive before the gateway leaves.
    client.send_message(mto=f"c0@{gw}", mbody="/store lastword kept", mtype="chat")
    client.send_message(mto=f"c0@{gw}", mbody="/burst 50", mtype="chat")
    await client.wait_message(f"c0@{gw}", "burst 1")

    seen = len(presences)
    first = len(client.messages)
    os.kill(args.pid, signal.SIGTERM)
    while not any(p["from"] == gw and p["type"] == "unavailable" for p in presences[seen:]):
        arrived.clear()
        await asyncio.wait_for(arrived.wait(), TIMEOUT)
    # The burst messages that came before the gateway's unavailable.
    gone = gone_at[0]
    before_gone = [m["body"] for m in client.messages[: gone] if m["body"].startswith("burst ")]
    # Let whatever else was sent arrive.
    await asyncio.sleep(0.5)
    client.disconnect()
    json.dump(
        {
            "after_term": presences[seen:],
            "burst_before_gateway_left": before_gone,
            "errors_after_term": [m for m in client.messages[first:] if m["type"] == "error"],
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
