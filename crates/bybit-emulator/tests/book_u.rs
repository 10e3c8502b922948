//! One order-book feed per symbol and depth: `u` belongs to the
//! feed, not to the connection, and REST's `u` is the level-1000 feed's.
//!
//! docs v5/websocket/public/orderbook: `u` is the update id, "a sequence" (a `u` of 1 means a
//! service restart), `seq` the cross sequence. docs v5/market/orderbook: the REST `u`
//! corresponds to `u` of the deepest WebSocket book (level 1000 for contracts).

use std::collections::BTreeMap;

use bybit_emulator::Emulator;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;

use crate::support::{start, Client};
use crate::ws::{recv_json_until, subscribe, ws_connect, LocalBook, Ws, WAIT};

const DEPTHS: [usize; 3] = [1, 50, 200];

/// Moves BTCUSDT's price by `by`, which changes the top of every depth's book.
fn move_price(emu: &Emulator, by: Decimal) {
    let last = emu.state().read(|e| e.price("BTCUSDT")).unwrap();
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", last + by))
        .unwrap();
}

fn is_book(v: &Value) -> bool {
    v["topic"]
        .as_str()
        .is_some_and(|t| t.starts_with("orderbook."))
}

fn depth_of(message: &Value) -> usize {
    let topic = message["topic"].as_str().unwrap();
    topic.split('.').nth(1).unwrap().parse().unwrap()
}

fn u_of(message: &Value) -> i64 {
    message["data"]["u"].as_i64().unwrap()
}

/// One book message per depth in `depths`, whichever order they come in.
async fn one_per_depth(ws: &mut Ws, depths: &[usize]) -> BTreeMap<usize, Value> {
    let mut messages = BTreeMap::new();
    while messages.len() < depths.len() {
        let (message, _) = recv_json_until(ws, is_book, WAIT).await;
        let depth = depth_of(&message);
        assert!(depths.contains(&depth), "{message}");
        assert!(
            messages.insert(depth, message).is_none(),
            "two messages for depth {depth} after one change"
        );
    }
    messages
}

async fn subscribed(emu: &Emulator, depths: &[usize]) -> (Ws, BTreeMap<usize, Value>) {
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    let topics: Vec<String> = depths
        .iter()
        .map(|d| format!("orderbook.{d}.BTCUSDT"))
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    let ack = subscribe(&mut ws, &topics).await;
    assert_eq!(ack["success"], true, "{ack}");
    let snapshots = one_per_depth(&mut ws, depths).await;
    (ws, snapshots)
}

// Two connections on the same topics get the same messages for the same changes: the same
// `u` (consecutive per feed), the same levels, the same `seq`.
#[tokio::test]
async fn two_connections_see_the_same_u_sequence_for_the_same_changes() {
    let emu = start().await;
    let (mut a, snapshots_a) = subscribed(&emu, &DEPTHS).await;
    let (mut b, snapshots_b) = subscribed(&emu, &DEPTHS).await;
    let mut books_a: BTreeMap<usize, LocalBook> = BTreeMap::new();
    let mut books_b: BTreeMap<usize, LocalBook> = BTreeMap::new();
    for depth in DEPTHS {
        assert_eq!(
            snapshots_a[&depth]["data"], snapshots_b[&depth]["data"],
            "a still book: both snapshots at the feed's u"
        );
        books_a
            .entry(depth)
            .or_default()
            .apply(&snapshots_a[&depth]);
        books_b
            .entry(depth)
            .or_default()
            .apply(&snapshots_b[&depth]);
    }
    for by in [dec!(0.5), dec!(1.0), dec!(-0.5), dec!(-1.5)] {
        move_price(&emu, by);
        let from_a = one_per_depth(&mut a, &DEPTHS).await;
        let from_b = one_per_depth(&mut b, &DEPTHS).await;
        for depth in DEPTHS {
            // The whole message, `ts` included: one message of one feed.
            assert_eq!(from_a[&depth], from_b[&depth], "depth {depth}");
            // `apply` checks that `u` rises by exactly one.
            books_a.get_mut(&depth).unwrap().apply(&from_a[&depth]);
            books_b.get_mut(&depth).unwrap().apply(&from_b[&depth]);
        }
    }
    assert_eq!(books_a, books_b);
    for depth in DEPTHS {
        assert_eq!(
            books_a[&depth].update_id(),
            Some(u_of(&snapshots_a[&depth]) + 4),
            "depth {depth}: four changes, four consecutive u"
        );
    }
}

// A subscriber that comes late starts from a snapshot at the feed's current `u`, equal to the
// book the first subscriber kept, then gets the same deltas.
#[tokio::test]
async fn a_late_subscriber_starts_at_the_feeds_current_u() {
    let emu = start().await;
    let (mut early, snapshots) = subscribed(&emu, &[50]).await;
    let mut kept = LocalBook::default();
    kept.apply(&snapshots[&50]);
    let mut last_u = u_of(&snapshots[&50]);
    for by in [dec!(0.5), dec!(0.5), dec!(0.5)] {
        move_price(&emu, by);
        let delta = one_per_depth(&mut early, &[50]).await.remove(&50).unwrap();
        assert_eq!(u_of(&delta), last_u + 1);
        last_u = u_of(&delta);
        kept.apply(&delta);
    }
    let (mut late, late_snapshots) = subscribed(&emu, &[50]).await;
    let snapshot = &late_snapshots[&50];
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(u_of(snapshot), last_u, "the feed's u, not the connection's");
    let mut fresh = LocalBook::default();
    fresh.apply(snapshot);
    assert_eq!(fresh, kept);

    move_price(&emu, dec!(-0.5));
    let next_early = one_per_depth(&mut early, &[50]).await.remove(&50).unwrap();
    let next_late = one_per_depth(&mut late, &[50]).await.remove(&50).unwrap();
    assert_eq!(next_early, next_late);
    assert_eq!(u_of(&next_late), last_u + 1);
}

// REST's `u` is the level-1000 feed's, and its levels are that feed's book at that `u`; with
// no subscriber the feed still numbers each change once.
#[tokio::test]
async fn rest_u_is_the_level_1000_streams_u() {
    let emu = start().await;
    let client = Client::new(&emu);
    let rest = || async {
        let reply = client
            .public(
                "/v5/market/orderbook",
                "category=linear&symbol=BTCUSDT&limit=500",
            )
            .await;
        assert_eq!(reply.ret_code(), 0, "{:?}", reply.body);
        reply.body["result"].clone()
    };

    // No subscriber yet: each change moves REST's `u` by one, and a still book keeps it.
    let first = rest().await;
    let again = rest().await;
    assert_eq!(
        u_of_rest(&again),
        u_of_rest(&first),
        "a still book answers the same u"
    );
    assert_eq!((&again["b"], &again["a"]), (&first["b"], &first["a"]));
    move_price(&emu, dec!(0.5));
    // The change is published at the feed's cadence (200 ms); until then REST answers the
    // book as it stood at the old `u`, never a new book under an old `u`.
    let deadline = tokio::time::Instant::now() + WAIT;
    let moved = loop {
        let answer = rest().await;
        if u_of_rest(&answer) != u_of_rest(&first) {
            break answer;
        }
        assert_eq!((&answer["b"], &answer["a"]), (&first["b"], &first["a"]));
        assert!(
            tokio::time::Instant::now() < deadline,
            "REST's u never moved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        u_of_rest(&moved),
        u_of_rest(&first) + 1,
        "one change, one u"
    );
    assert_ne!(moved["b"], first["b"]);

    // A subscriber starts where REST is, and REST follows the stream.
    let (mut ws, snapshots) = subscribed(&emu, &[1000]).await;
    let snapshot = &snapshots[&1000];
    assert_eq!(u_of(snapshot), u_of_rest(&moved));
    let mut kept = LocalBook::default();
    kept.apply(snapshot);
    for by in [dec!(-1.0), dec!(0.5)] {
        move_price(&emu, by);
        let delta = one_per_depth(&mut ws, &[1000]).await.remove(&1000).unwrap();
        kept.apply(&delta);
        let answer = rest().await;
        assert_eq!(u_of_rest(&answer), u_of(&delta), "REST at the stream's u");
        assert_eq!(answer["seq"], delta["data"]["seq"]);
        assert_eq!(levels(&answer["b"]), kept.bids_best_first(500));
        assert_eq!(levels(&answer["a"]), kept.asks_best_first(500));
    }
}

fn u_of_rest(result: &Value) -> i64 {
    result["u"].as_i64().unwrap()
}

fn levels(side: &Value) -> Vec<(Decimal, Decimal)> {
    side.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l[0].as_str().unwrap().parse().unwrap(),
                l[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}
