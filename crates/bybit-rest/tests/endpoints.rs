//! Every typed endpoint against the emulator: the requests it accepts and the models they
//! return (docs/v5/market/*.mdx, docs/v5/order/*.mdx, docs/v5/position/*.mdx,
//! docs/v5/account/*.mdx).

use bybit_rest::{
    AmendOrder, CancelAll, CancelOrder, CancelOutcome, Change, Executions, NewOrder, OpenOrders,
    OrderHistory, OrderTarget, Positions, RestClient, RestConfig, TradingStop,
};
use bybit_types::{AccountType, Category, OrderStatus, WireSide};
use rust_decimal_macros::dec;

use crate::support::{btc, client, emulator, link, price, qty, resting_buy, KEY, SECRET};

// docs/v5/market/time.mdx, instrument.mdx, tickers.mdx
#[tokio::test]
async fn public_market_data_needs_no_credentials() {
    let emu = emulator().await;
    let public = RestClient::new(RestConfig::with_base_url(emu.http_url() + "/")).unwrap();
    let time = public.server_time().await.unwrap();
    assert!(time.millis() > 1_600_000_000_000);
    let instruments = public.instruments(Category::Linear).await.unwrap();
    assert!(instruments.iter().any(|i| i.symbol == "BTCUSDT"));
    let tickers = public.tickers(Category::Linear, Some(btc())).await.unwrap();
    assert_eq!(tickers.list.len(), 1);
    assert_eq!(tickers.list[0].symbol, "BTCUSDT");
    // A private endpoint on a public client is refused before anything is sent.
    let err = public.account_info().await.unwrap_err();
    assert!(err.is_auth_fatal() && err.is_definitive_reject(), "{err}");
}

// docs/v5/order/create-order.mdx, open-order.mdx, amend-order.mdx, cancel-order.mdx,
// order-list.mdx
#[tokio::test]
async fn an_order_is_placed_found_amended_cancelled_and_in_history() {
    let emu = emulator().await;
    let client = client(&emu);
    let ack = client
        .create_order(resting_buy(Some("tour-1")))
        .await
        .unwrap();
    assert_eq!(ack.order_link_id, "tour-1");

    let open = client.open_orders(OpenOrders::symbol(btc())).await.unwrap();
    assert_eq!(open.list.len(), 1);
    let by_link = client
        .open_orders(OpenOrders::symbol(btc()).order_link_id(link("tour-1")))
        .await
        .unwrap();
    assert_eq!(by_link.list[0].order_id, ack.order_id);

    let amended = client
        .amend_order(
            AmendOrder::new(btc(), OrderTarget::LinkId(link("tour-1"))).price(price(dec!(89000))),
        )
        .await
        .unwrap();
    assert_eq!(amended.order_id, ack.order_id);
    let found = client
        .order_by_link_id(btc(), link("tour-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.price, Some(dec!(89000)));

    let cancelled = client
        .cancel_order(CancelOrder::new(btc(), OrderTarget::LinkId(link("tour-1"))))
        .await
        .unwrap();
    assert!(matches!(cancelled, CancelOutcome::Cancelled(a) if a.order_id == ack.order_id));
    let history = client
        .order_history(OrderHistory::new().symbol(btc()))
        .await
        .unwrap();
    assert_eq!(history.list[0].order_status, OrderStatus::Cancelled);
    assert!(emu.truth()["openOrders"].as_array().unwrap().is_empty());
}

// docs/v5/order/cancel-all.mdx, execution.mdx; docs/v5/position/position.mdx, leverage.mdx,
// trading-stop.mdx, cross-isolate.mdx
#[tokio::test]
async fn positions_fills_leverage_stops_and_cancel_all() {
    let emu = emulator().await;
    let client = client(&emu);
    for i in 0..2 {
        client
            .create_order(resting_buy(Some(&format!("all-{i}"))))
            .await
            .unwrap();
    }
    let all = client.cancel_all(CancelAll::symbol(btc())).await.unwrap();
    assert_eq!(all.list.len(), 2);
    assert!(all.is_success());

    assert_eq!(
        client
            .set_leverage(btc(), dec!(12), dec!(12))
            .await
            .unwrap(),
        Change::Applied
    );
    assert_eq!(
        client
            .set_leverage(btc(), dec!(12), dec!(12))
            .await
            .unwrap(),
        Change::AlreadySet,
        "110043 leverage not modified"
    );
    let bad = client
        .set_leverage(btc(), dec!(0), dec!(0))
        .await
        .unwrap_err();
    assert!(bad.is_definitive_reject());

    let filled = client
        .create_order(
            NewOrder::market(btc(), WireSide::Buy, qty(dec!(0.01))).order_link_id(link("mkt-1")),
        )
        .await
        .unwrap();
    let fills = client
        .executions(Executions::new().symbol(btc()).order_link_id(link("mkt-1")))
        .await
        .unwrap();
    assert!(!fills.list.is_empty());
    assert!(fills.list.iter().all(|f| f.order_id == filled.order_id));

    let positions = client.positions(Positions::symbol(btc())).await.unwrap();
    assert_eq!(positions.list[0].size, dec!(0.01));
    let stop = client
        .trading_stop(TradingStop::full(btc(), 0).stop_loss(price(dec!(80000))))
        .await
        .unwrap();
    assert_eq!(stop, Change::Applied);
    // The emulator's switch-isolated answers like a UTA 2.0 account or applies; either way
    // the client returns the exchange's verdict as a typed result.
    let switched = client
        .switch_isolated(btc(), true, dec!(10), dec!(10))
        .await;
    assert!(switched.is_ok() || switched.unwrap_err().ret_code().is_some());
}

// docs/v5/account/wallet-balance.mdx, account-info.mdx, fee-rate.mdx
#[tokio::test]
async fn wallet_account_info_and_fee_rates() {
    let emu = emulator().await;
    let client = client(&emu);
    let wallet = client
        .wallet_balance(AccountType::Unified, Some("USDT".to_owned()))
        .await
        .unwrap();
    assert_eq!(
        wallet.list[0].coin("USDT").unwrap().wallet_balance,
        Some(dec!(10000))
    );
    let info = client.account_info().await.unwrap();
    assert!(info.margin_mode.is_some());
    let fees = client
        .fee_rates(Category::Linear, Some(btc()))
        .await
        .unwrap();
    assert_eq!(fees.list.len(), 1);
    assert!(fees.list[0].taker_fee_rate > fees.list[0].maker_fee_rate);
}

#[tokio::test]
async fn debug_output_and_errors_never_show_the_secret() {
    let emu = emulator().await;
    let client = client(&emu);
    assert!(!format!("{client:?}").contains(SECRET));
    assert!(format!("{client:?}").contains(KEY));
    control(&emu).await;
    let err = client.account_info().await.unwrap_err();
    assert!(!format!("{err:?} {err}").contains(SECRET));

    async fn control(emu: &bybit_emulator::Emulator) {
        crate::support::control(
            emu,
            "/fail",
            serde_json::json!({"count": 10, "retCode": 10005}),
        )
        .await;
    }
}

// docs/v5/market/order-price-limit.mdx, docs/v5/account/get-user-setting-config.mdx,
// docs/v5/account/set-price-limit.mdx. `lpaPerp` true = refuse by the
// page's parameter table (its info box and set-price-limit's word the default differently):
// `futures_price_adjusted` is `!lpaPerp`.
#[tokio::test]
async fn the_price_limit_and_the_account_price_limit_action() {
    let emu = emulator().await;
    let client = client(&emu);
    let band = client.price_limit(Category::Linear, btc()).await.unwrap();
    assert_eq!(band.symbol, "BTCUSDT");
    let (buy_max, sell_min) = (band.buy_lmt.unwrap(), band.sell_lmt.unwrap());
    assert!(buy_max > sell_min, "{band:?}");
    assert!(band.ts.is_some());

    // Bybit's futures default: the price is moved to the bound.
    let config = client.user_setting_config().await.unwrap();
    assert_eq!(config.futures_price_adjusted(), Some(true), "{config:?}");
    let beyond = |link_id: &str| {
        NewOrder::limit(
            btc(),
            WireSide::Sell,
            qty(dec!(0.001)),
            price(sell_min - dec!(500)),
        )
        .order_link_id(link(link_id))
    };
    client.create_order(beyond("pl-adjusted")).await.unwrap();
    let moved = client
        .order_by_link_id(btc(), link("pl-adjusted"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.price, Some(sell_min));

    // Set to refuse: read back, and the same order is refused with 30209.
    client
        .set_limit_px_action(Category::Linear, false)
        .await
        .unwrap();
    let config = client.user_setting_config().await.unwrap();
    assert_eq!(config.futures_price_adjusted(), Some(false), "{config:?}");
    assert_eq!(config.lpa_perp, Some(true));
    let band = client.price_limit(Category::Linear, btc()).await.unwrap();
    let sell_min = band.sell_lmt.unwrap();
    let refused = client
        .create_order(
            NewOrder::limit(
                btc(),
                WireSide::Sell,
                qty(dec!(0.001)),
                price(sell_min - dec!(500)),
            )
            .order_link_id(link("pl-refused")),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.ret_code(), Some(30209), "{refused}");
    assert!(refused.is_definitive_reject());
}
