#!/usr/bin/env python3
"""Conformance of the Bybit V5 emulator, checked with the official Python SDK (pybit).

pybit was written by Bybit, not here: if it can trade against the emulator through its normal
code paths (signing, envelopes, error codes, WebSocket auth/subscribe/ping handling, order-book
maintenance), the emulator speaks Bybit's protocol as Bybit's own client expects it.

Inputs (environment): BYBIT_EMULATOR_URL (http://127.0.0.1:<port>), BYBIT_EMULATOR_API_KEY,
BYBIT_EMULATOR_API_SECRET. The emulator must have been started with that key pair, 10000 USDT
and the default instruments and prices (run.sh does all that).

Output: one line per check, `ok - name` or `FAIL - name: reason`, then `N passed, M failed`.
Exit status 0 only when nothing failed. Every wait has a deadline; the secret is never printed.
"""

import json
import logging
import os
import queue
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from importlib.metadata import version

import pybit.unified_trading as ut
from pybit.exceptions import FailedRequestError, InvalidRequestError

BASE = os.environ.get("BYBIT_EMULATOR_URL", "").rstrip("/")
KEY = os.environ.get("BYBIT_EMULATOR_API_KEY", "")
SECRET = os.environ.get("BYBIT_EMULATOR_API_SECRET", "")
VERBOSE = os.environ.get("PYBIT_CONFORMANCE_VERBOSE") == "1"

CATEGORY = "linear"
ETH = "ETHUSDT"
BTC = "BTCUSDT"
START_USDT = Decimal("10000")
BOOK_DEPTH = 50

# How long any one wait may take. Loopback and an in-memory engine answer in milliseconds;
# these are generous so that a loaded CI machine does not flake.
WAIT_S = 10.0
# The most one check may take before the watchdog gives up on the whole run.
CHECK_LIMIT_S = 90.0


# ------------------------------------------------------------------------------------ helpers


def D(value):
    """A decimal from Bybit's string numbers; fails loudly on anything else."""
    assert isinstance(value, (str, int)) and not isinstance(value, bool), (
        f"expected a number as text, got {value!r}"
    )
    assert value != "", "expected a number, got an empty string"
    return Decimal(str(value))


def link_id(tag):
    return f"pybit-{tag}-{uuid.uuid4().hex[:12]}"


def wait_until(what, probe, timeout=WAIT_S, interval=0.05):
    """Calls probe() until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except AssertionError as e:  # a probe may assert on partial state
            last_error = e
        if time.monotonic() >= deadline:
            extra = f" (last: {last_error})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


class Inbox:
    """Messages delivered by a callback, kept in order; waits poll the queue with a deadline."""

    def __init__(self, name):
        self.name = name
        self.queue = queue.Queue()
        self.seen = []

    def put(self, message):
        self.queue.put(message)

    def _drain(self, timeout):
        try:
            self.seen.append(self.queue.get(timeout=timeout))
        except queue.Empty:
            return
        while True:
            try:
                self.seen.append(self.queue.get_nowait())
            except queue.Empty:
                return

    def wait_for(self, what, match, timeout=WAIT_S):
        """The first message (already seen or still to come) for which match() is truthy."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            while checked < len(self.seen):
                message = self.seen[checked]
                checked += 1
                if match(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting on {self.name} for {what}; "
                    f"{len(self.seen)} message(s) seen, last: {short(self.seen[-1]) if self.seen else 'none'}"
                )
            self._drain(min(remaining, 0.2))

    def all(self):
        self._drain(0)
        return list(self.seen)


def short(value, limit=400):
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "…"


def control(path, body):
    """The emulator's control API: plain JSON over HTTP, no signature."""
    request = urllib.request.Request(
        f"{BASE}/emulator/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as reply:
        answer = json.loads(reply.read())
    assert answer.get("ok") is True, f"control {path} answered {answer}"
    return answer


def public_get(path):
    with urllib.request.urlopen(f"{BASE}{path}", timeout=WAIT_S) as reply:
        return json.loads(reply.read())


def session(secret=None, key=None):
    """A pybit HTTP session pointed at the emulator. Retries kept small: pybit retries 10002
    and 10006 itself, and a conformance run should see such codes rather than wait them out."""
    http = ut.HTTP(
        testnet=False,
        api_key=KEY if key is None else key,
        api_secret=SECRET if secret is None else secret,
        max_retries=2,
        retry_delay=0,
        timeout=10,
    )
    # pybit builds https://api.bybit.com in __post_init__ and prefixes every path with it.
    http.endpoint = BASE
    return http


def expect_error(code, call):
    """Runs call() and asserts pybit raised InvalidRequestError with status_code == code."""
    try:
        reply = call()
    except InvalidRequestError as e:
        assert e.status_code == code, f"expected retCode {code}, got {e.status_code}: {e.message}"
        return e
    raise AssertionError(f"expected retCode {code}, but the call succeeded: {short(reply)}")


def ok_result(reply):
    assert reply.get("retCode") == 0, f"retCode {reply.get('retCode')}: {reply.get('retMsg')}"
    assert reply.get("retMsg") == "OK", f"retMsg {reply.get('retMsg')!r}"
    assert isinstance(reply.get("time"), int), f"envelope time {reply.get('time')!r} is not an int"
    assert "retExtInfo" in reply, "envelope has no retExtInfo"
    return reply["result"]


# ------------------------------------------------------------------------------------ runner


class Runner:
    def __init__(self, checks):
        self.checks = checks
        self.passed = 0
        self.failed = 0
        self.ctx = {}
        self.lock = threading.Lock()

    def run(self):
        for index, (name, fn) in enumerate(self.checks):
            # A check stuck inside pybit (a connect or subscribe loop has no deadline of its
            # own) cannot be interrupted from here: the watchdog reports it and ends the run.
            watchdog = threading.Timer(CHECK_LIMIT_S, self.hung, args=(index,))
            watchdog.daemon = True
            watchdog.start()
            try:
                self.check(name, fn)
            finally:
                watchdog.cancel()

    def hung(self, index):
        with self.lock:
            name = self.checks[index][0]
            print(f"FAIL - {name}: still running after {CHECK_LIMIT_S:.0f}s (hung); run abandoned", flush=True)
            for later, _ in self.checks[index + 1 :]:
                print(f"FAIL - {later}: not run (an earlier check hung)", flush=True)
            failed = self.failed + len(self.checks) - index
            print(f"{self.passed} passed, {failed} failed", flush=True)
            os._exit(1)

    def check(self, name, fn):
        try:
            fn(self.ctx)
        except Exception as e:  # every failure is reported, none stops the run
            self.failed += 1  # under the GIL; the watchdog reads it only to report
            if isinstance(e, AssertionError):
                reason = str(e) or "assertion failed"
            else:
                reason = f"{type(e).__name__}: {e}"
            reason = " ".join(reason.split())
            if SECRET:
                reason = reason.replace(SECRET, "***")
            with self.lock:
                print(f"FAIL - {name}: {reason}", flush=True)
            if VERBOSE:
                trace = traceback.format_exc()
                print(trace.replace(SECRET, "***") if SECRET else trace, file=sys.stderr)
        else:
            with self.lock:
                self.passed += 1
                print(f"ok - {name}", flush=True)


def need(ctx, key, what):
    assert key in ctx, f"needs {what}, which an earlier check did not produce"
    return ctx[key]


# ------------------------------------------------------------------------------------ HTTP checks


def check_server_time(ctx):
    http = session()
    before = time.time()
    result = ok_result(http.get_server_time())
    after = time.time()
    seconds = int(result["timeSecond"])
    nanos = int(result["timeNano"])
    assert before - 5 <= seconds <= after + 5, f"timeSecond {seconds} is not within 5 s of {before:.0f}"
    assert nanos // 10**9 == seconds, f"timeNano {nanos} does not match timeSecond {seconds}"
    ctx["http"] = http


def check_instruments_info(ctx):
    http = session()
    result = ok_result(http.get_instruments_info(category=CATEGORY, symbol=BTC))
    assert result["category"] == CATEGORY, result["category"]
    assert [i["symbol"] for i in result["list"]] == [BTC], [i["symbol"] for i in result["list"]]
    btc = result["list"][0]
    assert btc["priceFilter"]["tickSize"] == "0.10", btc["priceFilter"]
    assert btc["lotSizeFilter"]["qtyStep"] == "0.001", btc["lotSizeFilter"]
    assert btc["status"] == "Trading" and btc["settleCoin"] == "USDT", (btc["status"], btc["settleCoin"])
    assert btc["contractType"] == "LinearPerpetual", btc["contractType"]
    everything = ok_result(http.get_instruments_info(category=CATEGORY))
    symbols = {i["symbol"] for i in everything["list"]}
    assert {BTC, ETH} <= symbols, f"instrument list lacks BTCUSDT/ETHUSDT: {sorted(symbols)}"
    assert "nextPageCursor" in everything, "no nextPageCursor"
    eth = next(i for i in everything["list"] if i["symbol"] == ETH)
    ctx["eth_tick"] = D(eth["priceFilter"]["tickSize"])
    ctx["eth_qty_step"] = D(eth["lotSizeFilter"]["qtyStep"])


def check_wallet_balance(ctx):
    result = ok_result(session().get_wallet_balance(accountType="UNIFIED"))
    accounts = result["list"]
    assert len(accounts) == 1 and accounts[0]["accountType"] == "UNIFIED", short(accounts)
    account = accounts[0]
    coins = {c["coin"]: c for c in account["coin"]}
    assert "USDT" in coins, f"no USDT coin: {sorted(coins)}"
    usdt = coins["USDT"]
    assert D(usdt["walletBalance"]) == START_USDT, f"walletBalance {usdt['walletBalance']}"
    assert D(usdt["equity"]) == START_USDT, f"equity {usdt['equity']}"
    assert D(account["totalEquity"]) == START_USDT, f"totalEquity {account['totalEquity']}"
    assert D(account["totalAvailableBalance"]) == START_USDT, (
        f"totalAvailableBalance {account['totalAvailableBalance']}"
    )


def check_set_leverage(ctx):
    http = session()
    result = ok_result(http.set_leverage(category=CATEGORY, symbol=ETH, buyLeverage="5", sellLeverage="5"))
    assert result == {}, f"set-leverage result {result}"
    error = expect_error(
        110043,
        lambda: http.set_leverage(category=CATEGORY, symbol=ETH, buyLeverage="5", sellLeverage="5"),
    )
    assert "leverage not modified" in error.message.lower(), f"110043 retMsg {error.message!r}"
    position = ok_result(http.get_positions(category=CATEGORY, symbol=ETH))["list"][0]
    assert D(position["leverage"]) == 5, f"position leverage {position['leverage']}"


def check_market_order(ctx):
    http = session()
    link = link_id("mkt")
    result = ok_result(
        http.place_order(category=CATEGORY, symbol=ETH, side="Buy", orderType="Market", qty="0.5", orderLinkId=link)
    )
    assert result["orderId"], f"no orderId: {result}"
    assert result["orderLinkId"] == link, f"orderLinkId {result['orderLinkId']!r}"
    ctx["market"] = {"link": link, "id": result["orderId"]}
    # Bybit's realtime endpoint finds a closed order when asked by orderLinkId (openOnly is
    # ignored for id lookups).
    order = wait_until(
        "the market order to be Filled",
        lambda: next(
            (
                o
                for o in ok_result(http.get_open_orders(category=CATEGORY, symbol=ETH, orderLinkId=link))["list"]
                if o["orderStatus"] == "Filled"
            ),
            None,
        ),
    )
    assert order["orderId"] == result["orderId"], (order["orderId"], result["orderId"])
    assert D(order["cumExecQty"]) == Decimal("0.5"), f"cumExecQty {order['cumExecQty']}"
    assert D(order["leavesQty"]) == 0, f"leavesQty {order['leavesQty']}"
    assert order["orderType"] == "Market" and order["side"] == "Buy", (order["orderType"], order["side"])
    assert D(order["avgPrice"]) > 0, f"avgPrice {order['avgPrice']}"


def check_positions(ctx):
    need(ctx, "market", "the market order")
    http = session()
    position = wait_until(
        "the ETHUSDT position to show the fill",
        lambda: next(
            (
                p
                for p in ok_result(http.get_positions(category=CATEGORY, symbol=ETH))["list"]
                if p["size"] == "0.5"
            ),
            None,
        ),
    )
    assert position["side"] == "Buy", f"side {position['side']!r}"
    assert position["symbol"] == ETH and position["positionIdx"] == 0, (position["symbol"], position["positionIdx"])
    assert D(position["avgPrice"]) > 0, f"avgPrice {position['avgPrice']}"
    assert D(position["positionValue"]) == D(position["avgPrice"]) * Decimal("0.5"), (
        f"positionValue {position['positionValue']} != avgPrice {position['avgPrice']} x 0.5"
    )
    assert D(position["leverage"]) == 5, f"leverage {position['leverage']}"
    # With only settleCoin, Bybit lists the non-zero positions.
    listed = ok_result(http.get_positions(category=CATEGORY, settleCoin="USDT"))["list"]
    assert [p["symbol"] for p in listed] == [ETH], f"open positions {[p['symbol'] for p in listed]}"
    ctx["entry"] = D(position["avgPrice"])


def check_reduce_only_limit(ctx):
    need(ctx, "market", "the position from the market order")
    http = session()
    tick = ctx.get("eth_tick", Decimal("0.01"))
    last = D(ok_result(http.get_tickers(category=CATEGORY, symbol=ETH))["list"][0]["lastPrice"])
    price = ((last * Decimal("1.01")) / tick).to_integral_value() * tick
    link = link_id("ro")
    result = ok_result(
        http.place_order(
            category=CATEGORY,
            symbol=ETH,
            side="Sell",
            orderType="Limit",
            qty="0.5",
            price=str(price),
            timeInForce="GTC",
            reduceOnly=True,
            orderLinkId=link,
        )
    )
    assert result["orderId"] and result["orderLinkId"] == link, short(result)
    ctx["limit"] = {"link": link, "id": result["orderId"], "price": price}


def check_open_orders_by_link_id(ctx):
    limit = need(ctx, "limit", "the reduce-only limit order")
    http = session()
    orders = ok_result(http.get_open_orders(category=CATEGORY, symbol=ETH, orderLinkId=limit["link"]))["list"]
    assert len(orders) == 1, f"{len(orders)} orders for orderLinkId {limit['link']}"
    order = orders[0]
    assert order["orderId"] == limit["id"], (order["orderId"], limit["id"])
    assert order["orderStatus"] == "New", f"orderStatus {order['orderStatus']}"
    assert order["reduceOnly"] is True, f"reduceOnly {order['reduceOnly']!r}"
    assert order["side"] == "Sell" and order["orderType"] == "Limit", (order["side"], order["orderType"])
    assert order["timeInForce"] == "GTC", order["timeInForce"]
    assert D(order["price"]) == limit["price"], f"price {order['price']} != {limit['price']}"
    assert D(order["qty"]) == Decimal("0.5") and D(order["leavesQty"]) == Decimal("0.5"), (
        order["qty"],
        order["leavesQty"],
    )
    assert D(order["cumExecQty"]) == 0, order["cumExecQty"]
    # And it is among the symbol's open orders.
    open_ids = [o["orderId"] for o in ok_result(http.get_open_orders(category=CATEGORY, symbol=ETH))["list"]]
    assert limit["id"] in open_ids, f"{limit['id']} not in open orders {open_ids}"


def check_duplicate_link_id(ctx):
    limit = need(ctx, "limit", "the reduce-only limit order")
    http = session()
    expect_error(
        110072,
        lambda: http.place_order(
            category=CATEGORY,
            symbol=ETH,
            side="Sell",
            orderType="Limit",
            qty="0.1",
            price=str(limit["price"]),
            reduceOnly=True,
            orderLinkId=limit["link"],
        ),
    )
    same = [
        o
        for o in ok_result(http.get_open_orders(category=CATEGORY, symbol=ETH))["list"]
        if o["orderLinkId"] == limit["link"]
    ]
    assert len(same) == 1, f"{len(same)} open orders carry {limit['link']} after the duplicate"


def check_cancel(ctx):
    limit = need(ctx, "limit", "the reduce-only limit order")
    http = session()
    result = ok_result(http.cancel_order(category=CATEGORY, symbol=ETH, orderLinkId=limit["link"]))
    assert result["orderId"] == limit["id"] and result["orderLinkId"] == limit["link"], short(result)
    open_ids = [o["orderId"] for o in ok_result(http.get_open_orders(category=CATEGORY, symbol=ETH))["list"]]
    assert limit["id"] not in open_ids, f"cancelled order still open: {open_ids}"
    history = ok_result(http.get_order_history(category=CATEGORY, symbol=ETH, orderLinkId=limit["link"]))["list"]
    assert [o["orderStatus"] for o in history] == ["Cancelled"], short(history)
    # Cancelling it again: Bybit answers 110001 (order does not exist or too late).
    expect_error(110001, lambda: http.cancel_order(category=CATEGORY, symbol=ETH, orderLinkId=limit["link"]))


def check_batches(ctx):
    """pybit's place_batch_order, amend_batch_order and cancel_batch_order (docs v5/order/
    batch-place, batch-amend, batch-cancel): the envelope says 0 and each item answers for
    itself, by index, in retExtInfo.list."""
    http = session()
    last = D(ok_result(http.get_tickers(category=CATEGORY, symbol=BTC))["list"][0]["lastPrice"])
    tick = Decimal("0.10")
    low = ((last * Decimal("0.9")) / tick).to_integral_value() * tick
    links = [link_id("batch") for _ in range(2)]

    def codes(reply):
        return [item["code"] for item in reply["retExtInfo"]["list"]]

    placed = http.place_batch_order(
        category=CATEGORY,
        request=[
            {"symbol": BTC, "side": "Buy", "orderType": "Limit", "qty": "0.001", "price": str(low), "orderLinkId": l}
            for l in links
        ],
    )
    ok_result(placed)
    assert codes(placed) == [0, 0], short(placed)
    missing = link_id("batch-missing")
    lower = low - tick * 10
    amended = http.amend_batch_order(
        category=CATEGORY,
        request=[
            {"symbol": BTC, "orderLinkId": links[0], "price": str(lower)},
            {"symbol": BTC, "orderLinkId": missing, "price": str(lower)},
        ],
    )
    result = ok_result(amended)
    assert codes(amended) == [0, 110001], short(amended)
    assert [i["orderLinkId"] for i in result["list"]] == [links[0], missing], short(result)
    order = ok_result(http.get_open_orders(category=CATEGORY, symbol=BTC, orderLinkId=links[0]))["list"][0]
    assert D(order["price"]) == lower, f"amended price {order['price']} != {lower}"
    cancelled = http.cancel_batch_order(
        category=CATEGORY,
        request=[{"symbol": BTC, "orderLinkId": l} for l in [links[0], missing, links[1]]],
    )
    result = ok_result(cancelled)
    assert codes(cancelled) == [0, 110001, 0], short(cancelled)
    assert result["list"][1]["orderId"] == "", short(result)
    still = [o["orderLinkId"] for o in ok_result(http.get_open_orders(category=CATEGORY, symbol=BTC))["list"]]
    assert not set(links) & set(still), f"batch-cancelled orders still open: {still}"


def check_executions(ctx):
    market = need(ctx, "market", "the market order")
    http = session()
    fills = ok_result(http.get_executions(category=CATEGORY, symbol=ETH))["list"]
    mine = [f for f in fills if f["orderLinkId"] == market["link"]]
    assert mine, f"no execution with orderLinkId {market['link']} among {len(fills)}"
    assert sum(D(f["execQty"]) for f in mine) == Decimal("0.5"), [f["execQty"] for f in mine]
    for fill in mine:
        assert fill["orderId"] == market["id"], (fill["orderId"], market["id"])
        assert fill["side"] == "Buy" and fill["symbol"] == ETH, (fill["side"], fill["symbol"])
        assert fill["execType"] == "Trade", fill["execType"]
        assert fill["isMaker"] is False, f"isMaker {fill['isMaker']!r}"
        assert D(fill["execPrice"]) > 0 and D(fill["execFee"]) > 0, (fill["execPrice"], fill["execFee"])
        assert fill["execId"], "empty execId"
    by_link = ok_result(http.get_executions(category=CATEGORY, orderLinkId=market["link"]))["list"]
    assert sorted(f["execId"] for f in by_link) == sorted(f["execId"] for f in mine), "lookup by orderLinkId differs"


def check_wrong_secret(ctx):
    bad = session(secret=SECRET + "-wrong")
    error = expect_error(10004, lambda: bad.get_wallet_balance(accountType="UNIFIED"))
    assert error.message.startswith("error sign!"), f"retMsg {error.message[:60]!r}"
    # A signed POST as well: the body is what is signed there.
    expect_error(
        10004,
        lambda: bad.place_order(category=CATEGORY, symbol=ETH, side="Buy", orderType="Market", qty="0.01"),
    )
    # And an unknown key is HTTP 401 (docs v5/error, "HTTP Code"), before the signature is
    # looked at: pybit raises FailedRequestError for any status but 200.
    try:
        reply = session(key=KEY + "-unknown").get_wallet_balance(accountType="UNIFIED")
    except FailedRequestError as e:
        assert e.status_code == 401, f"expected HTTP 401, got {e.status_code}: {e.message}"
    else:
        raise AssertionError(f"an unknown key was accepted: {short(reply)}")
    # The body is still Bybit's envelope, retCode 10003.
    request = urllib.request.Request(
        f"{BASE}/v5/account/wallet-balance?accountType=UNIFIED", headers={"X-BAPI-API-KEY": "nobody"}
    )
    try:
        urllib.request.urlopen(request, timeout=WAIT_S)
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        assert (e.code, body["retCode"], body["retMsg"]) == (401, 10003, "API key is invalid."), (e.code, body)
    else:
        raise AssertionError("an unknown key was accepted")


# ------------------------------------------------------------------------------------ WebSocket


class RecordingWebSocket(ut.WebSocket):
    """pybit's WebSocket, unchanged in what it does, plus a record of every raw frame and of
    every error pybit's own handling raised.

    One harness fix: pybit's subscribe() sends the request *before* it registers the req_id
    and the callback, so over loopback the ack or a first snapshot can reach its reader thread
    first (KeyError). Against Bybit the round trip hides that race; here a lock makes the
    reader wait until subscribe() has finished registering.
    """

    def __init__(self, raw, **kwargs):
        self.raw = raw
        self.errors = []
        self._registering = threading.Lock()
        super().__init__(**kwargs)

    def _on_message(self, message):
        self.raw.put(json.loads(message))
        with self._registering:
            super()._on_message(message)

    def _on_error(self, error):
        self.errors.append(f"{type(error).__name__}: {error}")
        super()._on_error(error)

    def subscribe(self, topic, callback, symbol=False):
        with self._registering:
            super().subscribe(topic, callback, symbol)


def connect(channel_type, raw, **kwargs):
    # pybit formats these with SUBDOMAIN/DOMAIN/TLD (and CHANNEL_TYPE for the public one);
    # without those placeholders the format leaves the local URLs as they are.
    host = BASE.split("://", 1)[1]
    ut.PUBLIC_WSS = f"ws://{host}/v5/public/{{CHANNEL_TYPE}}"
    ut.PRIVATE_WSS = f"ws://{host}/v5/private"
    return RecordingWebSocket(
        raw,
        channel_type=channel_type,
        testnet=False,
        # A short heartbeat so that pybit's ping (a protocol ping, then {"op":"ping"} on its
        # pong) happens during the run; websocket-client wants timeout < interval.
        ping_interval=2,
        ping_timeout=1,
        retries=3,
        restart_on_error=False,
        **kwargs,
    )


def close_ws(ws):
    if ws is None:
        return
    done = threading.Event()

    def close():
        try:
            ws.exit()
        finally:
            done.set()

    threading.Thread(target=close, daemon=True).start()
    done.wait(5)


def check_private_ws_auth(ctx):
    raw = Inbox("private raw frames")
    ws = connect("private", raw, api_key=KEY, api_secret=SECRET, private_auth_expire=10)
    ctx["private_ws"] = ws
    ctx["private_raw"] = raw
    reply = raw.wait_for("the auth reply", lambda m: m.get("op") == "auth")
    assert reply.get("success") is True, f"auth reply {short(reply)}"
    assert reply.get("ret_msg") == "", f"auth ret_msg {reply.get('ret_msg')!r}"
    assert reply.get("conn_id"), f"auth reply has no conn_id: {short(reply)}"
    wait_until("pybit to mark the connection authenticated", lambda: ws.auth)
    assert ws.errors == [], f"pybit errors: {ws.errors}"


def check_private_ws_subscribe(ctx):
    ws = need(ctx, "private_ws", "the private connection")
    raw = ctx["private_raw"]
    inboxes = {name: Inbox(f"{name} stream") for name in ("order", "execution", "position", "wallet")}
    ws.order_stream(callback=inboxes["order"].put)
    ws.execution_stream(callback=inboxes["execution"].put)
    ws.position_stream(callback=inboxes["position"].put)
    ws.wallet_stream(callback=inboxes["wallet"].put)
    ctx["private_inboxes"] = inboxes
    req_ids = set(ws.subscriptions)
    assert len(req_ids) == 4, f"pybit recorded {len(req_ids)} subscriptions"
    # docs/v5/websocket/wss-authentication.mdx, private tab: the private subscription reply
    # carries no req_id (pybit then takes it for its oldest pending subscription), so the
    # four acks are counted, not matched by id.
    acks = []
    for n in range(len(req_ids)):
        # Four acks may be equal as values: each is told apart by identity.
        ack = raw.wait_for(
            f"subscribe ack {n + 1} of {len(req_ids)}",
            lambda m: m.get("op") == "subscribe" and all(m is not a for a in acks),
        )
        assert "req_id" not in ack, f"a private subscribe ack with a req_id: {short(ack)}"
        acks.append(ack)
    failed = [short(a) for a in acks if a.get("success") is not True]
    assert not failed, f"refused subscriptions: {failed}"
    assert sorted(ws.get_subscription_topics()) == ["execution", "order", "position", "wallet"]
    assert ws.errors == [], f"pybit errors: {ws.errors}"


def check_private_ws_pushes(ctx):
    inboxes = need(ctx, "private_inboxes", "the private subscriptions")
    ws = ctx["private_ws"]
    http = session()
    size_before = D(ok_result(http.get_positions(category=CATEGORY, symbol=ETH))["list"][0]["size"])
    size_after = size_before + Decimal("0.2")
    link = link_id("ws")
    placed = ok_result(
        http.place_order(category=CATEGORY, symbol=ETH, side="Buy", orderType="Market", qty="0.2", orderLinkId=link)
    )
    order_id = placed["orderId"]
    ctx["ws_order"] = {"link": link, "id": order_id}

    def items(message, topic):
        assert message.get("topic") == topic, f"topic {message.get('topic')!r}"
        assert isinstance(message.get("id"), str) and message["id"], f"push id {message.get('id')!r}"
        assert isinstance(message.get("creationTime"), int), f"creationTime {message.get('creationTime')!r}"
        assert isinstance(message.get("data"), list), f"data is {type(message.get('data')).__name__}"
        return message["data"]

    order_msg = inboxes["order"].wait_for(
        f"order {link} Filled",
        lambda m: any(o.get("orderLinkId") == link and o.get("orderStatus") == "Filled" for o in items(m, "order")),
    )
    order = next(o for o in order_msg["data"] if o["orderLinkId"] == link and o["orderStatus"] == "Filled")
    assert order["orderId"] == order_id, (order["orderId"], order_id)
    assert order["category"] == CATEGORY and order["symbol"] == ETH, (order["category"], order["symbol"])
    assert D(order["cumExecQty"]) == Decimal("0.2") and D(order["leavesQty"]) == 0, (
        order["cumExecQty"],
        order["leavesQty"],
    )
    assert order["side"] == "Buy" and order["orderType"] == "Market", (order["side"], order["orderType"])
    assert D(order["avgPrice"]) > 0, f"avgPrice {order['avgPrice']!r}"
    assert order["reduceOnly"] is False, f"reduceOnly {order['reduceOnly']!r}"
    assert isinstance(order["positionIdx"], int), f"positionIdx {order['positionIdx']!r}"

    def fills_so_far():
        fills = [f for m in inboxes["execution"].all() for f in items(m, "execution") if f.get("orderLinkId") == link]
        return fills if sum((D(f["execQty"]) for f in fills), Decimal(0)) >= Decimal("0.2") else None

    fills = wait_until(f"executions of {link} adding up to 0.2", fills_so_far)
    assert sum(D(f["execQty"]) for f in fills) == Decimal("0.2"), [f["execQty"] for f in fills]
    assert len({f["execId"] for f in fills}) == len(fills), "duplicate execId"
    for fill in fills:
        assert fill["orderId"] == order_id and fill["execType"] == "Trade", (fill["orderId"], fill["execType"])
        assert fill["isMaker"] is False and D(fill["execPrice"]) > 0, (fill["isMaker"], fill["execPrice"])
        assert isinstance(fill.get("seq"), int), f"execution seq {fill.get('seq')!r}"
    rest_fills = ok_result(http.get_executions(category=CATEGORY, orderLinkId=link))["list"]
    assert sorted(f["execId"] for f in rest_fills) == sorted(f["execId"] for f in fills), "REST and WS fills differ"

    def grown(p):
        return p.get("symbol") == ETH and D(p.get("size")) == size_after

    position_msg = inboxes["position"].wait_for(
        f"an ETHUSDT position of {size_after}",
        lambda m: any(grown(p) for p in items(m, "position")),
    )
    position = next(p for p in position_msg["data"] if grown(p))
    assert position["side"] == "Buy", f"side {position['side']!r}"
    assert position["category"] == CATEGORY and position["positionIdx"] == 0, (position["category"], position["positionIdx"])
    assert D(position["entryPrice"]) > 0, f"entryPrice {position.get('entryPrice')!r} (the stream's name for avgPrice)"
    rest_position = ok_result(http.get_positions(category=CATEGORY, symbol=ETH))["list"][0]
    assert D(rest_position["size"]) == size_after, f"REST size {rest_position['size']}, expected {size_after}"
    assert D(position["entryPrice"]) == D(rest_position["avgPrice"]), (position["entryPrice"], rest_position["avgPrice"])

    wallet_msg = inboxes["wallet"].wait_for(
        "a wallet push with USDT",
        lambda m: any(any(c.get("coin") == "USDT" for c in a.get("coin", [])) for a in items(m, "wallet")),
    )
    account = next(a for a in wallet_msg["data"] if any(c["coin"] == "USDT" for c in a["coin"]))
    assert account["accountType"] == "UNIFIED", account["accountType"]
    # The fee of the last fill is in the last wallet push: it must agree with REST now.
    last_wallet = [a for m in inboxes["wallet"].all() for a in m["data"]][-1]
    ws_usdt = next(c for c in last_wallet["coin"] if c["coin"] == "USDT")
    rest_account = ok_result(http.get_wallet_balance(accountType="UNIFIED"))["list"][0]
    rest_usdt = next(c for c in rest_account["coin"] if c["coin"] == "USDT")
    assert D(ws_usdt["walletBalance"]) == D(rest_usdt["walletBalance"]), (
        f"WS walletBalance {ws_usdt['walletBalance']} != REST {rest_usdt['walletBalance']}"
    )
    assert D(ws_usdt["walletBalance"]) < START_USDT, "no fee was charged"
    assert ws.errors == [], f"pybit errors: {ws.errors}"


def check_private_ws_heartbeat(ctx):
    ws = need(ctx, "private_ws", "the private connection")
    raw = ctx["private_raw"]
    pong = raw.wait_for("a pong to pybit's {'op':'ping'}", lambda m: m.get("op") == "pong")
    assert isinstance(pong.get("args"), list) and pong["args"], f"private pong {short(pong)}"
    assert ws._is_custom_pong(pong), "pybit does not recognise the pong"
    assert ws.is_connected(), "the connection dropped"
    assert ws.errors == [], f"pybit errors: {ws.errors}"


class Book:
    """An order book kept from raw snapshot/delta messages, by Bybit's documented rules."""

    def __init__(self):
        self.bids = {}
        self.asks = {}
        self.u = None
        self.seq = None
        self.deltas = 0

    def snapshot(self, data):
        self.bids = {D(p): D(s) for p, s in data["b"]}
        self.asks = {D(p): D(s) for p, s in data["a"]}
        assert len(self.bids) == len(data["b"]) and len(self.asks) == len(data["a"]), "repeated price in snapshot"
        prices_b = [D(p) for p, _ in data["b"]]
        prices_a = [D(p) for p, _ in data["a"]]
        assert prices_b == sorted(prices_b, reverse=True), "snapshot bids not sorted best (highest) first"
        assert prices_a == sorted(prices_a), "snapshot asks not sorted best (lowest) first"
        assert all(s > 0 for s in list(self.bids.values()) + list(self.asks.values())), "zero size in snapshot"
        self.u = data["u"]
        self.seq = data["seq"]
        self.assert_sane()

    def delta(self, data):
        assert data["u"] == self.u + 1, f"u went {self.u} -> {data['u']} (gap or repeat)"
        assert data["seq"] >= self.seq, f"seq went back {self.seq} -> {data['seq']}"
        for side_name, side in (("b", self.bids), ("a", self.asks)):
            for price, size in data[side_name]:
                price, size = D(price), D(size)
                if size == 0:
                    assert price in side, f"delta deletes {side_name} {price}, which the book does not hold"
                    del side[price]
                else:
                    side[price] = size
        self.u = data["u"]
        self.seq = data["seq"]
        self.deltas += 1
        self.assert_sane()

    def assert_sane(self):
        assert self.bids and self.asks, "a side of the book is empty"
        assert len(self.bids) <= BOOK_DEPTH and len(self.asks) <= BOOK_DEPTH, (
            f"book deeper than {BOOK_DEPTH}: {len(self.bids)} bids, {len(self.asks)} asks"
        )
        assert self.best_bid() < self.best_ask(), f"crossed book: bid {self.best_bid()} >= ask {self.best_ask()}"

    def best_bid(self):
        return max(self.bids)

    def best_ask(self):
        return min(self.asks)

    def top(self, n):
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks


def check_public_ws_snapshot(ctx):
    raw = Inbox("public raw frames")
    ws = connect("linear", raw)
    ctx["public_ws"] = ws
    ctx["public_raw"] = raw
    pybit_book = Inbox("pybit orderbook callback")
    ctx["pybit_book"] = pybit_book
    ws.orderbook_stream(depth=BOOK_DEPTH, symbol=BTC, callback=pybit_book.put)
    topic = f"orderbook.{BOOK_DEPTH}.{BTC}"
    ctx["book_topic"] = topic
    req_id = next(iter(ws.subscriptions))
    ack = raw.wait_for("the subscribe ack", lambda m: m.get("op") == "subscribe")
    assert ack.get("success") is True, f"subscribe ack {short(ack)}"
    assert ack.get("req_id") == req_id, f"ack req_id {ack.get('req_id')!r}, sent {req_id!r}"
    first = raw.wait_for("the first book message", lambda m: m.get("topic") == topic)
    assert first.get("type") == "snapshot", f"first book message is {first.get('type')!r}, not snapshot"
    assert isinstance(first.get("ts"), int) and isinstance(first.get("cts"), int), (first.get("ts"), first.get("cts"))
    data = first["data"]
    assert data["s"] == BTC, data["s"]
    assert isinstance(data["u"], int) and isinstance(data["seq"], int), (data["u"], data["seq"])
    assert len(data["b"]) == BOOK_DEPTH and len(data["a"]) == BOOK_DEPTH, (len(data["b"]), len(data["a"]))
    book = Book()
    book.snapshot(data)
    ctx["book"] = book
    ctx["book_messages_used"] = 1
    # pybit handed the snapshot to its callback.
    pybit_book.wait_for("pybit's callback", lambda m: m.get("topic") == topic)
    assert ws.errors == [], f"pybit errors: {ws.errors}"


def apply_new_book_messages(ctx):
    """Applies book messages received since the last call; returns how many were deltas."""
    raw = ctx["public_raw"]
    book = ctx["book"]
    messages = [m for m in raw.all() if m.get("topic") == ctx["book_topic"]]
    fresh = messages[ctx["book_messages_used"] :]
    for message in fresh:
        ctx["book_messages_used"] += 1
        kind = message.get("type")
        assert kind == "delta", f"book message {ctx['book_messages_used']} is {kind!r}, expected delta: {short(message)}"
        book.delta(message["data"])
    return len(fresh)


def check_public_ws_deltas(ctx):
    book = need(ctx, "book", "the book snapshot")
    # Moves relative to the current price: a whole-book shift, small shifts, and back.
    ticker = public_get(f"/v5/market/tickers?category={CATEGORY}&symbol={BTC}")["result"]["list"][0]
    start = D(ticker["lastPrice"])
    prices = [str(start + Decimal(step)) for step in ("10.0", "10.5", "8.3", "0")]
    for price in prices:
        before = book.deltas
        control("price", {"symbol": BTC, "price": price})
        target = D(price)

        def moved():
            apply_new_book_messages(ctx)
            return book.deltas > before and book.best_bid() <= target <= book.best_ask()

        wait_until(f"deltas moving the book to {price}", moved)
    assert book.deltas >= len(prices), f"only {book.deltas} deltas"
    assert ctx["public_ws"].errors == [], f"pybit errors: {ctx['public_ws'].errors}"


def check_public_ws_book_matches_rest(ctx):
    book = need(ctx, "book", "the book snapshot")
    path = f"/v5/market/orderbook?category={CATEGORY}&symbol={BTC}&limit={BOOK_DEPTH}"

    def matches():
        apply_new_book_messages(ctx)
        rest = public_get(path)["result"]
        want = ([(D(p), D(s)) for p, s in rest["b"]], [(D(p), D(s)) for p, s in rest["a"]])
        have = book.top(BOOK_DEPTH)
        assert have == want, (
            f"WS best {have[0][0] if have[0] else None}/{have[1][0] if have[1] else None}, "
            f"REST best {want[0][0] if want[0] else None}/{want[1][0] if want[1] else None}"
        )
        return True

    wait_until("the WS book to equal REST's 50 levels", matches)


def check_pybit_book(ctx):
    """pybit's own book (it rewrites every message as a snapshot) holds the same levels."""
    book = need(ctx, "book", "the book snapshot")
    ws = ctx["public_ws"]
    topic = ctx["book_topic"]

    def same():
        apply_new_book_messages(ctx)
        data = ws.data.get(topic)
        assert data is not None, "pybit holds no book"
        theirs_b = {D(p): D(s) for p, s in data["b"]}
        theirs_a = {D(p): D(s) for p, s in data["a"]}
        assert theirs_b == book.bids and theirs_a == book.asks, (
            f"pybit holds {len(theirs_b)}/{len(theirs_a)} levels, we hold {len(book.bids)}/{len(book.asks)}"
        )
        assert data["u"] == book.u, f"pybit u {data['u']} vs {book.u}"
        return True

    wait_until("pybit's book to equal ours", same)
    last = ctx["pybit_book"].all()[-1]
    assert last["type"] == "snapshot" and last["data"]["u"] == book.u, "pybit's last callback is stale"
    assert ws.errors == [], f"pybit errors: {ws.errors}"


def check_public_ws_heartbeat(ctx):
    ws = need(ctx, "public_ws", "the public connection")
    raw = ctx["public_raw"]
    pong = raw.wait_for("a pong to pybit's {'op':'ping'}", lambda m: m.get("ret_msg") == "pong")
    assert pong.get("op") == "ping" and pong.get("success") is True, f"public pong {short(pong)}"
    assert ws._is_custom_pong(pong), "pybit does not recognise the pong"
    assert ws.is_connected(), "the connection dropped"
    assert ws.errors == [], f"pybit errors: {ws.errors}"


# ------------------------------------------------------------------------------------ main


CHECKS = [
    ("http: server time within 5 s of local time", check_server_time),
    ("http: instruments info (BTCUSDT tickSize 0.10)", check_instruments_info),
    ("http: wallet balance shows 10000 USDT", check_wallet_balance),
    ("http: set leverage, then 110043 when unchanged", check_set_leverage),
    ("http: market Buy 0.5 ETHUSDT fills", check_market_order),
    ("http: position list shows Buy 0.5", check_positions),
    ("http: reduce-only Sell limit above the price is accepted", check_reduce_only_limit),
    ("http: open orders by orderLinkId show it New, reduceOnly", check_open_orders_by_link_id),
    ("http: duplicate orderLinkId -> 110072", check_duplicate_link_id),
    ("http: cancel removes it from open orders", check_cancel),
    ("http: batch place, amend, cancel answer per item", check_batches),
    ("http: executions list the market fill", check_executions),
    ("http: wrong secret -> 10004 (unknown key -> HTTP 401, 10003)", check_wrong_secret),
    ("ws private: pybit authenticates", check_private_ws_auth),
    ("ws private: order/execution/position/wallet subscribed", check_private_ws_subscribe),
    ("ws private: pushes after a market order", check_private_ws_pushes),
    ("ws private: heartbeat pong recognised by pybit", check_private_ws_heartbeat),
    ("ws public: orderbook.50 starts with a snapshot", check_public_ws_snapshot),
    ("ws public: deltas apply cleanly as the price moves", check_public_ws_deltas),
    ("ws public: built book equals REST orderbook", check_public_ws_book_matches_rest),
    ("ws public: pybit's own book agrees", check_pybit_book),
    ("ws public: heartbeat pong recognised by pybit", check_public_ws_heartbeat),
]


def run_checks(title, checks, sockets):
    """Runs `checks` with one `Runner` and prints the script's report: a `# title` line, one
    `ok`/`FAIL` line per check, the time taken, then `N passed, M failed`. The WebSockets the
    checks left in the runner's context under `sockets` are closed whatever happened. Returns
    the exit status: 0 only when nothing failed (2 when the emulator is not named)."""
    if not (BASE and KEY and SECRET):
        print("set BYBIT_EMULATOR_URL, BYBIT_EMULATOR_API_KEY and BYBIT_EMULATOR_API_SECRET", file=sys.stderr)
        return 2
    # A root handler keeps pybit from adding its own INFO logger to stdout; warnings and
    # errors (pybit logs WebSocket trouble) go to stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    print(f"# {title}", flush=True)
    runner = Runner(checks)
    started = time.monotonic()
    try:
        runner.run()
    finally:
        for name in sockets:
            close_ws(runner.ctx.get(name))
    print(f"# {time.monotonic() - started:.1f} s", flush=True)
    print(f"{runner.passed} passed, {runner.failed} failed", flush=True)
    return 0 if runner.failed == 0 else 1


def main():
    return run_checks(f"pybit {version('pybit')} against {BASE}", CHECKS, ["private_ws", "public_ws"])


if __name__ == "__main__":
    sys.exit(main())
