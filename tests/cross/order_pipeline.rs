//! The foundation end to end: real instrument rules round an order (bybit-meta), it becomes a
//! Bybit request body (bybit-types), is signed (bybit-sign) and is accepted by the engine the
//! emulator runs (sim-engine) with exactly the values that were signed.

use bybit_meta::{InstrumentRules, OrderDraft, RoundingMode};
use bybit_sign::Credentials;
use bybit_types::rest::order::CreateOrderRequest;
use bybit_types::{Category, OrderType, WireSide};
use rust_decimal_macros::dec;
use sim_engine::{defaults, Engine, EngineConfig, NewOrder, OrderKey, OrderQuery};

#[test]
fn a_rounded_signed_order_is_accepted_as_signed() {
    let infos = defaults::instruments();
    let info = infos
        .iter()
        .find(|i| i.symbol == "1000000BABYDOGEUSDT")
        .unwrap();
    let rules = InstrumentRules::try_from(info).unwrap();
    // The position engine asks for 12,345.67 units at 0.00123456789; the tick is 0.0000001.
    let order = rules
        .prepare_order(
            &OrderDraft::limit(dec!(12345.67), dec!(0.00123456789)),
            RoundingMode::passive(WireSide::Buy),
        )
        .unwrap();
    assert_eq!(order.qty().get().to_string(), "12300");
    assert_eq!(order.price().unwrap().get().to_string(), "0.0012345");

    let mut request = CreateOrderRequest::new(
        Category::Linear,
        "1000000BABYDOGEUSDT",
        WireSide::Buy,
        OrderType::Limit,
        order.qty().get(),
    );
    request.price = order.price().map(|p| p.get());
    request.order_link_id = Some("andre_DCA1_BABY_20251122".to_owned());
    let creds = Credentials::new("k", "s").unwrap();
    let signed = creds.sign_post(1_700_000_000_000, 5000, &request).unwrap();
    let h = signed.headers();
    assert!(creds.verify_rest(
        h.timestamp(),
        h.recv_window(),
        signed.body().as_bytes(),
        h.sign()
    ));

    // What the emulator would parse from that body, placed on the engine.
    let sent: serde_json::Value = serde_json::from_str(signed.body()).unwrap();
    assert_eq!(sent["price"], "0.0012345");
    assert_eq!(sent["qty"], "12300");
    let mut config = EngineConfig::new(infos.clone(), dec!(1000), 1);
    config.initial_prices = defaults::start_prices();
    let mut engine = Engine::new(config).unwrap();
    let placed = engine
        .create_order(
            1,
            &NewOrder::limit(
                "1000000BABYDOGEUSDT",
                WireSide::Buy,
                sent["qty"].as_str().unwrap().parse().unwrap(),
                sent["price"].as_str().unwrap().parse().unwrap(),
            )
            .link_id("andre_DCA1_BABY_20251122"),
        )
        .unwrap();
    let open = engine.open_orders(&OrderQuery {
        key: Some(OrderKey::Id(placed.order_id)),
        ..Default::default()
    });
    assert_eq!(open[0].price, Some(dec!(0.0012345)));
    assert_eq!(open[0].qty, dec!(12300));
}
