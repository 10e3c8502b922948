//! Rules built from Bybit's recorded instruments-info replies, read in place from
//! `../shared/bybit-v5/fixtures` (skipped, and said so, when absent outside CI).

use bybit_meta::{InstrumentCache, InstrumentRules, MetaError, OrderDraft, RoundingMode};
use bybit_types::InstrumentStatus;

use crate::support::{d, fixture_infos, sym};

const MULTI: &str = "rest_instruments_info_linear_multi.json";
const PRELISTING: &str = "rest_instruments_info_linear_prelisting.json";
const SINGLE: &str = "rest_instruments_info_linear.json";

/// The recorded multi-symbol reply as a cache; `None` when the fixtures are absent.
fn multi() -> Option<InstrumentCache> {
    let infos = fixture_infos(MULTI)?;
    let (cache, summary) = InstrumentCache::from_infos(&infos);
    assert!(summary.is_clean(), "{summary:?}");
    assert_eq!(summary.loaded, infos.len());
    Some(cache)
}

fn rules(cache: &InstrumentCache, symbol: &str) -> std::sync::Arc<InstrumentRules> {
    cache.get(&sym(symbol)).unwrap()
}

#[test]
fn every_recorded_instrument_builds() {
    let Some(cache) = multi() else { return };
    let mut symbols: Vec<&str> = cache.symbols().map(|s| s.as_str()).collect();
    symbols.sort_unstable();
    assert_eq!(
        symbols,
        [
            "1000000BABYDOGEUSDT",
            "BTCUSDT",
            "DOGEUSDT",
            "ETHUSDT",
            "SOLUSDT",
            "XRPUSDT",
            "ZRXUSDT"
        ]
    );
}

#[test]
fn price_scale_equals_the_tick_scale_everywhere() {
    // The scale decision (round to the tick's own places) rests on this holding.
    let Some(cache) = multi() else { return };
    for (symbol, rules) in cache.iter() {
        assert_eq!(
            rules.price_scale(),
            Some(rules.tick_size().scale()),
            "{symbol}"
        );
    }
}

#[test]
fn btcusdt() {
    let Some(cache) = multi() else { return };
    let btc = rules(&cache, "BTCUSDT");
    assert_eq!(btc.tick_size().to_string(), "0.10");
    assert_eq!(btc.qty_step(), d("0.001"));
    assert_eq!(btc.max_mkt_order_qty(), d("150"));
    assert_eq!(btc.max_leverage(), d("150"));
    assert_eq!(
        btc.round_price(d("100000.15"), RoundingMode::Nearest)
            .unwrap()
            .to_string(),
        "100000.20"
    );
    assert_eq!(
        btc.round_price(d("100000.19"), RoundingMode::Down)
            .unwrap()
            .to_string(),
        "100000.10"
    );
    assert_eq!(
        btc.prepare_order(
            &OrderDraft::market(d("200"), d("100000")),
            RoundingMode::Down
        ),
        Err(MetaError::AboveMaxMarketQty {
            symbol: sym("BTCUSDT"),
            qty: d("200.000"),
            max: d("150.000"),
        })
    );
    let chunks: Vec<String> = btc
        .split_market_qty(d("200"))
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(chunks, ["100.000", "100.000"]);
    assert_eq!(btc.check_leverage(d("25")), Ok(()));
}

#[test]
fn solusdt_prints_three_places() {
    let Some(cache) = multi() else { return };
    let sol = rules(&cache, "SOLUSDT");
    assert_eq!(sol.tick_size().to_string(), "0.010");
    assert_eq!(sol.price_scale(), Some(3));
    let order = sol
        .prepare_order(
            &OrderDraft::limit(d("1.2345"), d("187.4567")),
            RoundingMode::Nearest,
        )
        .unwrap();
    assert_eq!(order.qty().to_string(), "1.2");
    assert_eq!(order.price().unwrap().to_string(), "187.460");
    assert_eq!(
        sol.round_price(d("187.4549"), RoundingMode::Nearest)
            .unwrap()
            .to_string(),
        "187.450"
    );
}

#[test]
fn babydoge_has_a_tiny_tick_and_a_step_of_100() {
    let Some(cache) = multi() else { return };
    let baby = rules(&cache, "1000000BABYDOGEUSDT");
    assert_eq!(baby.tick_size(), d("0.0000001"));
    assert_eq!(baby.qty_step(), d("100"));
    assert_eq!(baby.round_qty(d("12345.67")).unwrap().to_string(), "12300");
    assert_eq!(
        baby.round_price(d("0.00123456789"), RoundingMode::Nearest)
            .unwrap()
            .to_string(),
        "0.0012346"
    );
    assert_eq!(
        baby.prepare_order(
            &OrderDraft::limit(d("99"), d("0.0012345")),
            RoundingMode::Down
        ),
        Err(MetaError::BelowMinQty {
            symbol: sym("1000000BABYDOGEUSDT"),
            qty: d("0"),
            min: d("100"),
        })
    );
    // 5 USDT at 0.0012345 is 4050.2 contracts: 4000 on the step, worth 4.938 < 5.
    let qty = baby.qty_for_notional(d("5"), d("0.0012345")).unwrap();
    assert_eq!(qty.to_string(), "4000");
    assert_eq!(
        baby.validate_order(&OrderDraft::limit(qty, d("0.0012345"))),
        Err(MetaError::BelowMinNotional {
            symbol: sym("1000000BABYDOGEUSDT"),
            notional: d("4.938"),
            qty: d("4000"),
            price: d("0.0012345"),
            min: d("5"),
        })
    );
}

#[test]
fn xrpusdt_min_notional() {
    let Some(cache) = multi() else { return };
    let xrp = rules(&cache, "XRPUSDT");
    assert_eq!(xrp.min_notional(), d("5"));
    assert_eq!(
        xrp.validate_order(&OrderDraft::limit(d("4"), d("1.0"))),
        Err(MetaError::BelowMinNotional {
            symbol: sym("XRPUSDT"),
            notional: d("4"),
            qty: d("4"),
            price: d("1.0"),
            min: d("5"),
        })
    );
    assert_eq!(
        xrp.validate_order(&OrderDraft::market(d("4"), d("1.0"))),
        Err(MetaError::BelowMinNotional {
            symbol: sym("XRPUSDT"),
            notional: d("4"),
            qty: d("4"),
            price: d("1.0"),
            min: d("5"),
        })
    );
    let order = xrp
        .validate_order(&OrderDraft::limit(d("5"), d("1.0")))
        .unwrap();
    assert_eq!(order.qty().to_string(), "5");
    assert_eq!(order.price().unwrap().to_string(), "1.0000");
}

#[test]
fn prelisting_instrument_is_not_trading() {
    let Some(infos) = fixture_infos(PRELISTING) else {
        return;
    };
    let (cache, summary) = InstrumentCache::from_infos(&infos);
    assert!(summary.is_clean());
    let bio = rules(&cache, "BIOUSDT");
    assert_eq!(bio.status(), &InstrumentStatus::PreLaunch);
    // Rounding still works; ordering does not.
    assert_eq!(bio.round_qty(d("10.5")).unwrap(), d("10"));
    let err = bio
        .prepare_order(&OrderDraft::limit(d("100"), d("0.5")), RoundingMode::Down)
        .unwrap_err();
    assert_eq!(
        err,
        MetaError::NotTrading {
            symbol: sym("BIOUSDT"),
            status: InstrumentStatus::PreLaunch,
        }
    );
    assert!(err.is_symbol_unavailable());
}

#[test]
fn single_instrument_reply() {
    let Some(infos) = fixture_infos(SINGLE) else {
        return;
    };
    let (cache, summary) = InstrumentCache::from_infos(&infos);
    assert!(summary.is_clean());
    let btc = rules(&cache, "BTCUSDT");
    assert_eq!(btc.max_mkt_order_qty(), d("500"));
    assert_eq!(btc.max_order_qty(), d("1190"));
}
