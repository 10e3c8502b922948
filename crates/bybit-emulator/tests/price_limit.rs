//! The order price limit and the account's price-limit action, over REST.
//!
//! - docs/v5/market/order-price-limit.mdx (`GET /v5/market/price-limit`: `buyLmt`, `sellLmt`)
//! - docs/v5/account/set-price-limit.mdx (`POST /v5/account/set-limit-px-action`: `category`,
//!   `modifyEnable`; futures default `true` = move the price to the bound)
//! - docs/v5/account/get-user-setting-config.mdx (`GET /v5/account/user-setting-config`)
//!
//! The docs disagree with themselves on what `lpaPerp` means: set-price-limit's info box pairs
//! the futures default (`modifyEnable = true`, adjust) with "lpaSpot = true, lpaPerp = false",
//! and get-user-setting-config's info box says "lpaPerp = false. ... the system will
//! automatically adjust", while its parameter table says `lpaPerp` `true` = reject, `false` =
//! adjust, and `lpaSpot` `true` = adjust, `false` = reject. The tables are followed: for futures
//! `lpaPerp == !modifyEnable`; for spot `lpaSpot == modifyEnable`.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::support::{start, Client};

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

fn limit(link: &str, side: &str, price: Decimal) -> Value {
    json!({"category": "linear", "symbol": "BTCUSDT", "side": side, "orderType": "Limit",
        "qty": "0.001", "price": price.to_string(), "orderLinkId": link})
}

async fn order_price(c: &Client, link: &str) -> Decimal {
    let found = c
        .get(
            "/v5/order/realtime",
            &format!("category=linear&orderLinkId={link}"),
        )
        .await;
    dec(&found.body["result"]["list"][0]["price"])
}

async fn band(c: &Client) -> (Decimal, Decimal) {
    let reply = c
        .public("/v5/market/price-limit", "category=linear&symbol=BTCUSDT")
        .await;
    assert_eq!(reply.ret_code(), 0, "{}", reply.body);
    let r = &reply.body["result"];
    assert_eq!(r["symbol"], "BTCUSDT");
    assert!(r["ts"].as_str().unwrap().parse::<i64>().unwrap() > 0);
    (dec(&r["buyLmt"]), dec(&r["sellLmt"]))
}

#[tokio::test]
async fn the_price_limit_is_served_and_a_price_beyond_it_is_moved_by_default() {
    let emu = start().await;
    let c = Client::new(&emu);
    // docs/v5/market/order-price-limit.mdx: category defaults to linear.
    let plain = c.public("/v5/market/price-limit", "symbol=BTCUSDT").await;
    assert_eq!(plain.ret_code(), 0, "{}", plain.body);
    let missing = c.public("/v5/market/price-limit", "category=linear").await;
    assert_eq!(missing.ret_code(), 10001);

    let config = c.get("/v5/account/user-setting-config", "").await;
    assert_eq!(config.ret_code(), 0, "{}", config.body);
    // Futures default: adjust (lpaPerp false); spot default: reject (lpaSpot false).
    assert_eq!(config.body["result"]["lpaPerp"], false);
    assert_eq!(config.body["result"]["lpaSpot"], false);

    let (buy_max, sell_min) = band(&c).await;
    assert!(buy_max > sell_min);
    // A passive sell far above the band keeps the price its sender gave.
    let passive = c
        .post(
            "/v5/order/create",
            &limit("pl-passive", "Sell", buy_max * Decimal::TWO),
        )
        .await;
    assert_eq!(passive.ret_code(), 0, "{}", passive.body);
    assert_eq!(order_price(&c, "pl-passive").await, buy_max * Decimal::TWO);
    // A sell below the minimum sell price is accepted at the minimum (it may trade against
    // the bids at once; either way the price on record is the bound, not the one sent).
    let far = sell_min - Decimal::from(1000);
    let reply = c
        .post("/v5/order/create", &limit("pl-sell", "Sell", far))
        .await;
    assert_eq!(reply.ret_code(), 0, "{}", reply.body);
    let history = c
        .get("/v5/order/history", "category=linear&orderLinkId=pl-sell")
        .await;
    let realtime = c
        .get("/v5/order/realtime", "category=linear&orderLinkId=pl-sell")
        .await;
    let record = realtime.body["result"]["list"]
        .get(0)
        .or_else(|| history.body["result"]["list"].get(0))
        .cloned()
        .unwrap();
    assert_eq!(dec(&record["price"]), sell_min, "{record}");
}

#[tokio::test]
async fn with_modify_enable_false_a_price_beyond_the_band_is_refused() {
    let emu = start().await;
    let c = Client::new(&emu);
    let set = c
        .post(
            "/v5/account/set-limit-px-action",
            &json!({"category": "linear", "modifyEnable": false}),
        )
        .await;
    assert_eq!(set.ret_code(), 0, "{}", set.body);
    assert_eq!(set.body["result"], json!({}));
    let config = c.get("/v5/account/user-setting-config", "").await;
    assert_eq!(config.body["result"]["lpaPerp"], true, "true = reject");
    let (buy_max, sell_min) = band(&c).await;
    let above = c
        .post(
            "/v5/order/create",
            &limit("pl-b", "Buy", buy_max + Decimal::from(100)),
        )
        .await;
    assert_eq!(above.ret_code(), 30208, "{}", above.body);
    let below = c
        .post(
            "/v5/order/create",
            &limit("pl-s", "Sell", sell_min - Decimal::from(100)),
        )
        .await;
    assert_eq!(below.ret_code(), 30209, "{}", below.body);
    // At the bound itself: accepted as sent.
    let at = c
        .post("/v5/order/create", &limit("pl-at", "Buy", sell_min))
        .await;
    assert_eq!(at.ret_code(), 0, "{}", at.body);

    // `inverse` sets every futures category too; spot is its own (lpaSpot true = adjust).
    let inverse = c
        .post(
            "/v5/account/set-limit-px-action",
            &json!({"category": "inverse", "modifyEnable": true}),
        )
        .await;
    assert_eq!(inverse.ret_code(), 0);
    let spot = c
        .post(
            "/v5/account/set-limit-px-action",
            &json!({"category": "spot", "modifyEnable": true}),
        )
        .await;
    assert_eq!(spot.ret_code(), 0);
    let config = c.get("/v5/account/user-setting-config", "").await;
    assert_eq!(config.body["result"]["lpaPerp"], false);
    assert_eq!(config.body["result"]["lpaSpot"], true);

    // Both parameters are required; the category must be one the page lists.
    for body in [
        json!({"category": "linear"}),
        json!({"modifyEnable": true}),
        json!({"category": "option", "modifyEnable": true}),
        json!({"category": "linear", "modifyEnable": "maybe"}),
    ] {
        let reply = c.post("/v5/account/set-limit-px-action", &body).await;
        assert_eq!(reply.ret_code(), 10001, "{body}: {}", reply.body);
    }
}

// docs/v5/websocket/public/order-price-limit.mdx: `priceLimit.{symbol}`, `data` an object
// with `symbol`, `buyLmt`, `sellLmt`; pushed as the band moves (at most every 300 ms). The
// figures are the ones `/v5/market/price-limit` answers.
#[tokio::test]
async fn the_price_limit_topic_follows_the_band() {
    use crate::ws::{is_topic, recv_json_until, subscribe, ws_connect};
    use std::time::Duration;

    let emu = start().await;
    let c = Client::new(&emu);
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    let ack = subscribe(&mut ws, &["priceLimit.BTCUSDT"]).await;
    assert_eq!(ack["success"], true, "{ack}");
    let (first, _) = recv_json_until(
        &mut ws,
        is_topic("priceLimit.BTCUSDT"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(first["data"]["symbol"], "BTCUSDT");
    assert!(first["ts"].as_i64().unwrap() > 0);
    let (buy_max, sell_min) = band(&c).await;
    assert_eq!(dec(&first["data"]["buyLmt"]), buy_max);
    assert_eq!(dec(&first["data"]["sellLmt"]), sell_min);

    let moved = c
        .control("/price", json!({"symbol": "BTCUSDT", "price": "80000"}))
        .await;
    assert_eq!(moved.body["ok"], true, "{}", moved.body);
    let (next, _) = recv_json_until(
        &mut ws,
        is_topic("priceLimit.BTCUSDT"),
        Duration::from_secs(5),
    )
    .await;
    let (buy_max, sell_min) = band(&c).await;
    assert!(buy_max < dec!(80000) * dec!(1.1), "{buy_max}");
    assert_eq!(dec(&next["data"]["buyLmt"]), buy_max);
    assert_eq!(dec(&next["data"]["sellLmt"]), sell_min);
}
