//! The captured XRPUSDT order-book stream (REFERENCE.md §6.2; docs/v5/websocket/public/orderbook.mdx)
//! replayed through [`OrderBook`], against a book rebuilt independently from the raw JSON.

use std::collections::BTreeMap;
use std::str::FromStr;

use bybit_types::ws::WsMessage;
use bybit_ws::{Applied, OrderBook};
use rust_decimal::Decimal;
use serde_json::Value;

const CAPTURE: &str = "ws_public_orderbook_ob500_XRPUSDT_2024-12-01.jsonl";

/// The independent rebuild: price → size maps straight from the JSON, no bybit-types.
#[derive(Default)]
struct Reference {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl Reference {
    fn apply(&mut self, frame: &Value) {
        if frame["type"] == "snapshot" {
            self.bids.clear();
            self.asks.clear();
        }
        for (key, side) in [("b", &mut self.bids), ("a", &mut self.asks)] {
            for level in frame["data"][key].as_array().unwrap() {
                let price = Decimal::from_str(level[0].as_str().unwrap()).unwrap();
                let size = Decimal::from_str(level[1].as_str().unwrap()).unwrap();
                if size.is_zero() {
                    side.remove(&price);
                } else {
                    side.insert(price, size);
                }
            }
        }
    }

    fn bids(&self) -> Vec<(Decimal, Decimal)> {
        self.bids.iter().rev().map(|(p, s)| (*p, *s)).collect()
    }

    fn asks(&self) -> Vec<(Decimal, Decimal)> {
        self.asks.iter().map(|(p, s)| (*p, *s)).collect()
    }
}

#[test]
fn the_captured_stream_replays_to_the_independently_rebuilt_book() {
    let Some(text) = testkit::fixture(CAPTURE) else {
        return;
    };
    let depth = 500;
    let mut book = OrderBook::new("XRPUSDT", depth);
    let mut reference = Reference::default();
    let mut frames = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let WsMessage::Orderbook(message) = WsMessage::parse(line).unwrap() else {
            panic!("not an order-book frame: {line:.80}");
        };
        let applied = book.apply(&message).unwrap();
        assert_eq!(applied == Applied::Reset, frames == 0);
        reference.apply(&serde_json::from_str(line).unwrap());
        frames += 1;

        assert_eq!(
            book.bids(usize::MAX),
            reference.bids().as_slice(),
            "frame {frames}"
        );
        assert_eq!(
            book.asks(usize::MAX),
            reference.asks().as_slice(),
            "frame {frames}"
        );
        assert!(book.bids(usize::MAX).len() <= depth && book.asks(usize::MAX).len() <= depth);
        let (bid, ask) = (book.best_bid().unwrap(), book.best_ask().unwrap());
        assert!(bid.0 < ask.0, "crossed at frame {frames}");
        assert_eq!(book.spread(), Some(ask.0 - bid.0));
        assert_eq!(book.update_id(), message.data.update_id);
    }
    assert_eq!(frames, 50);
}
