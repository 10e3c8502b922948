//! `POST /v5/position/switch-mode` (docs/v5/position/position-mode.mdx: `mode` 0 one-way,
//! 3 hedge; docs/v5/error.mdx 110024 / 110025 / 110028) and how a hedge-mode symbol is
//! listed (docs/v5/position/position.mdx: positionIdx 1 Buy side, 2 Sell side). Hedge-mode
//! trading itself is not emulated: an order there is refused like a one-way order on Bybit.

use serde_json::json;

use crate::support::{start, Client};

fn switch(symbol: &str, mode: i64) -> serde_json::Value {
    json!({"category": "linear", "symbol": symbol, "mode": mode})
}

fn order(link: &str, order_type: &str) -> serde_json::Value {
    json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": order_type,
           "qty": "0.1", "price": "1000", "orderLinkId": link})
}

async fn idxs(c: &Client, symbol: &str) -> Vec<i64> {
    let r = c
        .get(
            "/v5/position/list",
            &format!("category=linear&symbol={symbol}"),
        )
        .await;
    assert_eq!(r.ret_code(), 0, "{:?}", r.body);
    r.body["result"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["positionIdx"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn switching_is_refused_with_a_position_or_orders_and_hedge_mode_lists_both_sides() {
    let emu = start().await;
    let c = Client::new(&emu);
    let path = "/v5/position/switch-mode";
    assert_eq!(idxs(&c, "ETHUSDT").await, [0]);
    // Already one-way.
    assert_eq!(c.post(path, &switch("ETHUSDT", 0)).await.ret_code(), 110025);

    // A resting order blocks the switch (110028).
    assert_eq!(
        c.post("/v5/order/create", &order("rest", "Limit"))
            .await
            .ret_code(),
        0
    );
    assert_eq!(c.post(path, &switch("ETHUSDT", 3)).await.ret_code(), 110028);
    let cancel = json!({"category": "linear", "symbol": "ETHUSDT", "orderLinkId": "rest"});
    assert_eq!(c.post("/v5/order/cancel", &cancel).await.ret_code(), 0);

    // A position blocks it (110024).
    assert_eq!(
        c.post("/v5/order/create", &order("open", "Market"))
            .await
            .ret_code(),
        0
    );
    assert_eq!(c.post(path, &switch("ETHUSDT", 3)).await.ret_code(), 110024);
    let close = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Sell",
                       "orderType": "Market", "qty": "0.1", "reduceOnly": true});
    assert_eq!(c.post("/v5/order/create", &close).await.ret_code(), 0);

    // Flat with nothing open: hedge mode, listed as two sides, then refused as unchanged.
    assert_eq!(c.post(path, &switch("ETHUSDT", 3)).await.ret_code(), 0);
    assert_eq!(idxs(&c, "ETHUSDT").await, [1, 2]);
    assert_eq!(idxs(&c, "BTCUSDT").await, [0], "other symbols keep one-way");
    assert_eq!(c.post(path, &switch("ETHUSDT", 3)).await.ret_code(), 110025);
    // A one-way order (positionIdx 0) on a hedge-mode symbol: Bybit's 10001.
    let refused = c.post("/v5/order/create", &order("hedged", "Limit")).await;
    assert_eq!(refused.ret_code(), 10001);
    assert_eq!(
        refused.body["retMsg"],
        "position idx not match position mode"
    );

    // And back.
    assert_eq!(c.post(path, &switch("ETHUSDT", 0)).await.ret_code(), 0);
    assert_eq!(idxs(&c, "ETHUSDT").await, [0]);

    // By coin: every USDT symbol without a position or orders.
    let by_coin = json!({"category": "linear", "coin": "USDT", "mode": 3});
    assert_eq!(c.post(path, &by_coin).await.ret_code(), 0);
    assert_eq!(idxs(&c, "BTCUSDT").await, [1, 2]);
    let bad = [
        json!({"category": "linear", "symbol": "ETHUSDT", "mode": 1}),
        json!({"category": "linear", "mode": 0}),
        json!({"category": "linear", "symbol": "NOPEUSDT", "mode": 3}),
    ];
    for body in bad {
        assert_eq!(c.post(path, &body).await.ret_code(), 10001, "{body}");
    }
}
