//! The control API reads decimals with the REST API's strict grammar
//! (`params::json_decimal`): `"1_0"` is not 10, and a refused value changes nothing.

use serde_json::{json, Value};

use crate::support::{start, Client};

/// Every decimal the REST side refuses, and a JSON number where it wants a string.
fn bad_values() -> Vec<(Value, &'static str)> {
    vec![
        (json!("1_0"), "not a plain decimal"),
        (json!("1e3"), "not a plain decimal"),
        (json!(" 1"), "not a plain decimal"),
        (json!("+1"), "not a plain decimal"),
        (json!(""), "empty"),
        (json!(10), "must be a string"),
    ]
}

#[tokio::test]
async fn control_decimals_refuse_what_the_rest_grammar_refuses_and_change_nothing() {
    let emu = start().await;
    let c = Client::new(&emu);
    let before = c.state().await;
    let wallet = before["wallet"]["totalWalletBalance"].clone();
    let price = before["prices"]["BTCUSDT"].clone();
    assert!(wallet.is_string() && price.is_string(), "{before}");
    let tick = tick_size(&c).await;

    for (bad, reason) in bad_values() {
        let calls = [
            ("/balance", json!({"usdt": bad}), "usdt"),
            (
                "/price",
                json!({"symbol": "BTCUSDT", "price": bad}),
                "price",
            ),
            (
                "/price-path",
                json!({"symbol": "BTCUSDT", "intervalMs": 10, "prices": ["50000", bad]}),
                "prices[1]",
            ),
            (
                "/replay",
                json!({"symbol": "BTCUSDT", "trades": [[0, bad, "1"]]}),
                "trade price",
            ),
            (
                "/replay",
                json!({"symbol": "BTCUSDT", "trades": [[0, "50000", bad]]}),
                "trade qty",
            ),
            (
                "/book",
                json!({"symbol": "BTCUSDT", "levels": 2, "levelNotional": bad}),
                "levelNotional",
            ),
            (
                "/instrument",
                json!({"symbol": "BTCUSDT", "tickSize": bad}),
                "tickSize",
            ),
        ];
        for (path, body, field) in calls {
            let reply = c.control(path, body.clone()).await;
            assert_eq!(reply.status.as_u16(), 400, "{path} {body}: {}", reply.body);
            assert_eq!(reply.body["ok"], false, "{path} {body}");
            let error = reply.body["error"].as_str().unwrap_or_default();
            assert!(
                error.contains(field) && error.contains(reason),
                "{path} {body}: the error {:?} should name {field} and say {reason}",
                reply.body
            );
        }
    }
    // Nothing took: the same wallet, price, price source and rules.
    let after = c.state().await;
    assert_eq!(after["wallet"]["totalWalletBalance"], wallet);
    assert_eq!(after["prices"]["BTCUSDT"], price);
    assert_eq!(tick_size(&c).await, tick);

    // The grammar's own forms still work: a plain decimal string is taken.
    let ok = c.control("/balance", json!({"usdt": "1234.5"})).await;
    assert!(ok.status.is_success(), "{}", ok.body);
    assert_eq!(c.state().await["wallet"]["totalWalletBalance"], "1234.5");
}

async fn tick_size(c: &Client) -> Value {
    let info = c
        .public(
            "/v5/market/instruments-info",
            "category=linear&symbol=BTCUSDT",
        )
        .await;
    info.body["result"]["list"][0]["priceFilter"]["tickSize"].clone()
}
