//! Issue 16 item 5 (last bullet): position records with the fields
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
