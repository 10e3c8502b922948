//! Hardening found by hostile clients (issue 6): strict decimals, HTTP 401 for a bad key,
//! empty reads for categories the emulator does not trade, and the exposure checks.

use bybit_sign::Credentials;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{start_with, Client, Reply, SECRET};

/// A market order for `qty` ETHUSDT; rate limits are off in these tests, so many fit a second.
fn market(qty: &str) -> Value {
    json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": qty})
}

/// The orders and fills the engine holds, from the control API.
async fn orders_and_fills(c: &Client) -> (usize, usize) {
    let state = c.state().await;
    let count = |name: &str| state[name].as_array().map_or(0, Vec::len);
    (
        count("openOrders") + count("closedOrders"),
        count("executions"),
    )
}

// Bybit docs v5/order/create-order: `qty` and `price` are strings holding a plain decimal.
#[tokio::test]
async fn a_quantity_or_price_not_in_plain_decimal_form_is_10001_and_places_nothing() {
    let emu = start_with(|c| c.rate_limits = false).await;
    let c = Client::new(&emu);
    let before = orders_and_fills(&c).await;
    let too_precise = format!("0.{}1", "0".repeat(28));
    let bad_qty = [
        "1_000", "1_0", "1e3", "+0.001", ".5", "5.", " 1", "1 ", "-0", "-1", "0x1",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([too_precise.clone(), "9".repeat(40)]);
    for qty in bad_qty {
        let reply = c.post("/v5/order/create", &market(&qty)).await;
        assert_eq!(reply.ret_code(), 10001, "qty {qty:?}: {}", reply.body);
        let msg = reply.body["retMsg"].as_str().unwrap();
        assert!(msg.contains("qty invalid"), "qty {qty:?}: {msg}");
    }
    for price in ["1_800", "1.8e3", "+1800", "1800.", " 1800", &too_precise] {
        let order = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
            "orderType": "Limit", "qty": "0.1", "price": price, "timeInForce": "GTC"});
        let reply = c.post("/v5/order/create", &order).await;
        assert_eq!(reply.ret_code(), 10001, "price {price:?}: {}", reply.body);
    }
    // The same grammar on amend, trading-stop and leverage.
    let amend =
        json!({"category": "linear", "symbol": "ETHUSDT", "orderLinkId": "x", "qty": "1_0"});
    assert_eq!(c.post("/v5/order/amend", &amend).await.ret_code(), 10001);
    let stop = json!({"category": "linear", "symbol": "ETHUSDT", "takeProfit": "2_000"});
    assert_eq!(
        c.post("/v5/position/trading-stop", &stop).await.ret_code(),
        10001
    );
    let leverage = json!({"category": "linear", "symbol": "ETHUSDT", "buyLeverage": "1_0", "sellLeverage": "10"});
    assert_eq!(
        c.post("/v5/position/set-leverage", &leverage)
            .await
            .ret_code(),
        10001
    );
    assert_eq!(
        orders_and_fills(&c).await,
        before,
        "nothing was placed or filled"
    );

    // Plain text still works, leading zeros and trailing fractional zeros included.
    for qty in ["0.10", "00.1", "1"] {
        let reply = c.post("/v5/order/create", &market(qty)).await;
        assert_eq!(reply.ret_code(), 0, "qty {qty:?}: {}", reply.body);
    }
    let state = c.state().await;
    let position = state["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["symbol"] == "ETHUSDT")
        .unwrap();
    assert_eq!(position["size"], "1.20", "{position}");
}

/// Checks `reply` is Bybit's envelope for a bad key: HTTP 401, retCode 10003, `result` `{}`.
fn check_invalid_key(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        reply.body
    );
    assert_eq!(reply.body["retCode"], 10003, "{what}");
    assert_eq!(reply.body["retMsg"], "API key is invalid.", "{what}");
    assert_eq!(reply.body["result"], json!({}), "{what}");
    assert_eq!(reply.body["retExtInfo"], json!({}), "{what}");
    assert!(reply.body["time"].as_i64().is_some(), "{what}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{what}"
    );
}

// Bybit docs v5/error, "HTTP Code": 401 = "Need to use the correct key to access; Need to put
// authentication params in the request header". 10004 and 10006 stay business errors (200).
#[tokio::test]
async fn a_missing_or_unknown_key_is_http_401_and_bad_signatures_and_limits_stay_200() {
    let emu = start_with(|_| {}).await;
    let c = Client::new(&emu);
    let url = format!("{}/v5/position/list?category=linear&symbol=ETHUSDT", c.base);
    let bare = c.http.get(&url).send().await.unwrap();
    check_invalid_key(&Client::read(bare).await, "GET without any auth header");
    let post = c
        .http
        .post(format!("{}/v5/order/create", c.base))
        .body(market("0.1").to_string())
        .send()
        .await
        .unwrap();
    check_invalid_key(&Client::read(post).await, "POST without any auth header");

    // Correctly signed, but with a key the exchange does not know.
    let stranger = Client {
        creds: Credentials::new("someone-else", SECRET).unwrap(),
        ..Client::new(&emu)
    };
    check_invalid_key(
        &stranger
            .get("/v5/account/wallet-balance", "accountType=UNIFIED")
            .await,
        "unknown key, GET",
    );
    check_invalid_key(
        &stranger.post("/v5/order/create", &market("0.1")).await,
        "unknown key, POST",
    );

    let forger = Client::with_secret(&emu, "not-the-secret");
    let forged = forger.post("/v5/order/create", &market("0.1")).await;
    assert_eq!((forged.status, forged.ret_code()), (StatusCode::OK, 10004));

    // set-margin-mode allows 5 a second (docs v5/rate-limit): the refusal is a 200 with 10006.
    let mut limited = None;
    let unchanged = json!({"setMarginMode": "REGULAR_MARGIN"});
    for _ in 0..30 {
        let reply = c.post("/v5/account/set-margin-mode", &unchanged).await;
        if reply.ret_code() == 10006 {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("set-margin-mode was never rate limited");
    assert_eq!(
        (limited.status, limited.ret_code()),
        (StatusCode::OK, 10006)
    );
    assert_eq!(
        c.state().await["openOrders"],
        json!([]),
        "nothing was placed"
    );
}

// Bybit docs v5/order/open-order, order-list, execution, position/position, market/tickers,
// market/instrument, account/fee-rate: each reply's shape with nothing in it. Clients such as
// ccxt read every category at start; an empty account there is not an error.
#[tokio::test]
async fn reads_in_untraded_categories_are_empty_and_writes_there_are_refused() {
    let emu = start_with(|c| c.rate_limits = false).await;
    let c = Client::new(&emu);
    // Something in linear, so an empty answer elsewhere is not just an empty account.
    assert_eq!(
        c.post("/v5/order/create", &market("0.1")).await.ret_code(),
        0
    );
    for category in ["inverse", "spot", "option"] {
        let paged = json!({"category": category, "list": [], "nextPageCursor": ""});
        for (path, query) in [
            ("/v5/order/realtime", format!("category={category}")),
            (
                "/v5/order/realtime",
                format!("category={category}&openOnly=1"),
            ),
            ("/v5/order/history", format!("category={category}")),
            (
                "/v5/execution/list",
                format!("category={category}&limit=10"),
            ),
        ] {
            let reply = c.get(path, &query).await;
            assert_eq!(reply.ret_code(), 0, "{path}?{query}: {}", reply.body);
            assert_eq!(reply.body["result"], paged, "{path}?{query}");
        }
        let info = c
            .public(
                "/v5/market/instruments-info",
                &format!("category={category}"),
            )
            .await;
        assert_eq!(info.body["result"], paged, "instruments-info {category}");
        let tickers = c
            .public("/v5/market/tickers", &format!("category={category}"))
            .await;
        assert_eq!(
            tickers.body["result"],
            json!({"category": category, "list": []}),
            "tickers {category}"
        );
        let one = c
            .public(
                "/v5/market/tickers",
                &format!("category={category}&symbol=BTCUSD"),
            )
            .await;
        assert_eq!(one.ret_code(), 10001, "a symbol no one lists there");
        let fees = c
            .get("/v5/account/fee-rate", &format!("category={category}"))
            .await;
        assert_eq!(fees.ret_code(), 0, "{}", fees.body);
        assert_eq!(fees.body["result"]["list"], json!([]));
        // Only spot and option replies carry `category` (docs v5/account/fee-rate).
        assert_eq!(
            fees.body["result"].get("category").is_some(),
            category != "inverse"
        );

        // Writes stay refused, saying why.
        let mut order = market("0.1");
        order["category"] = json!(category);
        let create = c.post("/v5/order/create", &order).await;
        assert_eq!(create.ret_code(), 10001);
        let msg = create.body["retMsg"].as_str().unwrap();
        assert!(msg.contains(category) && msg.contains("linear"), "{msg}");
        let leverage = json!({"category": category, "symbol": "BTCUSD", "buyLeverage": "5", "sellLeverage": "5"});
        assert_eq!(
            c.post("/v5/position/set-leverage", &leverage)
                .await
                .ret_code(),
            10001
        );
        let cancel_all = json!({"category": category});
        assert_eq!(
            c.post("/v5/order/cancel-all", &cancel_all).await.ret_code(),
            10001
        );
    }
    // Positions: linear, inverse and option exist there; spot has no positions at all.
    for category in ["inverse", "option"] {
        let reply = c
            .get("/v5/position/list", &format!("category={category}"))
            .await;
        assert_eq!(
            reply.body["result"],
            json!({"category": category, "list": [], "nextPageCursor": ""}),
            "position/list {category}"
        );
    }
    assert_eq!(
        c.get("/v5/position/list", "category=spot").await.ret_code(),
        10001
    );
    // A category Bybit does not have is still 10001, and linear is untouched.
    assert_eq!(
        c.get("/v5/order/realtime", "category=futures")
            .await
            .ret_code(),
        10001
    );
    let linear = c
        .get("/v5/position/list", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(linear.body["result"]["list"][0]["size"], "0.1");
    let fees = c
        .get("/v5/account/fee-rate", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(fees.body["result"]["list"][0]["symbol"], "ETHUSDT");
    assert!(
        fees.body["result"].get("category").is_none(),
        "derivatives have no category"
    );
    assert_eq!(
        c.state().await["openOrders"],
        json!([]),
        "the market order filled, nothing else placed"
    );
}
