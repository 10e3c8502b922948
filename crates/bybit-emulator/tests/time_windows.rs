//! Bybit's query windows and retention, and the controls that let days
//! pass and restart the exchange. Each rule cites the page of `bybit-exchange/docs` it follows.

use serde_json::{json, Value};

use crate::support::{start, Client};

const DAY: i64 = 86_400_000;

fn market(link: &str, side: &str) -> Value {
    json!({"category": "linear", "symbol": "ETHUSDT", "side": side, "orderType": "Market",
           "qty": "0.1", "orderLinkId": link})
}

fn far_limit(link: &str) -> Value {
    json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit",
           "qty": "0.1", "price": "2000", "orderLinkId": link})
}

async fn ok(c: &Client, path: &str, body: &Value) {
    let r = c.post(path, body).await;
    assert_eq!(r.ret_code(), 0, "{path}: {}", r.body);
}

async fn pass_days(c: &Client, days: i64) {
    let r = c.control("/time/pass", json!({"days": days})).await;
    assert!(r.status.is_success(), "{}", r.body);
}

fn list(r: &crate::support::Reply) -> Vec<Value> {
    assert_eq!(r.ret_code(), 0, "{}", r.body);
    r.body["result"]["list"].as_array().unwrap().clone()
}

fn links(r: &crate::support::Reply) -> Vec<String> {
    list(r)
        .iter()
        .map(|o| o["orderLinkId"].as_str().unwrap().to_owned())
        .collect()
}

fn trade_links(r: &crate::support::Reply) -> Vec<String> {
    list(r)
        .iter()
        .filter(|e| e["execType"] == "Trade")
        .map(|e| e["orderLinkId"].as_str().unwrap().to_owned())
        .collect()
}

fn time_of(r: &crate::support::Reply, link: &str, field: &str) -> i64 {
    list(r)
        .iter()
        .find(|o| o["orderLinkId"] == link)
        .unwrap_or_else(|| panic!("{link} not in {}", r.body))[field]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// docs/v5/order/execution.mdx, `startTime`: neither bound → the last 7 days; only
/// `startTime` → [start, start + 7 days]; only `endTime` → [end − 7 days, end]; both →
/// `endTime − startTime ≤ 7 days` (a wider span refused, 10001).
#[tokio::test]
async fn the_execution_list_answers_by_bybits_seven_day_windows() {
    let emu = start().await;
    let c = Client::new(&emu);
    ok(&c, "/v5/order/create", &market("old-fill", "Buy")).await;
    let all = c
        .get("/v5/execution/list", "category=linear&symbol=ETHUSDT")
        .await;
    let old = time_of(&all, "old-fill", "execTime");
    pass_days(&c, 10).await;
    ok(&c, "/v5/order/create", &market("new-fill", "Sell")).await;

    // Neither bound: the last 7 days only.
    let recent = c
        .get("/v5/execution/list", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(trade_links(&recent), ["new-fill"]);
    let new = time_of(&recent, "new-fill", "execTime");
    assert!(new - old >= 10 * DAY, "the old fill is 10 days back");

    // Only startTime: [start, start + 7 days] — the newer fill is outside it.
    let from_old = c
        .get(
            "/v5/execution/list",
            &format!("category=linear&symbol=ETHUSDT&startTime={}", old - 1),
        )
        .await;
    assert_eq!(trade_links(&from_old), ["old-fill"]);

    // Only endTime: [end − 7 days, end].
    let to_old = c
        .get(
            "/v5/execution/list",
            &format!("category=linear&symbol=ETHUSDT&endTime={}", old + 6 * DAY),
        )
        .await;
    assert_eq!(trade_links(&to_old), ["old-fill"]);
    let to_new_minus_8d = c
        .get(
            "/v5/execution/list",
            &format!("category=linear&symbol=ETHUSDT&endTime={}", old + 8 * DAY),
        )
        .await;
    assert_eq!(
        trade_links(&to_new_minus_8d),
        Vec::<String>::new(),
        "8 days after the old fill reaches back only 7"
    );

    // Both: at most 7 days apart.
    let wide = c
        .get(
            "/v5/execution/list",
            &format!(
                "category=linear&symbol=ETHUSDT&startTime={}&endTime={}",
                old - 1,
                new + 1
            ),
        )
        .await;
    assert_eq!(wide.ret_code(), 10001, "{}", wide.body);
    assert!(wide.body["retMsg"]
        .as_str()
        .unwrap()
        .contains("cannot exceed 7 days"));
    let exact = c
        .get(
            "/v5/execution/list",
            &format!(
                "category=linear&symbol=ETHUSDT&startTime={}&endTime={}",
                new - 7 * DAY,
                new
            ),
        )
        .await;
    assert_eq!(trade_links(&exact), ["new-fill"]);
}

/// docs/v5/order/execution.mdx, `cursor`: a window's fills come across pages, each once.
#[tokio::test]
async fn cursors_walk_one_window_across_pages() {
    let emu = start().await;
    let c = Client::new(&emu);
    for i in 0..5 {
        let side = if i % 2 == 0 { "Buy" } else { "Sell" };
        ok(&c, "/v5/order/create", &market(&format!("page-{i}"), side)).await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let r = c
            .get(
                "/v5/execution/list",
                &format!("category=linear&symbol=ETHUSDT&limit=2&cursor={cursor}"),
            )
            .await;
        seen.extend(trade_links(&r));
        cursor = r.body["result"]["nextPageCursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, ["page-0", "page-1", "page-2", "page-3", "page-4"]);
}

/// docs/v5/order/order-list.mdx, "rule": Cancelled / Rejected / Deactivated orders without
/// fills are listed for 24 hours; filled ones for the window (the default: 7 days, older
/// ones by an explicit window).
#[tokio::test]
async fn order_history_keeps_unfilled_cancels_one_day_and_fills_by_the_window() {
    let emu = start().await;
    let c = Client::new(&emu);
    ok(&c, "/v5/order/create", &far_limit("cancelled")).await;
    ok(
        &c,
        "/v5/order/cancel",
        &json!({"category": "linear", "symbol": "ETHUSDT", "orderLinkId": "cancelled"}),
    )
    .await;
    ok(&c, "/v5/order/create", &market("filled", "Buy")).await;
    let history = |q: String| {
        let c = &c;
        async move { c.get("/v5/order/history", &q).await }
    };
    let now = history("category=linear&symbol=ETHUSDT".into()).await;
    let mut names = links(&now);
    names.sort();
    assert_eq!(names, ["cancelled", "filled"]);
    let filled_at = time_of(&now, "filled", "updatedTime");

    pass_days(&c, 1).await;
    let a_day_on = history("category=linear&symbol=ETHUSDT".into()).await;
    assert_eq!(
        links(&a_day_on),
        ["filled"],
        "the unfilled cancel is gone after 24 h"
    );
    // Even asked for by its own link id.
    let by_link = history("category=linear&orderLinkId=cancelled".into()).await;
    assert!(links(&by_link).is_empty(), "{}", by_link.body);

    pass_days(&c, 7).await;
    let eight_days_on = history("category=linear&symbol=ETHUSDT".into()).await;
    assert!(
        links(&eight_days_on).is_empty(),
        "outside the default 7 days"
    );
    let explicit = history(format!(
        "category=linear&symbol=ETHUSDT&startTime={}",
        filled_at - DAY
    ))
    .await;
    assert_eq!(
        links(&explicit),
        ["filled"],
        "a filled order stays by its window"
    );
    let too_wide = history(format!(
        "category=linear&symbol=ETHUSDT&startTime={}&endTime={}",
        filled_at - DAY,
        filled_at + 7 * DAY
    ))
    .await;
    assert_eq!(too_wide.ret_code(), 10001, "{}", too_wide.body);
}

/// docs/v5/order/open-order.mdx, info and `openOnly`: after a restart, closed orders are
/// found only through order history; the recent closed list is "cleared and accumulated
/// again".
#[tokio::test]
async fn an_exchange_restart_empties_the_realtime_closed_order_cache() {
    let emu = start().await;
    let c = Client::new(&emu);
    ok(&c, "/v5/order/create", &market("before", "Buy")).await;
    let realtime = |q: &'static str| c.get("/v5/order/realtime", q);
    assert_eq!(
        links(&realtime("category=linear&orderLinkId=before").await),
        ["before"]
    );
    assert_eq!(
        links(&realtime("category=linear&symbol=ETHUSDT&openOnly=1").await),
        ["before"]
    );

    let r = c.control("/exchange-restart", json!({})).await;
    assert!(r.status.is_success(), "{}", r.body);
    assert!(links(&realtime("category=linear&orderLinkId=before").await).is_empty());
    assert!(links(&realtime("category=linear&symbol=ETHUSDT&openOnly=1").await).is_empty());
    let history = c
        .get("/v5/order/history", "category=linear&orderLinkId=before")
        .await;
    assert_eq!(links(&history), ["before"], "history still has it");

    // Orders closed after the restart accumulate again; open ones were never forgotten.
    ok(&c, "/v5/order/create", &market("after", "Sell")).await;
    ok(&c, "/v5/order/create", &far_limit("resting")).await;
    assert_eq!(
        links(&realtime("category=linear&symbol=ETHUSDT&openOnly=1").await),
        ["after"]
    );
    assert_eq!(
        links(&realtime("category=linear&symbol=ETHUSDT").await),
        ["resting"]
    );
    // The link id stays taken (110072): a forgotten order is not a free id.
    let again = c.post("/v5/order/create", &market("before", "Buy")).await;
    assert_eq!(again.ret_code(), 110072, "{}", again.body);
}

/// docs/v5/order/order-list.mdx: "the data returned from this endpoint may delay" — with a
/// lag set, a closed order is in the realtime endpoint before it is in history.
#[tokio::test]
async fn order_history_can_lag_behind_the_realtime_endpoint() {
    let emu = start().await;
    let c = Client::new(&emu);
    let r = c.control("/history-lag", json!({"ms": 600_000})).await;
    assert!(r.status.is_success(), "{}", r.body);
    ok(&c, "/v5/order/create", &market("lagging", "Buy")).await;
    assert!(links(
        &c.get("/v5/order/history", "category=linear&orderLinkId=lagging")
            .await
    )
    .is_empty());
    assert_eq!(
        links(
            &c.get("/v5/order/realtime", "category=linear&orderLinkId=lagging")
                .await
        ),
        ["lagging"]
    );
    pass_days(&c, 1).await;
    assert_eq!(
        links(
            &c.get("/v5/order/history", "category=linear&orderLinkId=lagging")
                .await
        ),
        ["lagging"]
    );
}

/// docs/v5/enum.mdx `execType` Funding, and the time control: every funding time of the days
/// that pass is settled at its own time while a position is open.
#[tokio::test]
async fn passing_days_charges_funding_at_each_funding_time() {
    let emu = start().await;
    let c = Client::new(&emu);
    ok(&c, "/v5/order/create", &market("long", "Buy")).await;
    let before: i64 = crate::support::now_ms().try_into().unwrap();
    pass_days(&c, 2).await;
    // The exchange's clock moved on (its server time says so); the client's did not, and its
    // signed requests are still in time.
    let time = c.public("/v5/market/time", "").await;
    let server: i64 = time.body["result"]["timeSecond"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(server * 1000 >= before + 2 * DAY - 1000, "{}", time.body);
    let funding = c
        .get(
            "/v5/execution/list",
            "category=linear&symbol=ETHUSDT&execType=Funding",
        )
        .await;
    let times: Vec<i64> = list(&funding)
        .iter()
        .map(|e| e["execTime"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(times.len(), 6, "2 days of 8-hour funding: {}", funding.body);
    for t in &times {
        assert_eq!(t % (8 * 3_600_000), 0, "at a funding time");
        assert!(*t > before - 1000 && *t <= before + 2 * DAY + 60_000);
    }
    let mut sorted = times.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 6, "each funding time once");
    for bad in [json!({}), json!({"days": -1}), json!({"days": 366})] {
        let r = c.control("/time/pass", bad).await;
        assert_eq!(r.status.as_u16(), 400);
    }
}
