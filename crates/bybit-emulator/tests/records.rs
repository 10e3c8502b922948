//! Position records with the fields
//! docs/v5/position/position.mdx lists.

use rust_decimal::Decimal;
use serde_json::json;

use crate::support::{start, Client};

fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

/// `breakEvenPrice` = (entry × qty − realised) / (qty − |qty| × max(taker, 0.00055)) with qty
/// signed; `positionIMByMp` / `positionMMByMp` the same values as `positionIM` /
/// `positionMM`; `openTime` the opening time, 0 when flat.
#[tokio::test]
async fn a_position_carries_break_even_price_margins_by_mark_and_open_time() {
    let emu = start().await;
    let c = Client::new(&emu);
    let order = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Sell",
                       "orderType": "Market", "qty": "0.5", "orderLinkId": "short"});
    assert_eq!(c.post("/v5/order/create", &order).await.ret_code(), 0);
    let r = c
        .get("/v5/position/list", "category=linear&symbol=ETHUSDT")
        .await;
    let p = &r.body["result"]["list"][0];
    let qty = -dec(&p["size"]);
    let expected = (dec(&p["avgPrice"]) * qty - dec(&p["curRealisedPnl"]))
        / (qty - qty.abs() * Decimal::new(55, 5));
    assert_eq!(dec(&p["breakEvenPrice"]), expected.round_dp(8), "{p}");
    assert!(
        dec(&p["breakEvenPrice"]) < dec(&p["avgPrice"]),
        "a short breaks even below entry"
    );
    assert_eq!(p["positionIMByMp"], p["positionIM"]);
    assert_eq!(p["positionMMByMp"], p["positionMM"]);
    assert_eq!(
        p["openTime"].as_i64(),
        p["createdTime"].as_str().map(|t| t.parse().unwrap())
    );

    let close = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                       "orderType": "Market", "qty": "0.5", "orderLinkId": "close"});
    assert_eq!(c.post("/v5/order/create", &close).await.ret_code(), 0);
    let r = c
        .get("/v5/position/list", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(r.body["result"]["list"][0]["openTime"], 0);
}

/// Parameters as the docs define them, refused where Bybit refuses.
#[tokio::test]
async fn parameters_are_checked_as_the_docs_define_them() {
    let emu = start().await;
    let c = Client::new(&emu);
    // docs/v5/order/create-order.mdx, reduceOnly: "take profit/stop loss cannot be set".
    let r = c
        .post(
            "/v5/order/create",
            &json!({"category": "linear", "symbol": "ETHUSDT", "side": "Sell",
                    "orderType": "Limit", "qty": "0.1", "price": "4000", "reduceOnly": true,
                    "stopLoss": "5000"}),
        )
        .await;
    assert_eq!(r.ret_code(), 10001, "{}", r.body);
    // docs/v5/order/create-order.mdx: Partial limit TP/SL is not modelled, so refused, never
    // turned into a position-wide market TP.
    let r = c
        .post(
            "/v5/order/create",
            &json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                    "orderType": "Limit", "qty": "0.1", "price": "3000", "takeProfit": "4000",
                    "tpslMode": "Partial", "tpOrderType": "Limit", "tpLimitPrice": "3990"}),
        )
        .await;
    assert_eq!(r.ret_code(), 10001, "{}", r.body);
    assert!(
        c.get("/v5/order/realtime", "category=linear&symbol=ETHUSDT")
            .await
            .body["result"]["list"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing placed"
    );
    // docs/v5/enum.mdx smpType: one of its values.
    let r = c
        .post(
            "/v5/order/create",
            &json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                    "orderType": "Market", "qty": "0.1", "smpType": "CancelSome"}),
        )
        .await;
    assert_eq!(r.ret_code(), 10001, "{}", r.body);
    let r = c
        .post(
            "/v5/order/create",
            &json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                    "orderType": "Market", "qty": "0.1", "smpType": "CancelMaker"}),
        )
        .await;
    assert_eq!(r.ret_code(), 0, "{}", r.body);
    // docs/v5/position/trading-stop.mdx: tpslMode and positionIdx are required.
    for body in [
        json!({"category": "linear", "symbol": "ETHUSDT", "positionIdx": 0, "stopLoss": "2000"}),
        json!({"category": "linear", "symbol": "ETHUSDT", "tpslMode": "Full", "stopLoss": "2000"}),
    ] {
        let r = c.post("/v5/position/trading-stop", &body).await;
        assert_eq!(r.ret_code(), 10001, "{body}: {}", r.body);
    }
    let r = c
        .post(
            "/v5/position/trading-stop",
            &json!({"category": "linear", "symbol": "ETHUSDT", "tpslMode": "Full",
                    "positionIdx": 0, "stopLoss": "2000"}),
        )
        .await;
    assert_eq!(r.ret_code(), 0, "{}", r.body);
    // docs/v5/account/fee-rate.mdx: category is required.
    assert_eq!(c.get("/v5/account/fee-rate", "").await.ret_code(), 10001);
    assert_eq!(
        c.get("/v5/account/fee-rate", "category=linear")
            .await
            .ret_code(),
        0
    );
    // docs/v5/market/orderbook.mdx: linear limit 1..=1000.
    for (limit, code) in [(1000, 0), (1001, 10001), (0, 10001)] {
        let r = c
            .public(
                "/v5/market/orderbook",
                &format!("category=linear&symbol=ETHUSDT&limit={limit}"),
            )
            .await;
        assert_eq!(r.ret_code(), code, "limit {limit}: {}", r.body);
    }
    // 110001 with Bybit's own text (fixtures/rest_error_110001_order_not_exists.json).
    let r = c
        .post(
            "/v5/order/cancel",
            &json!({"category": "linear", "symbol": "ETHUSDT", "orderLinkId": "never"}),
        )
        .await;
    assert_eq!(r.ret_code(), 110001);
    assert_eq!(r.body["retMsg"], "order not exists or too late to cancel");
}
