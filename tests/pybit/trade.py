#!/usr/bin/env python3
"""Order entry over the emulator's `/v5/trade` stream, as Bybit's own client drives it.

pybit's `WebSocketTrading` (docs v5/websocket/trade/guideline) authenticates, sends
`order.create` / `order.amend` / `order.cancel` and their batch forms with a `reqId` and a
`header` of its own making, and matches each reply to its callback by `reqId`; a reply with a
non-zero `retCode` goes to the error callback. This script places, amends and cancels through
it, and checks each step where the page says to confirm it: the private `order` stream, and
REST.

Inputs and output as conformance.py (whose helpers it reuses): BYBIT_EMULATOR_URL,
BYBIT_EMULATOR_API_KEY, BYBIT_EMULATOR_API_SECRET; one `ok`/`FAIL` line per check, then
`N passed, M failed`; exit status 0 only when nothing failed. It may run on an emulator that
the other scripts have already used: it needs only some free margin.
"""

import json
import sys
import threading
from decimal import ROUND_DOWN, Decimal

import pybit._websocket_trading as wst
import pybit.unified_trading as ut

from conformance import (
    run_checks,
    BASE,
    CATEGORY,
    ETH,
    KEY,
    SECRET,
    Inbox,
    connect,
    link_id,
    need,
    ok_result,
    public_get,
    session,
    wait_until,
)

TICK = Decimal("0.01")  # ETHUSDT's tickSize


class RecordingTrading(ut.WebSocketTrading):
    """pybit's WebSocketTrading, unchanged in what it does, plus a record of every raw frame.

    One harness fix, the one conformance.py makes to subscribe(): pybit sends an order
    operation *before* it registers the callback under its reqId, so over loopback the reply
    can reach the reader thread first and be dropped as "unregistered". A lock makes the reader
    wait until the registration is done.
    """

    def __init__(self, raw, **kwargs):
        self.raw = raw
        self._registering = threading.Lock()
        super().__init__(**kwargs)

    def _on_message(self, message):
        self.raw.put(json.loads(message))
        with self._registering:
            super()._on_message(message)

    def _send_order_operation(self, operation, callback, request, error_callback=None):
        with self._registering:
            super()._send_order_operation(operation, callback, request, error_callback)


def connect_trade(raw):
    host = BASE.split("://", 1)[1]
    # pybit formats TRADE_WSS with SUBDOMAIN/DOMAIN/TLD when it connects; a local URL without
    # those placeholders is left as it is.
    wst.TRADE_WSS = f"ws://{host}/v5/trade"
    return RecordingTrading(
        raw,
        testnet=False,
        api_key=KEY,
        api_secret=SECRET,
        private_auth_expire=10,
        recv_window=5000,
        # A short heartbeat so that pybit's {"op":"ping"} happens during the run.
        ping_interval=2,
        ping_timeout=1,
        retries=3,
        restart_on_error=False,
    )


def last_price():
    reply = public_get(f"/v5/market/tickers?category={CATEGORY}&symbol={ETH}")
    return Decimal(reply["result"]["list"][0]["lastPrice"])


def below_market():
    return (last_price() * Decimal("0.95")).quantize(TICK, rounding=ROUND_DOWN)


def order_pushes(orders, link):
    return [o for m in orders.all() for o in m["data"] if o.get("orderLinkId") == link]


def wait_push(orders, link, what):
    """The latest `order` push of `link` that satisfies `what`."""
    orders.wait_for(
        f"an order push of {link}",
        lambda m: any(o.get("orderLinkId") == link and what(o) for o in m["data"]),
    )
    return [o for o in order_pushes(orders, link) if what(o)][-1]


def call(ws, method, **request):
    """Sends one order operation through pybit; returns (success reply, error reply), one of
    them None, as pybit's callbacks received them."""
    replies = Inbox(f"{method} reply")
    getattr(ws, method)(
        callback=lambda m: replies.put(("ok", m)),
        error_callback=lambda m: replies.put(("error", m)),
        **request,
    )
    kind, message = replies.wait_for(f"the {method} reply", lambda m: True)
    return (message, None) if kind == "ok" else (None, message)


def assert_trade_reply(reply, op):
    assert reply["retCode"] == 0 and reply["retMsg"] == "OK", f"reply {reply}"
    assert reply["op"] == op, f"op {reply['op']!r}"
    assert isinstance(reply.get("reqId"), str) and reply["reqId"], f"no reqId echoed: {reply}"
    assert reply.get("connId"), f"no connId: {reply}"
    header = reply["header"]
    for name in ["X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp", "Timenow"]:
        assert isinstance(header.get(name), str) and header[name].isdigit(), f"header {name}: {header}"
    assert header.get("Traceid"), f"no Traceid: {header}"


def check_connect(ctx):
    raw = Inbox("private raw frames")
    private = connect("private", raw, api_key=KEY, api_secret=SECRET, private_auth_expire=10)
    ctx["private_ws"] = private
    orders = Inbox("order stream")
    private.order_stream(callback=orders.put)
    raw.wait_for("the order subscribe ack", lambda m: m.get("op") == "subscribe" and m.get("success") is True)
    ctx["orders"] = orders

    trade_raw = Inbox("trade raw frames")
    ws = connect_trade(trade_raw)
    ctx["trade_ws"] = ws
    ctx["trade_raw"] = trade_raw
    reply = trade_raw.wait_for("the auth reply", lambda m: m.get("op") == "auth")
    assert reply.get("retCode") == 0 and reply.get("connId"), f"auth reply {reply}"
    wait_until("pybit to take the auth", lambda: ws.auth)


def check_place(ctx):
    ws = need(ctx, "trade_ws", "the trade connection")
    orders = need(ctx, "orders", "the order stream")
    link = link_id("wst")
    price = below_market()
    reply, error = call(
        ws, "place_order", category=CATEGORY, symbol=ETH, side="Buy", orderType="Limit",
        qty="0.1", price=str(price), timeInForce="GTC", orderLinkId=link,
    )
    assert error is None, f"error reply {error}"
    assert_trade_reply(reply, "order.create")
    assert reply["data"]["orderLinkId"] == link and reply["data"]["orderId"], f"data {reply['data']}"
    push = wait_push(orders, link, lambda o: o["orderStatus"] == "New")
    assert push["orderId"] == reply["data"]["orderId"], f"push {push}"
    found = ok_result(session().get_open_orders(category=CATEGORY, orderLinkId=link))["list"]
    assert [(o["orderStatus"], Decimal(o["price"])) for o in found] == [("New", price)], found
    ctx["link"], ctx["price"] = link, price


def check_amend(ctx):
    ws = need(ctx, "trade_ws", "the trade connection")
    orders = need(ctx, "orders", "the order stream")
    link = need(ctx, "link", "a placed order")
    price = need(ctx, "price", "a placed order") - TICK * 10
    reply, error = call(ws, "amend_order", category=CATEGORY, symbol=ETH, orderLinkId=link, price=str(price))
    assert error is None, f"error reply {error}"
    assert_trade_reply(reply, "order.amend")
    wait_push(orders, link, lambda o: Decimal(o["price"]) == price)


def check_cancel(ctx):
    ws = need(ctx, "trade_ws", "the trade connection")
    orders = need(ctx, "orders", "the order stream")
    link = need(ctx, "link", "a placed order")
    reply, error = call(ws, "cancel_order", category=CATEGORY, symbol=ETH, orderLinkId=link)
    assert error is None, f"error reply {error}"
    assert_trade_reply(reply, "order.cancel")
    wait_push(orders, link, lambda o: o["orderStatus"] == "Cancelled")
    found = ok_result(session().get_open_orders(category=CATEGORY, orderLinkId=link))["list"]
    assert [o["orderStatus"] for o in found] == ["Cancelled"], found
    # Cancelling again is REST's refusal, delivered to pybit's error callback.
    reply, error = call(ws, "cancel_order", category=CATEGORY, symbol=ETH, orderLinkId=link)
    assert reply is None, f"a second cancel succeeded: {reply}"
    assert error["retCode"] == 110001, f"error reply {error}"


def check_batches(ctx):
    ws = need(ctx, "trade_ws", "the trade connection")
    orders = need(ctx, "orders", "the order stream")
    price = below_market()
    links = [link_id("wsb"), link_id("wsb")]
    request = [
        {"symbol": ETH, "side": "Buy", "orderType": "Limit", "qty": "0.1", "price": str(price), "orderLinkId": link}
        for link in links
    ]
    reply, error = call(ws, "place_batch_order", category=CATEGORY, request=request)
    assert error is None, f"error reply {error}"
    assert_trade_reply(reply, "order.create-batch")
    assert [i["orderLinkId"] for i in reply["data"]["list"]] == links, reply["data"]
    assert [i["code"] for i in reply["retExtInfo"]["list"]] == [0, 0], reply["retExtInfo"]
    for link in links:
        wait_push(orders, link, lambda o: o["orderStatus"] == "New")
    cancels = [{"symbol": ETH, "orderLinkId": link} for link in links + ["pybit-missing"]]
    reply, error = call(ws, "cancel_batch_order", category=CATEGORY, request=cancels)
    assert error is None, f"error reply {error}"
    assert_trade_reply(reply, "order.cancel-batch")
    codes = [i["code"] for i in reply["retExtInfo"]["list"]]
    assert codes == [0, 0, 110001], f"codes {codes}"
    for link in links:
        wait_push(orders, link, lambda o: o["orderStatus"] == "Cancelled")


def check_heartbeat(ctx):
    raw = need(ctx, "trade_raw", "the trade connection")
    pong = raw.wait_for("the trade stream's pong to pybit's ping", lambda m: m.get("op") == "pong")
    assert pong.get("retCode") == 0, f"pong {pong}"
    assert isinstance(pong.get("data"), list) and pong["data"][0].isdigit(), f"pong {pong}"


CHECKS = [
    ("ws trade: pybit connects and authenticates", check_connect),
    ("ws trade: place_order acks, pushes New, REST lists it", check_place),
    ("ws trade: amend_order moves the price", check_amend),
    ("ws trade: cancel_order cancels; again is 110001 to the error callback", check_cancel),
    ("ws trade: batch place and cancel answer per item", check_batches),
    ("ws trade: pybit's heartbeat gets the trade pong", check_heartbeat),
]


def main():
    return run_checks(f"WebSocket order entry against {BASE}", CHECKS, ["trade_ws", "private_ws"])


if __name__ == "__main__":
    sys.exit(main())
