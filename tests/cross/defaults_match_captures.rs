//! The emulator's built-in instrument table carries the real filter values of the captured
//! instruments-info in `shared/bybit-v5/fixtures`.

use bybit_types::rest::market::InstrumentsInfo;
use bybit_types::RawEnvelope;

#[test]
fn every_default_instrument_has_the_captured_filters() {
    let Some(text) = testkit::fixture("rest_instruments_info_linear_multi.json") else {
        return;
    };
    let captured: InstrumentsInfo = RawEnvelope::parse(text.as_bytes())
        .unwrap()
        .decode("instruments-info")
        .unwrap();
    let defaults = sim_engine::defaults::instruments();
    assert_eq!(defaults.len(), captured.list.len());
    for real in &captured.list {
        let ours = defaults
            .iter()
            .find(|d| d.symbol == real.symbol)
            .unwrap_or_else(|| panic!("{} missing from the default table", real.symbol));
        assert_eq!(
            ours.price_filter, real.price_filter,
            "{} priceFilter",
            real.symbol
        );
        assert_eq!(
            ours.lot_size_filter, real.lot_size_filter,
            "{} lotSizeFilter",
            real.symbol
        );
        assert_eq!(
            ours.leverage_filter, real.leverage_filter,
            "{} leverageFilter",
            real.symbol
        );
        assert_eq!(
            ours.price_scale, real.price_scale,
            "{} priceScale",
            real.symbol
        );
        assert_eq!(
            ours.funding_interval, real.funding_interval,
            "{} fundingInterval",
            real.symbol
        );
        assert_eq!(ours.status, real.status, "{} status", real.symbol);
        // Text, not just value: "0.010" must stay "0.010" so rounded prices print like Bybit's.
        assert_eq!(
            ours.price_filter.tick_size.to_string(),
            real.price_filter.tick_size.to_string(),
            "{} tick text",
            real.symbol
        );
    }
}

#[test]
fn every_default_start_price_is_on_its_tick_and_inside_its_filter() {
    let prices = sim_engine::defaults::start_prices();
    for info in sim_engine::defaults::instruments() {
        let rules = bybit_meta::InstrumentRules::try_from(&info).unwrap();
        let price = prices[&info.symbol];
        assert!(rules.is_on_tick(price), "{} start {price}", info.symbol);
        assert!(price >= rules.min_price() && price <= rules.max_price());
    }
}
