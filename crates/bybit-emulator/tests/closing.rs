//! `closeOnTrigger` can only reduce, and TP/SL children
//! name their parent.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::support::{start, Client};

fn create(body: Value) -> Value {
    let mut body = body;
    body["category"] = json!("linear");
    body["symbol"] = json!("ETHUSDT");
    body
}

async fn position_size(c: &Client) -> Decimal {
    let r = c
        .get("/v5/position/list", "category=linear&symbol=ETHUSDT")
        .await;
    r.body["result"]["list"][0]["size"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// docs/v5/order/create-order.mdx, closeOnTrigger: "For a closing order. It can only reduce
/// your position, not increase it." An order with `closeOnTrigger=true` (and `reduceOnly`
/// false) that would open or add is refused with reduce-only's 110017 and nothing is placed;
/// one that reduces is placed and cut to the position, as a reduce-only order is.
#[tokio::test]
async fn close_on_trigger_can_only_reduce() {
    let emu = start().await;
    let c = Client::new(&emu);
    // Flat: a closeOnTrigger order would open a position.
    let r = c
        .post(
            "/v5/order/create",
            &create(json!({"side": "Buy", "orderType": "Market", "qty": "0.1",
                           "closeOnTrigger": true, "orderLinkId": "cot-open"})),
        )
        .await;
    assert_eq!(r.ret_code(), 110017, "{}", r.body);
    assert_eq!(position_size(&c).await, dec!(0), "nothing opened");

    let r = c
        .post(
            "/v5/order/create",
            &create(json!({"side": "Buy", "orderType": "Market", "qty": "0.2",
                           "orderLinkId": "entry"})),
        )
        .await;
    assert_eq!(r.ret_code(), 0, "{}", r.body);
    assert_eq!(position_size(&c).await, dec!(0.2));

    // Long: a Buy closeOnTrigger order would add.
    let r = c
        .post(
            "/v5/order/create",
            &create(json!({"side": "Buy", "orderType": "Market", "qty": "0.1",
                           "closeOnTrigger": true, "orderLinkId": "cot-add"})),
        )
        .await;
    assert_eq!(r.ret_code(), 110017, "{}", r.body);
    assert_eq!(position_size(&c).await, dec!(0.2), "nothing added");

    // A Sell larger than the position closes it and never flips it short.
    let r = c
        .post(
            "/v5/order/create",
            &create(json!({"side": "Sell", "orderType": "Market", "qty": "0.5",
                           "closeOnTrigger": true, "orderLinkId": "cot-close"})),
        )
        .await;
    assert_eq!(r.ret_code(), 0, "{}", r.body);
    assert_eq!(position_size(&c).await, dec!(0), "closed, not flipped");
    let r = c
        .get(
            "/v5/order/history",
            "category=linear&symbol=ETHUSDT&orderLinkId=cot-close",
        )
        .await;
    let o = &r.body["result"]["list"][0];
    assert_eq!(o["cumExecQty"], "0.2", "{o}");
    assert_eq!(o["closeOnTrigger"], true, "{o}");
}

async fn stops(c: &Client) -> Vec<Value> {
    let r = c
        .get(
            "/v5/order/realtime",
            "category=linear&symbol=ETHUSDT&orderFilter=StopOrder",
        )
        .await;
    let mut list = r.body["result"]["list"].as_array().unwrap().clone();
    list.retain(|o| o["stopOrderType"] == "TakeProfit" || o["stopOrderType"] == "StopLoss");
    list
}

/// docs/v5/order/open-order.mdx and docs/v5/websocket/private/order.mdx, parentOrderLinkId:
/// "the linked parent order for attached take-profit and stop-loss orders"; for futures, set
/// trading stop updating the attached TP/SL "does not change the parentOrderLinkId"; a TP/SL
/// set by trading stop on a position with no attached TP/SL has none (docs/changelog/v5.mdx
/// adds the field). Also docs/v5/order/execution.mdx `feeCurrency` on an execution and
/// docs/v5/order/open-order.mdx `cumFeeDetail` on an order.
#[tokio::test]
async fn tp_sl_children_name_their_parent_order() {
    let emu = start().await;
    let c = Client::new(&emu);
    let r = c
        .post(
            "/v5/order/create",
            &create(json!({"side": "Buy", "orderType": "Market", "qty": "0.2",
                           "takeProfit": "4000", "stopLoss": "3000",
                           "orderLinkId": "parent-1"})),
        )
        .await;
    assert_eq!(r.ret_code(), 0, "{}", r.body);
    let children = stops(&c).await;
    assert_eq!(children.len(), 2, "{children:?}");
    for o in &children {
        assert_eq!(o["parentOrderLinkId"], "parent-1", "{o}");
        assert_eq!(o["orderLinkId"], "", "{o}");
    }

    // Moving the attached TP with trading-stop keeps the parent.
    let r = c
        .post(
            "/v5/position/trading-stop",
            &create(json!({"tpslMode": "Full", "positionIdx": 0, "takeProfit": "4100"})),
        )
        .await;
    assert_eq!(r.ret_code(), 0, "{}", r.body);
    let tp = stops(&c)
        .await
        .into_iter()
        .find(|o| o["stopOrderType"] == "TakeProfit")
        .unwrap();
    assert_eq!(tp["triggerPrice"], "4100", "{tp}");
    assert_eq!(tp["parentOrderLinkId"], "parent-1", "{tp}");

    // The entry's own record has no parent, carries its fee detail, and its execution the
    // fee currency.
    let r = c
        .get(
            "/v5/order/history",
            "category=linear&symbol=ETHUSDT&orderLinkId=parent-1",
        )
        .await;
    let entry = &r.body["result"]["list"][0];
    assert_eq!(entry["parentOrderLinkId"], "", "{entry}");
    let detail = entry["cumFeeDetail"]["USDT"].as_str().unwrap();
    assert_eq!(detail, entry["cumExecFee"].as_str().unwrap(), "{entry}");
    let r = c
        .get("/v5/execution/list", "category=linear&symbol=ETHUSDT")
        .await;
    let fill = &r.body["result"]["list"][0];
    assert_eq!(fill["orderLinkId"], "parent-1", "{fill}");
    assert_eq!(fill["feeCurrency"], "USDT", "{fill}");

    // Closed and reopened without attached TP/SL: a TP set by trading-stop has no parent.
    let close = create(json!({"side": "Sell", "orderType": "Market", "qty": "0.2",
                              "reduceOnly": true, "orderLinkId": "close-1"}));
    assert_eq!(c.post("/v5/order/create", &close).await.ret_code(), 0);
    assert!(
        stops(&c).await.is_empty(),
        "children cleared with the position"
    );
    let again = create(json!({"side": "Buy", "orderType": "Market", "qty": "0.1",
                              "orderLinkId": "plain-2"}));
    assert_eq!(c.post("/v5/order/create", &again).await.ret_code(), 0);
    let r = c
        .post(
            "/v5/position/trading-stop",
            &create(json!({"tpslMode": "Full", "positionIdx": 0, "takeProfit": "4200"})),
        )
        .await;
    assert_eq!(r.ret_code(), 0, "{}", r.body);
    let tp = stops(&c).await;
    assert_eq!(tp.len(), 1, "{tp:?}");
    assert_eq!(tp[0]["parentOrderLinkId"], "", "{}", tp[0]);
}
