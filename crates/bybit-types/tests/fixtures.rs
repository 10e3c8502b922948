//! Every file in the shared fixture folder, parsed into its type through one table.

use std::collections::BTreeMap;
use std::fmt::Debug;

use bybit_types::envelope::{Empty, Envelope, RawEnvelope};
use bybit_types::rest::account::{AccountInfo, SetMarginModeResult, WalletBalance};
use bybit_types::rest::execution::ExecutionList;
use bybit_types::rest::market::{InstrumentsInfo, ServerTime, TickerList};
use bybit_types::rest::order::{BatchResult, CancelAllResult, OrderAck, OrderList};
use bybit_types::rest::position::PositionList;
use bybit_types::ws::op::OpReply;
use bybit_types::ws::private::PrivateMessage;
use bybit_types::ws::public::{OrderbookMessage, TopicMessage};
use bybit_types::ws::WsMessage;
use bybit_types::UpdateType;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{parse, round_trip};

/// Checks one fixture's text.
type Check = fn(&str);

/// File name -> how to check it. A fixture without an entry fails the walk, so a new file
/// can't be skipped silently; an entry without a file fails too, so a rename is noticed.
fn table() -> Vec<(&'static str, Check)> {
    vec![
        // REST successes.
        ("rest_account_info.json", rest_ok::<AccountInfo>),
        ("rest_execution_list.json", rest_ok::<ExecutionList>),
        (
            "rest_instruments_info_linear.json",
            rest_ok::<InstrumentsInfo>,
        ),
        (
            "rest_instruments_info_linear_multi.json",
            rest_ok::<InstrumentsInfo>,
        ),
        (
            "rest_instruments_info_linear_prelisting.json",
            rest_ok::<InstrumentsInfo>,
        ),
        ("rest_market_tickers_inverse.json", rest_ok::<TickerList>),
        ("rest_order_amend.json", rest_ok::<OrderAck>),
        ("rest_order_cancel.json", rest_ok::<OrderAck>),
        ("rest_order_cancel_all.json", rest_ok::<CancelAllResult>),
        ("rest_order_create.json", rest_ok::<OrderAck>),
        ("rest_order_create_batch.json", rest_ok::<BatchResult>),
        ("rest_order_history.json", rest_ok::<OrderList>),
        ("rest_order_realtime.json", rest_ok::<OrderList>),
        ("rest_position_list.json", rest_ok::<PositionList>),
        (
            "rest_position_list_linear_docs_2023.json",
            rest_ok::<PositionList>,
        ),
        ("rest_position_set_leverage.json", rest_ok::<Empty>),
        ("rest_position_trading_stop.json", rest_ok::<Empty>),
        ("rest_server_time.json", rest_ok::<ServerTime>),
        ("rest_wallet_balance.json", rest_ok::<WalletBalance>),
        // REST errors.
        ("rest_error_110001_order_not_exists.json", |t| {
            assert_eq!(rest_err(t).ret_code, 110_001);
        }),
        ("rest_error_set_margin_mode_3400045.json", |t| {
            let envelope = rest_err(t);
            assert_eq!(envelope.ret_code, 3_400_045);
            let result: SetMarginModeResult = envelope.decode("set-margin-mode").unwrap();
            assert_eq!(result.reasons.len(), 1);
            assert_eq!(result.reasons[0].reason_code, "3400000");
            round_trip(&result);
        }),
        // Operation replies.
        ("ws_auth_reply.json", |t| assert_op(t, "auth", true)),
        ("ws_auth_reply_failure.json", |t| {
            assert_op(t, "auth", false)
        }),
        ("ws_trade_auth_reply.json", |t| assert_op(t, "auth", true)),
        ("ws_subscribe_reply_linear.json", |t| {
            assert_op(t, "subscribe", true)
        }),
        ("ws_subscribe_reply_private.json", |t| {
            assert_op(t, "subscribe", true)
        }),
        ("ws_pong_public_linear.json", |t| assert!(op(t).is_pong())),
        ("ws_pong_private.json", |t| assert!(op(t).is_pong())),
        ("ws_trade_pong.json", |t| assert!(op(t).is_pong())),
        ("ws_trade_order_create_reply.json", |t| {
            let OpReply::Trade(reply) = op(t) else {
                panic!("trade-stream reply read as the stream shape")
            };
            round_trip(&reply.decode::<OrderAck>("order.create").unwrap());
        }),
        ("ws_trade_order_create_batch_reply.json", |t| {
            let OpReply::Trade(reply) = op(t) else {
                panic!("trade-stream reply read as the stream shape")
            };
            round_trip(&reply.decode::<BatchResult>("order.create-batch").unwrap());
        }),
        // Private topics.
        ("ws_private_order.json", |t| {
            private(t, |m| matches!(m, WsMessage::Order(_)))
        }),
        ("ws_private_execution.json", |t| {
            private(t, |m| matches!(m, WsMessage::Execution(_)))
        }),
        ("ws_private_execution_fast.json", |t| {
            private(t, |m| matches!(m, WsMessage::FastExecution(_)))
        }),
        ("ws_private_position.json", |t| {
            private(t, |m| matches!(m, WsMessage::Position(_)))
        }),
        ("ws_private_position_linear_nt.json", |t| {
            private(t, |m| matches!(m, WsMessage::Position(_)))
        }),
        ("ws_private_wallet.json", |t| {
            private(t, |m| matches!(m, WsMessage::Wallet(_)))
        }),
        // Public topics.
        ("ws_public_tickers.json", |t| {
            public(t, |m| matches!(m, WsMessage::Ticker(_)))
        }),
        ("ws_public_tickers_delta.json", |t| {
            public(t, |m| matches!(m, WsMessage::Ticker(_)))
        }),
        ("ws_public_tickers_linear_futures.json", |t| {
            public(t, |m| matches!(m, WsMessage::Ticker(_)))
        }),
        ("ws_public_trade.json", |t| {
            public(t, |m| matches!(m, WsMessage::Trade(_)))
        }),
        ("ws_public_orderbook_snapshot.json", |t| {
            public(t, |m| matches!(m, WsMessage::Orderbook(_)))
        }),
        ("ws_public_orderbook_delta.json", |t| {
            public(t, |m| matches!(m, WsMessage::Orderbook(_)))
        }),
        ("ws_public_orderbook_snapshot_docs.json", |t| {
            public(t, |m| matches!(m, WsMessage::Orderbook(_)))
        }),
        ("ws_public_orderbook_delta_docs.json", |t| {
            public(t, |m| matches!(m, WsMessage::Orderbook(_)))
        }),
        (
            "ws_public_orderbook_ob500_XRPUSDT_2024-12-01.jsonl",
            replay_orderbook,
        ),
    ]
}

#[test]
fn every_fixture_file_parses_into_its_type() {
    let Some(names) = testkit::fixture_names() else {
        return;
    };
    assert!(!names.is_empty(), "the fixture folder lists no files");
    let table = table();
    let mut unmapped = Vec::new();
    let mut failed = Vec::new();
    for name in &names {
        let Some((_, check)) = table.iter().find(|(file, _)| file == name) else {
            unmapped.push(name.clone());
            continue;
        };
        let text = testkit::fixture(name).unwrap();
        // Every fixture is checked even after one fails, so one run lists them all.
        if std::panic::catch_unwind(|| check(&text)).is_err() {
            failed.push(name.clone());
        }
    }
    let stale: Vec<_> = table
        .iter()
        .filter(|(file, _)| !names.iter().any(|n| n == file))
        .map(|(file, _)| *file)
        .collect();
    assert!(
        unmapped.is_empty() && stale.is_empty() && failed.is_empty(),
        "fixtures with no entry in the table: {unmapped:?}\n\
         table entries with no fixture file: {stale:?}\n\
         fixtures that failed their check (panics above): {failed:?}"
    );
}

/// A success reply: the envelope reads, `result` decodes, and both the result and the typed
/// envelope survive a round trip.
fn rest_ok<T>(text: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let envelope = RawEnvelope::parse(text.as_bytes()).unwrap();
    assert!(envelope.is_success(), "retCode {}", envelope.ret_code);
    let result: T = envelope.decode("fixture result").unwrap();
    round_trip(&result);
    let typed: Envelope<T> = parse(text);
    assert_eq!(typed.result, result);
    round_trip(&typed);
}

/// An error reply: the envelope reads and says failure.
fn rest_err(text: &str) -> RawEnvelope {
    let envelope = RawEnvelope::parse(text.as_bytes()).unwrap();
    assert!(!envelope.is_success());
    assert!(!envelope.ret_msg.is_empty());
    envelope
}

/// An operation reply: reads as [`OpReply`], classifies as [`WsMessage::Op`], round-trips.
fn op(text: &str) -> OpReply {
    let reply = OpReply::parse(text).unwrap();
    round_trip(&reply);
    assert_eq!(
        WsMessage::parse(text).unwrap(),
        WsMessage::Op(reply.clone())
    );
    reply
}

fn assert_op(text: &str, name: &str, success: bool) {
    let reply = op(text);
    assert_eq!(reply.op(), name);
    assert_eq!(reply.is_success(), success, "{text}");
    assert!(!reply.is_pong());
}

/// A private topic message: at least one record, the right [`WsMessage`] variant, a round trip.
fn private(text: &str, is_variant: fn(&WsMessage) -> bool) {
    let message = WsMessage::parse(text).unwrap();
    assert!(is_variant(&message), "classified as {message:?}");
    round_trip(&message);
    match &message {
        WsMessage::Order(m) => check_private(text, m),
        WsMessage::Execution(m) => check_private(text, m),
        WsMessage::FastExecution(m) => check_private(text, m),
        WsMessage::Position(m) => check_private(text, m),
        WsMessage::Wallet(m) => check_private(text, m),
        other => panic!("not a private topic: {other:?}"),
    }
}

fn check_private<T>(text: &str, classified: &PrivateMessage<T>)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let direct: PrivateMessage<T> = parse(text);
    assert_eq!(&direct, classified);
    assert!(!direct.data.is_empty());
    round_trip(&direct);
}

/// A public topic message: the right [`WsMessage`] variant and a round trip.
fn public(text: &str, is_variant: fn(&WsMessage) -> bool) {
    let message = WsMessage::parse(text).unwrap();
    assert!(is_variant(&message), "classified as {message:?}");
    round_trip(&message);
    match &message {
        WsMessage::Ticker(m) => check_public(text, m),
        WsMessage::Trade(m) => check_public(text, m),
        WsMessage::Orderbook(m) => check_public(text, m),
        other => panic!("not a public topic: {other:?}"),
    }
}

fn check_public<T>(text: &str, classified: &TopicMessage<T>)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let direct: TopicMessage<T> = parse(text);
    assert_eq!(&direct, classified);
    assert!(direct.ts > 0);
    round_trip(&direct);
}

/// A local book: price -> size per side. Deliberately the simplest thing that follows
/// Bybit's rules, so the test checks the data and the types, not a clever book.
#[derive(Default)]
struct Book {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl Book {
    fn apply(&mut self, message: &OrderbookMessage) {
        if message.kind == UpdateType::Snapshot {
            *self = Book::default();
        }
        for (side, levels) in [
            (&mut self.bids, &message.data.bids),
            (&mut self.asks, &message.data.asks),
        ] {
            for &(price, size) in levels {
                if size.is_zero() {
                    side.remove(&price);
                } else {
                    side.insert(price, size);
                }
            }
        }
    }

    fn best_bid(&self) -> Option<Decimal> {
        self.bids.keys().next_back().copied()
    }

    fn best_ask(&self) -> Option<Decimal> {
        self.asks.keys().next().copied()
    }
}

/// Replays the captured stream: every line parses (directly and through [`WsMessage`]), the
/// first is a snapshot, `u` rises by one per message, and the book never crosses.
fn replay_orderbook(text: &str) {
    let mut book = Book::default();
    let mut last_update = None;
    let mut lines = 0;
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let message: OrderbookMessage = parse(line);
        assert_eq!(
            WsMessage::parse(line).unwrap(),
            WsMessage::Orderbook(message.clone())
        );
        round_trip(&message);
        assert_eq!(
            message.is_snapshot(),
            i == 0,
            "line {i}: only the first is a snapshot"
        );
        if let Some(last) = last_update {
            assert_eq!(message.data.update_id, last + 1, "line {i}: gap in u");
        }
        last_update = Some(message.data.update_id);
        book.apply(&message);
        let (bid, ask) = (book.best_bid().unwrap(), book.best_ask().unwrap());
        assert!(bid < ask, "line {i}: crossed book, bid {bid} >= ask {ask}");
        assert_eq!((book.bids.len(), book.asks.len()), (500, 500), "line {i}");
        lines += 1;
    }
    assert_eq!(lines, 50);
}
