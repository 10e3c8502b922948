"""pybit's create round trip against a running bybit-emulator, for `cargo xtask bench`.

The same order the Rust client's benchmark sends (an IOC limit buy of 0.001 BTCUSDT at 50000,
accepted and never resting), through pybit's `HTTP.place_order`, one at a time; after a warm-up
it prints p50 and p99 in microseconds as `PYBIT\t<name>\t<us>` lines, which the xtask puts
beside the Rust client's figures.

Inputs (environment): BYBIT_EMULATOR_URL, BYBIT_EMULATOR_API_KEY, BYBIT_EMULATOR_API_SECRET,
BENCH_COUNT (round trips measured; default 3000).
"""

import os
import sys
import time

import pybit.unified_trading as ut

BASE = os.environ.get("BYBIT_EMULATOR_URL", "").rstrip("/")
KEY = os.environ.get("BYBIT_EMULATOR_API_KEY", "")
SECRET = os.environ.get("BYBIT_EMULATOR_API_SECRET", "")
COUNT = int(os.environ.get("BENCH_COUNT", "3000"))
WARM_UP = 200


def main():
    if not (BASE and KEY and SECRET):
        print("bench.py: BYBIT_EMULATOR_URL, _API_KEY and _API_SECRET must be set", file=sys.stderr)
        return 2
    # max_retries=1: pybit 5.17 fails with UnboundLocalError at 0 (its loop never sends).
    http = ut.HTTP(
        testnet=False, api_key=KEY, api_secret=SECRET, max_retries=1, retry_delay=0, timeout=10
    )
    # pybit builds https://api.bybit.com in __post_init__ and prefixes every path with it.
    http.endpoint = BASE

    def create():
        reply = http.place_order(
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Limit",
            qty="0.001",
            price="50000",
            timeInForce="IOC",
        )
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
