#!/usr/bin/env python3
"""Conditional orders as Bybit's own client sees them on the private `order` stream.

Bybit's order-status enum (docs v5/enum, orderStatus) says a conditional order is created
`Untriggered`, passes through `Triggered` ("instantaneous state for conditional orders from
Untriggered to New") and then goes on as `New` / `Filled`; one cancelled before it triggers
ends `Deactivated`. A DCA state machine built on the emulator must meet exactly these, so
this script drives them through pybit (HTTP to place and cancel, the private WebSocket to
watch) against a running emulator.

Inputs and output as conformance.py (whose helpers it reuses): BYBIT_EMULATOR_URL,
BYBIT_EMULATOR_API_KEY, BYBIT_EMULATOR_API_SECRET; one `ok`/`FAIL` line per check, then
`N passed, M failed`; exit status 0 only when nothing failed. It may run on an emulator that
conformance.py has already used: it needs only some free margin and moves ETHUSDT's price
with the control API (`POST /emulator/price`).
"""

import sys
from decimal import ROUND_DOWN, Decimal

from conformance import (
    run_checks,
    BASE,
    CATEGORY,
    ETH,
    KEY,
    SECRET,
    Inbox,
    connect,
    control,
    link_id,
    need,
    ok_result,
    public_get,
    session,
)

TICK = Decimal("0.01")  # ETHUSDT's tickSize


def last_price():
    reply = public_get(f"/v5/market/tickers?category={CATEGORY}&symbol={ETH}")
    return Decimal(reply["result"]["list"][0]["lastPrice"])


def on_tick(value):
    return value.quantize(TICK, rounding=ROUND_DOWN)


def pushes(inbox, link):
    """Every `order` push for `link` seen so far, in arrival order."""
    return [o for m in inbox.all() for o in m["data"] if o.get("orderLinkId") == link]


def wait_status(inbox, link, status):
    inbox.wait_for(
        f"order {link} {status}",
        lambda m: any(o.get("orderLinkId") == link and o.get("orderStatus") == status for o in m["data"]),
    )
    return [o["orderStatus"] for o in pushes(inbox, link)]


def check_subscribe(ctx):
    raw = Inbox("private raw frames")
    ws = connect("private", raw, api_key=KEY, api_secret=SECRET, private_auth_expire=10)
    ctx["private_ws"] = ws
    reply = raw.wait_for("the auth reply", lambda m: m.get("op") == "auth")
    assert reply.get("success") is True, f"auth reply {reply}"
    orders = Inbox("order stream")
    ws.order_stream(callback=orders.put)
    raw.wait_for("the order subscribe ack", lambda m: m.get("op") == "subscribe" and m.get("success") is True)
    ctx["orders"] = orders
    assert ws.errors == [], f"pybit errors: {ws.errors}"


def check_market_conditional_fills(ctx):
    orders = need(ctx, "orders", "the order stream")
    http = session()
    price = last_price()
    trigger = on_tick(price * Decimal("1.01"))
    link = link_id("cond-mkt")
    ok_result(
        http.place_order(
            category=CATEGORY,
            symbol=ETH,
            side="Buy",
            orderType="Market",
            qty="0.1",
            triggerPrice=str(trigger),
            triggerDirection=1,
            orderLinkId=link,
        )
    )
    assert wait_status(orders, link, "Untriggered") == ["Untriggered"]
    first = pushes(orders, link)[0]
    assert first["createType"] == "CreateByStopOrder", f"createType {first['createType']!r}"
    assert first["stopOrderType"] == "Stop", f"stopOrderType {first['stopOrderType']!r}"
    assert Decimal(first["triggerPrice"]) == trigger, (first["triggerPrice"], trigger)
    control("price", {"symbol": ETH, "price": str(trigger + TICK)})
    seen = wait_status(orders, link, "Filled")
    assert seen == ["Untriggered", "Triggered", "Filled"], f"statuses {seen}"


def check_limit_conditional_goes_new(ctx):
    orders = need(ctx, "orders", "the order stream")
    http = session()
    price = last_price()
    trigger = on_tick(price * Decimal("0.99"))
    limit = on_tick(price * Decimal("0.95"))
    link = link_id("cond-lmt")
    ok_result(
        http.place_order(
            category=CATEGORY,
            symbol=ETH,
            side="Buy",
            orderType="Limit",
            qty="0.1",
            price=str(limit),
            triggerPrice=str(trigger),
            triggerDirection=2,
            orderLinkId=link,
        )
    )
    wait_status(orders, link, "Untriggered")
    control("price", {"symbol": ETH, "price": str(trigger - TICK)})
    seen = wait_status(orders, link, "New")
    assert seen == ["Untriggered", "Triggered", "New"], f"statuses {seen}"
    ok_result(http.cancel_order(category=CATEGORY, symbol=ETH, orderLinkId=link))
    seen = wait_status(orders, link, "Cancelled")
    assert seen[-1] == "Cancelled", f"statuses {seen}"


def check_cancelled_conditional_deactivated(ctx):
    orders = need(ctx, "orders", "the order stream")
    http = session()
    trigger = on_tick(last_price() * Decimal("1.05"))
    link = link_id("cond-cxl")
    ok_result(
        http.place_order(
            category=CATEGORY,
            symbol=ETH,
            side="Buy",
            orderType="Market",
            qty="0.1",
            triggerPrice=str(trigger),
            triggerDirection=1,
            orderLinkId=link,
        )
    )
    wait_status(orders, link, "Untriggered")
    ok_result(http.cancel_order(category=CATEGORY, symbol=ETH, orderLinkId=link))
    seen = wait_status(orders, link, "Deactivated")
    assert seen == ["Untriggered", "Deactivated"], f"statuses {seen}"
    last = pushes(orders, link)[-1]
    assert last["cancelType"] == "CancelByUser", f"cancelType {last['cancelType']!r}"
    # REST agrees: by link id it is Deactivated; it is no longer an open order.
    found = ok_result(http.get_open_orders(category=CATEGORY, orderLinkId=link))["list"]
    assert [o["orderStatus"] for o in found] == ["Deactivated"], found
    still_open = ok_result(http.get_open_orders(category=CATEGORY, symbol=ETH, limit=50))["list"]
    assert all(o["orderLinkId"] != link for o in still_open), "a deactivated order is listed as open"


CHECKS = [
    ("ws private: order stream subscribed", check_subscribe),
    ("conditional market: Untriggered -> Triggered -> Filled", check_market_conditional_fills),
    ("conditional limit: Untriggered -> Triggered -> New", check_limit_conditional_goes_new),
    ("conditional cancelled before trigger: Deactivated", check_cancelled_conditional_deactivated),
]


def main():
    return run_checks(f"conditional orders against {BASE}", CHECKS, ["private_ws"])


if __name__ == "__main__":
    sys.exit(main())
