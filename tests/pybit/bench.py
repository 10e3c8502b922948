"""pybit's create round trip against a running bybit-emulator, for `cargo xtask bench`.

The same order the Rust client's benchmark sends (an IOC limit buy of 0.001 BTCUSDT at 50000,
accepted and never resting), through pybit's `HTTP.place_order` or, with BENCH_MODE=ws, its
`WebSocketTrading.place_order` over the emulator's `/v5/trade` (from the send to the reply's
callback), one at a time; after a warm-up it prints p50 and p99 in microseconds as
`PYBIT\t<name>\t<us>` lines, which the xtask puts beside the Rust client's figures.

Inputs (environment): BYBIT_EMULATOR_URL, BYBIT_EMULATOR_API_KEY, BYBIT_EMULATOR_API_SECRET,
BENCH_COUNT (round trips measured; default 3000), BENCH_MODE (`rest`, the default, or `ws`).
"""

import os
import sys
import threading
import time

import pybit._websocket_trading as wst
import pybit.unified_trading as ut

BASE = os.environ.get("BYBIT_EMULATOR_URL", "").rstrip("/")
KEY = os.environ.get("BYBIT_EMULATOR_API_KEY", "")
SECRET = os.environ.get("BYBIT_EMULATOR_API_SECRET", "")
COUNT = int(os.environ.get("BENCH_COUNT", "3000"))
MODE = os.environ.get("BENCH_MODE", "rest")
WARM_UP = 200
ORDER = dict(
    category="linear",
    symbol="BTCUSDT",
    side="Buy",
    orderType="Limit",
    qty="0.001",
    price="50000",
    timeInForce="IOC",
)


class Trading(ut.WebSocketTrading):
    """pybit's WebSocketTrading with one harness fix (as tests/pybit/trade.py): pybit sends an
    order operation before it registers the reply's callback, so over loopback the reply can
    arrive first and be dropped; a lock makes the reader wait for the registration."""

    def __init__(self, **kwargs):
        self._registering = threading.Lock()
        super().__init__(**kwargs)

    def _on_message(self, message):
        with self._registering:
            super()._on_message(message)

    def _send_order_operation(self, operation, callback, request, error_callback=None):
        with self._registering:
            super()._send_order_operation(operation, callback, request, error_callback)


def ws_create():
    """A create over pybit's WebSocketTrading: the call returns when its reply's callback ran."""
    host = BASE.split("://", 1)[1]
    # pybit formats TRADE_WSS with its domain placeholders; a URL without them stays as it is.
    wst.TRADE_WSS = f"ws://{host}/v5/trade"
    ws = Trading(testnet=False, api_key=KEY, api_secret=SECRET, private_auth_expire=10)
    done = threading.Event()
    replies = []

    def on_reply(message):
        replies.append(message)
        done.set()

    def create():
        done.clear()
        ws.place_order(callback=on_reply, error_callback=on_reply, **ORDER)
        if not done.wait(10):
            raise RuntimeError("no reply within 10 s")
        reply = replies.pop()
        if reply.get("retCode") != 0:
            raise RuntimeError(f"refused: {reply}")

    return create


def main():
    if not (BASE and KEY and SECRET):
        print("bench.py: BYBIT_EMULATOR_URL, _API_KEY and _API_SECRET must be set", file=sys.stderr)
        return 2
    if MODE == "ws":
        create = ws_create()
    else:
        # max_retries=1: pybit 5.17 fails with UnboundLocalError at 0 (its loop never sends).
        http = ut.HTTP(
            testnet=False, api_key=KEY, api_secret=SECRET, max_retries=1, retry_delay=0, timeout=10
        )
        # pybit builds https://api.bybit.com in __post_init__ and prefixes every path with it.
        http.endpoint = BASE

        def create():
            reply = http.place_order(**ORDER)
            # A refused order raises in pybit; a reply without an id would mean no order either.
            if not reply.get("result", {}).get("orderId"):
                raise RuntimeError(f"no orderId in {reply}")

    for _ in range(WARM_UP):
        create()
    times = []
    for _ in range(COUNT):
        start = time.perf_counter()
        create()
        times.append(time.perf_counter() - start)
    times.sort()
    for name, per_mille in (("p50", 500), ("p99", 990)):
        value = times[(len(times) - 1) * per_mille // 1000]
        print(f"PYBIT\t{name}\t{value * 1e6:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
