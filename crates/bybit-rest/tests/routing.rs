//! The environment's routing is the client's configuration (REFERENCE.md §1, SPEC R-CFG-2):
//! trading calls go to the trading host, public market data to the host the environment reads
//! it from, and an endpoint the environment lacks is refused without a request. Two emulators
//! stand for the two hosts; each counts the requests that reached it (`requests.byPath` of
//! `GET /emulator/state`).

use bybit_rest::routes::{self, Served};
use bybit_rest::{OpenOrders, RestClient, RestError};
use bybit_types::{AccountType, Category};
use rust_decimal_macros::dec;
use serde_json::Value;

use crate::support::{btc, config, emulator, start};

/// How many requests for each path reached `emu`.
fn arrivals(emu: &bybit_emulator::Emulator) -> serde_json::Map<String, Value> {
    emu.truth()["requests"]["byPath"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn count(arrivals: &serde_json::Map<String, Value>, path: &str) -> u64 {
    arrivals.get(path).and_then(Value::as_u64).unwrap_or(0)
}

fn served(path: &str) -> Served {
    [
        &routes::SERVER_TIME,
        &routes::INSTRUMENTS,
        &routes::TICKERS,
        &routes::PRICE_LIMIT,
        &routes::WALLET_BALANCE,
        &routes::ORDER_REALTIME,
        &routes::FEE_RATE,
    ]
    .into_iter()
    .find(|ep| ep.path() == path)
    .map_or(Served::Trading, |ep| ep.served())
}

#[tokio::test]
async fn public_data_goes_to_its_host_and_trading_calls_to_the_trading_host() {
    let trading = emulator().await;
    // The public-data host quotes another price, so an answer also shows where it came from.
    let public = start(|c| {
        c.static_prices = true;
        c.engine = c.engine.clone().with_price("BTCUSDT", dec!(60000));
    })
    .await;
    let client =
        RestClient::new(config(&trading.http_url()).public_data_url(public.http_url())).unwrap();

    client.sync_clock().await.unwrap();
    client.server_time().await.unwrap();
    let instruments = client.instruments(Category::Linear).await.unwrap();
    assert!(instruments.iter().any(|i| i.symbol == "BTCUSDT"));
    let tickers = client.tickers(Category::Linear, Some(btc())).await.unwrap();
    assert_eq!(
        tickers.list[0].last_price,
        Some(dec!(60000)),
        "from the public host"
    );
    client.price_limit(Category::Linear, btc()).await.unwrap();
    client
        .wallet_balance(AccountType::Unified, None)
        .await
        .unwrap();
    client
        .open_orders(OpenOrders::settle_coin("USDT"))
        .await
        .unwrap();
    client
        .fee_rates(Category::Linear, Some(btc()))
        .await
        .unwrap();

    let (at_trading, at_public) = (arrivals(&trading), arrivals(&public));
    for path in [
        "/v5/market/instruments-info",
        "/v5/market/tickers",
        "/v5/market/price-limit",
    ] {
        assert_eq!(count(&at_public, path), 1, "{path} on the public host");
        assert_eq!(count(&at_trading, path), 0, "{path} on the trading host");
    }
    // The server time is the clock signed requests are stamped against: the trading host's.
    assert_eq!(count(&at_trading, "/v5/market/time"), 2);
    for path in [
        "/v5/account/wallet-balance",
        "/v5/order/realtime",
        "/v5/account/fee-rate",
    ] {
        assert_eq!(count(&at_trading, path), 1, "{path} on the trading host");
    }
    // Nothing else anywhere: each host saw only what it serves.
    assert!(
        at_public.keys().all(|p| served(p) == Served::PublicData),
        "{at_public:?}"
    );
    assert!(
        at_trading.keys().all(|p| served(p) == Served::Trading),
        "{at_trading:?}"
    );
    public.stop().await;
}

#[tokio::test]
async fn without_a_public_data_host_everything_goes_to_the_one_host() {
    let emu = emulator().await;
    let client = crate::support::client(&emu);
    client.tickers(Category::Linear, Some(btc())).await.unwrap();
    client
        .wallet_balance(AccountType::Unified, None)
        .await
        .unwrap();
    let at = arrivals(&emu);
    assert_eq!(count(&at, "/v5/market/tickers"), 1);
    assert_eq!(count(&at, "/v5/account/wallet-balance"), 1);
}

#[tokio::test]
async fn an_endpoint_the_environment_lacks_is_refused_with_nothing_sent() {
    let emu = emulator().await;
    let client = RestClient::new(
        config(&emu.http_url())
            .not_offered(&routes::FEE_RATE)
            .environment("BYBIT_ENV=demo"),
    )
    .unwrap();
    let before = emu.truth()["requests"]["total"].as_u64().unwrap();
    let err = client
        .fee_rates(Category::Linear, Some(btc()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RestError::NotOffered { environment, .. } if environment == "BYBIT_ENV=demo"),
        "{err:?}"
    );
    assert!(err.is_definitive_reject() && !err.is_retryable() && !err.is_outcome_unknown());
    assert_eq!(err.kind(), "not_offered");
    let text = err.to_string();
    assert!(
        text.contains("GET /v5/account/fee-rate") && text.contains("BYBIT_ENV=demo"),
        "{text}"
    );
    let after = emu.truth()["requests"]["total"].as_u64().unwrap();
    assert_eq!(after, before, "no request reached the exchange");
    // What it does offer still goes through.
    client
        .wallet_balance(AccountType::Unified, None)
        .await
        .unwrap();
    assert_eq!(count(&arrivals(&emu), "/v5/account/wallet-balance"), 1);
}

#[test]
fn a_public_data_url_that_is_not_http_is_refused() {
    let err =
        RestClient::new(config("http://127.0.0.1:9").public_data_url("ftp://example")).unwrap_err();
    assert!(err.to_string().contains("ftp://example"), "{err}");
}
