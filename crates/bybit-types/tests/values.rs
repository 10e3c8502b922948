//! Value assertions on parsed payloads: the typing rules of REFERENCE.md §13 hold, not just
//! "it parses".

use bybit_types::envelope::{Envelope, RawEnvelope};
use bybit_types::rest::account::{AccountInfo, WalletBalance, WalletCoin};
use bybit_types::rest::execution::{ExecutionList, ExtraFees};
use bybit_types::rest::market::{InstrumentsInfo, Ticker, TickerList};
use bybit_types::rest::order::{
    BatchResult, CancelAllResult, CreateOrderRequest, Order, OrderAck, OrderList, OrderRef,
};
use bybit_types::rest::position::{Position, PositionList};
use bybit_types::ws::private::{ExecutionMessage, PositionMessage, WalletMessage};
use bybit_types::ws::public::{TickerMessage, TradeMessage};
use bybit_types::{
    CancelType, Category, Error, MarginMode, OrderStatus, OrderType, SmpType, StopOrderType,
    TickDirection, TimeInForce, TriggerBy, WireSide,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::{parse, rest_result, round_trip, ws_fixture};

/// The smallest order Bybit could send: the required fields only.
const MINIMAL_ORDER: &str =
    r#"{"orderId":"o-1","symbol":"BTCUSDT","side":"Buy","qty":"0.010","orderStatus":"New"}"#;

#[test]
fn wallet_available_to_withdraw_empty_is_none_and_zero_is_zero() {
    // Live unified accounts send "" (deprecated field); older payloads a number as text.
    let coin: WalletCoin = parse(r#"{"coin":"USDT","availableToWithdraw":"","walletBalance":"5"}"#);
    assert_eq!(coin.available_to_withdraw, None);
    assert_eq!(coin.wallet_balance, Some(dec!(5)));
    assert!(round_trip(&coin).contains(r#""availableToWithdraw":"""#));

    let Some(wallet) = rest_result::<WalletBalance>("rest_wallet_balance.json") else {
        return;
    };
    let account = &wallet.list[0];
    assert_eq!(account.total_equity, Some(dec!(3.31216591)));
    assert_eq!(account.total_perp_upl, Some(Decimal::ZERO));
    let btc = account.coin("BTC").unwrap();
    assert_eq!(btc.available_to_withdraw, Some(Decimal::ZERO));
    assert_eq!(btc.borrow_amount, Some(dec!(0.0)));
    assert_eq!(btc.collateral_switch, Some(true));

    let Some(stream) = ws_fixture::<WalletMessage>("ws_private_wallet.json") else {
        return;
    };
    let btc = stream.data[0].coin("BTC").unwrap();
    assert_eq!(btc.available_to_withdraw, Some(dec!(0.00102964)));
    assert_eq!(btc.available_to_borrow, None);
    assert_eq!(btc.total_order_im, None);
    assert_eq!(
        stream.data[0].total_available_balance,
        Some(dec!(9556.6056555))
    );
}

#[test]
fn flat_position_has_no_side() {
    let Some(message) = ws_fixture::<PositionMessage>("ws_private_position.json") else {
        return;
    };
    let position = &message.data[0];
    assert_eq!(position.side, None);
    assert!(position.is_flat());
    assert_eq!(position.size, Decimal::ZERO);
    assert_eq!(position.position_idx, 2);
    assert_eq!(position.entry_price(), Some(Decimal::ZERO));
    assert_eq!(position.bust_price, None);
    assert_eq!(position.seq, Some(8_327_597_863));
    // Written back, the flat side is Bybit's "" again and the entry price keeps its WS name.
    let written = round_trip(position);
    assert!(written.contains(r#""side":"""#), "{written}");
    assert!(written.contains(r#""entryPrice":"0""#), "{written}");
    assert!(!written.contains("avgPrice"), "{written}");

    // The older spelling of a flat side, "None", is flat too.
    let old: Position = parse(r#"{"symbol":"BTCUSDT","side":"None","size":"0"}"#);
    assert_eq!(old.side, None);
}

#[test]
fn open_positions_read_side_and_entry_price_from_either_name() {
    if let Some(message) = ws_fixture::<PositionMessage>("ws_private_position_linear_nt.json") {
        let short = &message.data[0];
        assert_eq!(short.side, Some(WireSide::Sell));
        assert_eq!(short.signed_size(), dec!(-0.01));
        assert_eq!(short.entry_price(), Some(dec!(3641.075)));
        assert_eq!(short.session_avg_price, None);
        assert_eq!(short.category, Some(Category::Linear));
    }
    let Some(page) = rest_result::<PositionList>("rest_position_list.json") else {
        return;
    };
    let position = &page.list[0];
    assert_eq!(position.avg_price, Some(dec!(27464.50441675)));
    assert_eq!(position.entry_price(), position.avg_price);
    assert_eq!(position.liq_price, None, "liqPrice \"\" is None");
    assert_eq!(position.signed_size(), dec!(-300));
    assert_eq!(position.auto_add_margin, 1);
    assert!(!round_trip(position).contains("entryPrice"));

    let Some(old) = rest_result::<PositionList>("rest_position_list_linear_docs_2023.json") else {
        return;
    };
    // The 2023 payload lacks the newer fields; they are None, not an error.
    let position = &old.list[0];
    assert_eq!(position.break_even_price, None);
    assert_eq!(position.seq, None);
    assert_eq!(position.take_profit, None);
    assert_eq!(position.side, Some(WireSide::Buy));
    assert!(old.has_next_page());
}

#[test]
fn instrument_filters_keep_their_values_and_scale() {
    let Some(info) = rest_result::<InstrumentsInfo>("rest_instruments_info_linear.json") else {
        return;
    };
    let btc = &info.list[0];
    assert_eq!(btc.symbol, "BTCUSDT");
    assert_eq!(btc.price_filter.tick_size, dec!(0.10));
    // The scale is kept as sent, so the value is written back as Bybit wrote it.
    assert_eq!(btc.price_filter.tick_size.to_string(), "0.10");
    assert_eq!(btc.lot_size_filter.qty_step, dec!(0.001));
    assert_eq!(btc.delivery_fee_rate, None);

    let Some(multi) = rest_result::<InstrumentsInfo>("rest_instruments_info_linear_multi.json")
    else {
        return;
    };
    let tick = |symbol: &str| {
        multi
            .list
            .iter()
            .find(|i| i.symbol == symbol)
            .map(|i| i.price_filter.tick_size)
    };
    assert_eq!(tick("BTCUSDT"), Some(dec!(0.10)));
    assert_eq!(tick("SOLUSDT"), Some(dec!(0.010)));
    assert_eq!(tick("1000000BABYDOGEUSDT"), Some(dec!(0.0000001)));
}

#[test]
fn orders_read_enums_fees_and_empty_values() {
    let Some(page) = rest_result::<OrderList>("rest_order_realtime.json") else {
        return;
    };
    assert_eq!(page.category, Some(Category::Linear));
    let order = &page.list[0];
    assert_eq!(order.order_status, OrderStatus::New);
    assert!(order.is_open());
    assert_eq!(order.cancel_type, Some(CancelType::Unspecified));
    assert_eq!(order.stop_order_type, Some(StopOrderType::Unspecified));
    assert_eq!(order.trigger_by, Some(TriggerBy::Unspecified));
    assert_eq!(order.tp_trigger_by, Some(TriggerBy::LastPrice));
    assert_eq!(order.time_in_force, Some(TimeInForce::Gtc));
    assert_eq!(order.smp_type, Some(SmpType::None));
    assert_eq!(order.order_iv, None);
    assert_eq!(order.last_price_on_created, None);
    assert_eq!(order.take_profit, Some(dec!(2500.00)));
    assert_eq!(order.cum_fee_detail.get("MNT"), Some(&dec!(0.00242968)));
    assert_eq!(order.filled_qty(), Decimal::ZERO);
    // Bybit's shape comes back out: decimals as strings with their scale, "" for none.
    let written = round_trip(order);
    for expected in [
        r#""price":"1600.00""#,
        r#""orderIv":"""#,
        r#""cumFeeDetail":{"MNT":"0.00242968"}"#,
        r#""positionIdx":1"#,
        r#""reduceOnly":false"#,
    ] {
        assert!(
            written.contains(expected),
            "{expected} missing from {written}"
        );
    }

    let Some(history) = rest_result::<OrderList>("rest_order_history.json") else {
        return;
    };
    let order = &history.list[0];
    assert_eq!(order.order_status, OrderStatus::Cancelled);
    assert_eq!(order.reject_reason, "EC_PostOnlyWillTakeLiquidity");
    assert_eq!(order.extra_fees, Some(ExtraFees::Text(String::new())));
    assert_eq!(order.rpi_taker_access, Some(false));
}

#[test]
fn executions_read_extra_fees_in_both_shapes() {
    if let Some(message) = ws_fixture::<ExecutionMessage>("ws_private_execution.json") {
        let fill = &message.data[0];
        assert_eq!(fill.exec_price, dec!(95900.1));
        assert_eq!(fill.exec_pnl, Some(dec!(0.05)));
        assert_eq!(fill.seq, Some(140_612_148_849_382));
        let fees = fill.extra_fees.as_ref().unwrap().items();
        assert_eq!(fees.len(), 1);
        assert_eq!(fees[0].fee, Some(dec!(0.006403779)));
        assert_eq!(fees[0].fee_type, "GST");
    }
    let Some(page) = rest_result::<ExecutionList>("rest_execution_list.json") else {
        return;
    };
    let fill = &page.list[0];
    assert_eq!(fill.exec_id, "e0cbe81d-0f18-5866-9415-cf319b5dab3b");
    assert_eq!(fill.exec_fee, Some(dec!(0.071409)));
    assert_eq!(fill.exec_time, Some(1_672_282_722_429));
    assert_eq!(fill.closed_size, None);
    assert!(fill.extra_fees.as_ref().unwrap().items().is_empty());
}

#[test]
fn unknown_enum_values_are_kept_not_refused() {
    let order: Order = parse(
        r#"{"orderId":"o-1","symbol":"BTCUSDT","side":"Sell","qty":"1","orderStatus":"Frozen",
            "orderType":"Iceberg","timeInForce":"GTD","cancelType":"CancelByMoon"}"#,
    );
    assert_eq!(
        order.order_status,
        OrderStatus::Unknown("Frozen".to_owned())
    );
    assert_eq!(
        order.order_type,
        Some(OrderType::Unknown("Iceberg".to_owned()))
    );
    assert_eq!(
        order.time_in_force,
        Some(TimeInForce::Unknown("GTD".to_owned()))
    );
    assert_eq!(
        order.cancel_type,
        Some(CancelType::Unknown("CancelByMoon".to_owned()))
    );
    assert!(!order.order_status.is_open());
    // And they are written back as received.
    assert!(round_trip(&order).contains(r#""orderStatus":"Frozen""#));

    let account: AccountInfo = parse(r#"{"marginMode":"SUPER_MARGIN"}"#);
    assert_eq!(
        account.margin_mode,
        Some(MarginMode::Unknown("SUPER_MARGIN".to_owned()))
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let with_extra = MINIMAL_ORDER.replace('}', r#","brandNewField":{"x":[1,2]},"qtyV2":"7"}"#);
    let order: Order = parse(&with_extra);
    assert_eq!(order, parse::<Order>(MINIMAL_ORDER));

    let envelope =
        RawEnvelope::parse(br#"{"retCode":0,"retMsg":"OK","result":{"orderId":"1","orderLinkId":"a","extra":1},"newTopLevel":true}"#)
            .unwrap();
    let ack: OrderAck = envelope.decode("order/create").unwrap();
    assert_eq!(ack.order_link_id, "a");
}

#[test]
fn missing_optional_fields_are_fine() {
    let order: Order = parse(MINIMAL_ORDER);
    assert_eq!(
        order,
        Order::new(
            "o-1",
            "BTCUSDT",
            WireSide::Buy,
            dec!(0.010),
            OrderStatus::New
        )
    );
    assert_eq!(order.avg_price, None);
    assert_eq!(order.category, None);
    assert!(order.cum_fee_detail.is_empty());

    let ticker: Ticker = parse(r#"{"symbol":"ETHUSDT"}"#);
    assert_eq!(ticker.last_price, None);

    // An envelope without retExtInfo and time (account/info in the docs).
    let envelope: Envelope<AccountInfo> =
        parse(r#"{"retCode":0,"retMsg":"OK","result":{"unifiedMarginStatus":5}}"#);
    assert_eq!(envelope.result.unified_margin_status, Some(5));
    assert_eq!(envelope.result.margin_mode, None);
    assert_eq!(envelope.time, None);
}

#[test]
fn bad_input_is_a_decode_error_not_a_panic() {
    let is_decode = |r: Result<_, Error>| matches!(r, Err(Error::Decode { .. }));
    assert!(is_decode(RawEnvelope::parse(b"{not json").map(|_| ())));
    assert!(is_decode(RawEnvelope::parse(b"").map(|_| ())));
    assert!(is_decode(RawEnvelope::parse(b"[1,2]").map(|_| ())));
    // A success envelope whose result does not fit the type.
    let envelope = RawEnvelope::parse(br#"{"retCode":0,"retMsg":"OK","result":{}}"#).unwrap();
    assert!(is_decode(
        envelope.decode::<OrderAck>("order/create").map(|_| ())
    ));
    // A required decimal that is not one.
    let bad_qty = MINIMAL_ORDER.replace("0.010", "lots");
    let envelope = RawEnvelope::parse(
        format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"list":[{bad_qty}]}}}}"#).as_bytes(),
    )
    .unwrap();
    let err = envelope.decode::<OrderList>("order/realtime").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                what: "order/realtime",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn batch_items_pair_with_their_codes() {
    let Some(text) = testkit::fixture("rest_order_create_batch.json") else {
        return;
    };
    let envelope = RawEnvelope::parse(text.as_bytes()).unwrap();
    let batch: BatchResult = envelope.decode("order/create-batch").unwrap();
    let pairs: Vec<_> = batch.with_results(&envelope.ret_ext_info).collect();
    assert_eq!(pairs.len(), 2);
    assert!(pairs.iter().all(|(_, r)| r.is_some_and(|r| r.code == 0)));
    assert_eq!(pairs[0].0.create_at, Some(1_713_434_102_752));
    assert_eq!(pairs[1].0.category, Some(Category::Spot));

    let Some(all) = rest_result::<CancelAllResult>("rest_order_cancel_all.json") else {
        return;
    };
    assert!(all.is_success());
    assert_eq!(all.list.len(), 2);
}

#[test]
fn ticker_delta_merges_into_the_snapshot() {
    let Some(snapshot) = ws_fixture::<TickerMessage>("ws_public_tickers.json") else {
        return;
    };
    assert!(snapshot.is_snapshot());
    assert_eq!(snapshot.topic_symbol(), "BTCUSDT");
    let mut ticker = snapshot.data.clone();
    assert_eq!(ticker.tick_direction, Some(TickDirection::MinusTick));
    assert_eq!(ticker.funding_interval_hour, Some(8));
    assert_eq!(ticker.pre_open_price, None);

    let delta: TickerMessage = parse(
        r#"{"topic":"tickers.BTCUSDT","type":"delta","ts":1760325052730,"cs":9532239430,
            "data":{"symbol":"BTCUSDT","bid1Price":"66666.50","bid1Size":"1.5"}}"#,
    );
    assert!(!delta.is_snapshot());
    ticker.merge(&delta.data);
    assert_eq!(ticker.bid1_price, Some(dec!(66666.50)));
    assert_eq!(ticker.bid1_size, Some(dec!(1.5)));
    assert_eq!(
        ticker.last_price, snapshot.data.last_price,
        "absent means unchanged"
    );
    assert_eq!(ticker.ask1_price, Some(dec!(66666.70)));
    // A delta written back carries only what it carried.
    let written = round_trip(&delta.data);
    assert!(!written.contains("lastPrice"), "{written}");

    if let Some(futures) = ws_fixture::<TickerMessage>("ws_public_tickers_linear_futures.json") {
        assert_eq!(
            futures.data.delivery_time.as_deref(),
            Some("2025-12-26T08:00:00Z")
        );
        assert_eq!(futures.data.funding_rate, None);
        assert_eq!(futures.data.basis, Some(dec!(-4730.84)));
    }
    if let Some(list) = rest_result::<TickerList>("rest_market_tickers_inverse.json") {
        assert_eq!(list.category, Some(Category::Inverse));
        assert_eq!(list.list[0].delivery_time.as_deref(), Some("0"));
        assert_eq!(list.list[0].next_funding_time, Some(1_760_371_200_000));
    }
}

#[test]
fn public_trades_read_their_short_names() {
    let Some(message) = ws_fixture::<TradeMessage>("ws_public_trade.json") else {
        return;
    };
    let trade = &message.data[0];
    assert_eq!(trade.time, 1_672_304_486_865);
    assert_eq!(trade.side, WireSide::Buy);
    assert_eq!(trade.size, dec!(0.001));
    assert_eq!(trade.price, dec!(16578.50));
    assert_eq!(trade.tick_direction, Some(TickDirection::PlusTick));
    assert!(!trade.block_trade);
    assert_eq!(trade.rpi, None, "this example has no RPI field");
    assert!(round_trip(trade).contains(r#""p":"16578.50""#));
}

#[test]
fn requests_write_decimals_as_strings_and_leave_out_none() {
    let mut request = CreateOrderRequest::new(
        Category::Linear,
        "BTCUSDT",
        WireSide::Buy,
        OrderType::Limit,
        dec!(0.010),
    );
    request.price = Some(dec!(50000.10));
    request.time_in_force = Some(TimeInForce::PostOnly);
    request.order_link_id = Some("andre_ENTRY_1".to_owned());
    let written = round_trip(&request);
    assert_eq!(
        written,
        r#"{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.010","price":"50000.10","timeInForce":"PostOnly","orderLinkId":"andre_ENTRY_1"}"#
    );

    let cancel = bybit_types::rest::order::CancelOrderRequest::new(
        Category::Linear,
        "BTCUSDT",
        OrderRef::OrderLinkId("andre_ENTRY_1".to_owned()),
    );
    assert_eq!(
        round_trip(&cancel),
        r#"{"category":"linear","symbol":"BTCUSDT","orderLinkId":"andre_ENTRY_1"}"#
    );
}

/// docs/changelog/v5.mdx and docs/v5/enum.mdx execType: `CorporateAction` (stock split or
/// reverse stock split) is a named kind; an execType added later keeps its text. Both
/// serialize back to Bybit's word. docs/v5/order/execution.mdx: `feeCurrency` is read.
#[test]
fn corporate_action_and_unknown_exec_types_keep_their_kind() {
    use bybit_types::rest::execution::Execution;
    use bybit_types::ExecType;
    for (word, want) in [
        ("CorporateAction", ExecType::CorporateAction),
        (
            "StockDividend",
            ExecType::Unknown("StockDividend".to_owned()),
        ),
    ] {
        let e: Execution = serde_json::from_value(serde_json::json!({
            "symbol": "AAPLUSDT", "orderId": "", "orderLinkId": "", "side": "Buy",
            "execId": "c1", "execPrice": "0", "execQty": "0", "execType": word,
            "execFee": "0", "feeCurrency": "USDT", "isMaker": false, "execTime": "1"
        }))
        .unwrap();
        assert_eq!(e.exec_type, Some(want));
        assert_eq!(e.fee_currency, "USDT");
        let back = serde_json::to_value(&e).unwrap();
        assert_eq!(back["execType"], word);
    }
}

/// docs/v5/order/open-order.mdx: `parentOrderLinkId` on an attached TP/SL order.
#[test]
fn a_child_order_keeps_its_parent_order_link_id() {
    let o: Order = serde_json::from_value(serde_json::json!({
        "symbol": "BTCUSDT", "orderId": "c1", "orderLinkId": "", "side": "Sell",
        "orderType": "Market", "qty": "0", "orderStatus": "Untriggered",
        "stopOrderType": "TakeProfit", "parentOrderLinkId": "andre_ENTRY_T1",
        "cumFeeDetail": {}
    }))
    .unwrap();
    assert_eq!(o.parent_order_link_id.as_deref(), Some("andre_ENTRY_T1"));
    assert_eq!(
        serde_json::to_value(&o).unwrap()["parentOrderLinkId"],
        "andre_ENTRY_T1"
    );
}
