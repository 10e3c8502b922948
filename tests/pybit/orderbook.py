#!/usr/bin/env python3
"""pybit's orderbook_stream on a moving emulator market, for a minute.

A client that keeps a book from Bybit's stream needs a steady flow of deltas to find its bugs;
a still market sends one snapshot and nothing else. This script subscribes pybit's
`orderbook_stream` (depth 50, BTCUSDT) and checks, for ORDERBOOK_SECONDS (default 60):

- deltas keep coming: at least one in every 5-second window;
- every message applies by Bybit's rules (docs v5/websocket/public/orderbook): a snapshot
  first, then deltas whose `u` rises by exactly one, sizes absolute, "0" deletes a level the
  book holds; the book never crosses and never holds more than 50 levels a side;
- at the end, pybit's own book and the book built here agree, and both equal REST
  `/v5/market/orderbook`.

If the market is still (an emulator from before the living market), a random walk is started
through the control API; on a market that already moves, that step is skipped.

Inputs and output as conformance.py (whose helpers it uses): BYBIT_EMULATOR_URL,
BYBIT_EMULATOR_API_KEY, BYBIT_EMULATOR_API_SECRET; `ok - name` / `FAIL - name: reason` lines,
then `N passed, M failed`; exit status 0 only when nothing failed.
"""

import logging
import os
import sys
import time
from importlib.metadata import version

from conformance import (
    BASE,
    BOOK_DEPTH,
    BTC,
    CATEGORY,
    KEY,
    SECRET,
    WAIT_S,
    Book,
    D,
    Inbox,
    close_ws,
    connect,
    control,
    public_get,
    short,
    wait_until,
)

SECONDS = float(os.environ.get("ORDERBOOK_SECONDS", "60"))
# The longest the stream may go without a delta while the market moves.
MAX_QUIET_S = 5.0
TOPIC = f"orderbook.{BOOK_DEPTH}.{BTC}"


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, reason=""):
        if ok:
            self.passed += 1
            print(f"ok - {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {name}: {reason}", flush=True)
        return ok


def book_messages(raw, used):
    """Book messages received since the first `used` ones."""
    return [m for m in raw.all() if m.get("topic") == TOPIC][used:]


def run(results):
    raw = Inbox("public raw frames")
    ws = connect("linear", raw)
    try:
        ws.orderbook_stream(depth=BOOK_DEPTH, symbol=BTC, callback=lambda _message: None)
        first = raw.wait_for("the first book message", lambda m: m.get("topic") == TOPIC)
        if not results.check("starts with a snapshot", first.get("type") == "snapshot", short(first)):
            return
        book = Book()
        book.snapshot(first["data"])
        used = 1

        # A market that moves by default sends deltas within a second or two; a still one
        # gets a random walk (re-asking on a moving market would only replace its walk).
        time.sleep(2.0)
        if not book_messages(raw, used):
            control("random-walk", {"symbol": BTC, "intervalMs": 50, "maxStepTicks": 3})
            print("# the market was still: started a random walk on BTCUSDT", flush=True)

        started = time.monotonic()
        last_delta = started
        longest_quiet = 0.0
        error = None
        while time.monotonic() - started < SECONDS:
            time.sleep(0.05)
            fresh = book_messages(raw, used)
            now = time.monotonic()
            try:
                for message in fresh:
                    used += 1
                    assert message.get("type") == "delta", f"message {used} is {short(message)}"
                    book.delta(message["data"])
            except AssertionError as e:
                error = str(e)
                break
            if fresh:
                last_delta = now
            longest_quiet = max(longest_quiet, now - last_delta)
        results.check(f"every message applies for {SECONDS:.0f} s ({book.deltas} deltas)", error is None, error)
        results.check(
            f"deltas keep coming (longest gap {longest_quiet:.1f} s)",
            longest_quiet <= MAX_QUIET_S and book.deltas >= SECONDS,
            f"{book.deltas} deltas, a gap of {longest_quiet:.1f} s",
        )
        results.check("pybit reported no error", ws.errors == [], f"{ws.errors}")

        def agrees():
            nonlocal used
            for message in book_messages(raw, used):
                used += 1
                try:
                    book.delta(message["data"])
                except AssertionError as e:
                    # A broken stream, not a moment to retry.
                    raise RuntimeError(f"book message {used}: {e}") from e
            theirs = ws.data.get(TOPIC)
            assert theirs is not None, "pybit holds no book"
            assert {D(p): D(s) for p, s in theirs["b"]} == book.bids, "pybit's bids differ"
            assert {D(p): D(s) for p, s in theirs["a"]} == book.asks, "pybit's asks differ"
            rest = public_get(f"/v5/market/orderbook?category={CATEGORY}&symbol={BTC}&limit={BOOK_DEPTH}")["result"]
            want = ([(D(p), D(s)) for p, s in rest["b"]], [(D(p), D(s)) for p, s in rest["a"]])
            assert book.top(BOOK_DEPTH) == want, "the stream's book differs from REST's"
            return True

        try:
            # The market keeps moving: retry until a moment when nothing is in flight.
            wait_until("the stream's, pybit's and REST's books to agree", agrees, timeout=3 * WAIT_S)
            results.check("pybit's book, the stream's book and REST agree", True)
        except AssertionError as e:
            results.check("pybit's book, the stream's book and REST agree", False, str(e))
    finally:
        close_ws(ws)


def main():
    if not (BASE and KEY and SECRET):
        print("set BYBIT_EMULATOR_URL, BYBIT_EMULATOR_API_KEY and BYBIT_EMULATOR_API_SECRET", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    print(f"# pybit {version('pybit')} orderbook_stream against {BASE} for {SECONDS:.0f} s", flush=True)
    results = Results()
    started = time.monotonic()
    try:
        run(results)
    except Exception as e:  # noqa: BLE001 - any failure is reported as one
        results.check("the run completed", False, f"{type(e).__name__}: {e}")
    print(f"# {time.monotonic() - started:.1f} s", flush=True)
    print(f"{results.passed} passed, {results.failed} failed", flush=True)
    return 0 if results.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
