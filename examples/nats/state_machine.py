"""An example state machine on the bus: it sends one trade plan to `bybit-exec serve --nats`
and prints the trade's fills as the gateway publishes them.

It talks to NATS only (the gateway holding the account's lease may be on any host):

1. it reads the trade's events from the account's event stream, `bybit.exec.<account>.evt.<tag>`,
   from the first one kept, so a restart of this script sees every fill again, once each;
2. it publishes `{"op": "execute_entry", "plan": {...}}` to `bybit.exec.<account>.cmd` with the
   header `Nats-Msg-Id: <tag>:execute_entry` (the stream stores a second publish with the same
   id once: resending after a lost acknowledgement is safe) and `Bybit-Exec-Reply: <inbox>`;
3. it prints the answer (an HTTP status and the control API's body) and each fill;
4. with --close, it then sends `close_all` for the trade and prints the closing fill.

Usage: python state_machine.py --nats nats://127.0.0.1:4222 --account main --tag t1 [--close]
"""

import argparse
import asyncio
import json
import sys
import time

import nats
import nats.js.errors
from nats.js.api import DeliverPolicy


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nats", default="nats://127.0.0.1:4222", help="the NATS server")
    p.add_argument("--account", required=True, help="the account's name on the bus")
    p.add_argument("--tag", required=True, help="the trade's tag (A-Z a-z 0-9 _ -)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--side", default="Buy", choices=["Buy", "Sell"])
    p.add_argument("--margin", default="100", help="margin before leverage, USDT (a string)")
    p.add_argument("--leverage", default="5")
    p.add_argument(
        "--tp",
        action="append",
        default=[],
        metavar="PRICE:SHARE",
        help="a take-profit level, e.g. 80000:1 (repeatable)",
    )
    p.add_argument("--close", action="store_true", help="close the trade after the entry")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for an answer")
    return p.parse_args()


class Trade:
    """The trade's fills, each printed once (by execId) as the event stream delivers them."""

    def __init__(self):
        self.fills = {}
        self.changed = asyncio.Event()

    async def on_event(self, msg):
        event = json.loads(msg.data)
        if event.get("type") == "fill":
            fill = event["data"]
            if fill["exec_id"] not in self.fills:
                self.fills[fill["exec_id"]] = fill
                print(
                    f"fill {fill['order_link_id']}: {fill['side']} {fill['qty']} "
                    f"{fill['symbol']} at {fill['price']} (exec {fill['exec_id']}, "
                    f"stream sequence {msg.metadata.sequence.stream})",
                    flush=True,
                )
                self.changed.set()
        await msg.ack()

    async def wait_for(self, count, timeout):
        deadline = time.monotonic() + timeout
        while len(self.fills) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                return False
        return True


async def command(nc, js, account, tag, op, body, timeout):
    """Publishes one command and waits for its answer on a fresh inbox."""
    inbox = nc.new_inbox()
    replies = await nc.subscribe(inbox)
    ack = await js.publish(
        f"bybit.exec.{account}.cmd",
        json.dumps(body).encode(),
        headers={"Nats-Msg-Id": f"{tag}:{op}", "Bybit-Exec-Reply": inbox},
    )
    dup = ", a duplicate: the stream already had it" if ack.duplicate else ""
    print(f"sent {op} {tag} (command stream sequence {ack.seq}{dup})", flush=True)
    reply = await replies.next_msg(timeout=timeout)
    await replies.unsubscribe()
    answer = json.loads(reply.data)
    print(f"answer to {op} {tag}: {answer['status']} {json.dumps(answer['body'])}", flush=True)
    return answer


async def main():
    args = parse_args()
    nc = await nats.connect(args.nats, name=f"example state machine {args.tag}")
    js = nc.jetstream()
    trade = Trade()
    # Subscribed before the command goes out, from the first event kept: no fill is missed.
    try:
        await js.subscribe(
            f"bybit.exec.{args.account}.evt.{args.tag}",
            cb=trade.on_event,
            deliver_policy=DeliverPolicy.ALL,
            ordered_consumer=True,
        )
    except nats.js.errors.NotFoundError:
        print(
            f"account {args.account} has no event stream on {args.nats}: start "
            f"`bybit-exec serve --nats {args.nats} --account {args.account}` first",
            file=sys.stderr,
        )
        await nc.close()
        return 2
    tps = [{"price": p, "share": s} for p, s in (tp.split(":") for tp in args.tp)]
    plan = {
        "symbol": args.symbol,
        "side": args.side,
        "margin_usdt": args.margin,
        "leverage": args.leverage,
        "tp_levels": tps,
        "client_tag": args.tag,
    }
    answer = await command(
        nc, js, args.account, args.tag, "execute_entry", {"op": "execute_entry", "plan": plan},
        args.timeout,
    )
    ok = answer["status"] == 200
    if ok and not await trade.wait_for(1, args.timeout):
        print("no fill of the entry arrived on the event stream", file=sys.stderr)
        ok = False
    if ok and args.close:
        answer = await command(
            nc, js, args.account, args.tag, "close_all",
            {"op": "close_all", "tag": args.tag}, args.timeout,
        )
        ok = answer["status"] == 200 and await trade.wait_for(2, args.timeout)
        if not ok:
            print("the trade was not closed", file=sys.stderr)
    print(f"{len(trade.fills)} fills of trade {args.tag}", flush=True)
    await nc.drain()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
