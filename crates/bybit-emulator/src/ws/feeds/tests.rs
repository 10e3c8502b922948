//! The feeds against a whole emulator state (a still market moved by hand).

use rust_decimal_macros::dec;
use tokio::sync::watch;

use super::*;
use crate::app::AppState;
use crate::EmulatorConfig;

fn still_market() -> AppState {
    let mut config = EmulatorConfig::with_defaults("key", "secret", dec!(10000), 7);
    config.static_prices = true;
    let (_stop, stopped) = watch::channel(false);
    AppState::new(config, stopped).unwrap()
}

fn move_price(state: &AppState, by: Decimal) {
    let last = state.read(|e| e.price("BTCUSDT")).unwrap();
    state
        .execute(|e, now| e.set_price(now, "BTCUSDT", last + by))
        .unwrap();
}

// docs v5/websocket/public/orderbook: a feed's `u` rises by one per message; a subscriber
// one message behind gets that message, one that fell behind what the feed keeps gets a
// snapshot at the feed's `u` ("a snapshot will be re-sent ... guaranteed to contain the
// latest data").
#[test]
fn a_subscriber_behind_the_log_gets_a_snapshot_at_the_feeds_u() {
    let state = still_market();
    let books = &state.books;
    let start = Instant::now();
    let first = books.open(&state, "BTCUSDT", 50, start).unwrap();
    let mut u = first.u;
    // Each poll a second later than the last, so the cadence always allows a message.
    let changes = log_len(50) + 3;
    for step in 1..=changes {
        move_price(&state, dec!(0.5));
        let at = start + Duration::from_secs(u64::try_from(step).unwrap());
        let poll = books.poll(&state, "BTCUSDT", 50, u, at, true).unwrap();
        assert!(poll.checked && poll.snapshot.is_none());
        assert_eq!(poll.updates.len(), 1);
        assert_eq!(poll.u, u + 1);
        u = poll.u;
    }
    let later = start + Duration::from_secs(3_600);
    let one_behind = books
        .poll(&state, "BTCUSDT", 50, u - 1, later, false)
        .unwrap();
    assert_eq!((one_behind.updates.len(), one_behind.u), (1, u));
    let lagging = books
        .poll(&state, "BTCUSDT", 50, first.u, later, false)
        .unwrap();
    assert!(lagging.updates.is_empty());
    let snapshot = lagging
        .snapshot
        .expect("a snapshot for a subscriber past the log");
    assert_eq!(snapshot.u, u);
    let engine = state.read(|e| e.book("BTCUSDT", 50)).unwrap();
    let engine_bids: Vec<Level> = engine.bids.iter().map(|l| (l.price, l.qty)).collect();
    assert_eq!(snapshot.bids, engine_bids);
    // Nothing changed since: a prompt subscriber is sent nothing, and `u` stays.
    let still = books.poll(&state, "BTCUSDT", 50, u, later, true).unwrap();
    assert!(still.checked && still.updates.is_empty() && still.snapshot.is_none());
    assert_eq!(still.u, u);
}
