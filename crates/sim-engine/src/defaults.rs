//! The emulator's default instruments: seven USDT perpetuals with Bybit's real filter values
//! (captured instruments-info, see `shared/bybit-v5/fixtures/SOURCES.md`), and a starting price
//! for each. Includes the low-priced ZRXUSDT and 1000000BABYDOGEUSDT, whose ticks of 0.00001
//! and 0.0000001 are where rounding bugs live.

use std::collections::BTreeMap;
use std::str::FromStr;

use bybit_types::rest::market::{
    InstrumentInfo, LeverageFilter, LotSizeFilter, PriceFilter, RiskParameters,
};
use bybit_types::{Category, ContractType, InstrumentStatus};
use rust_decimal::Decimal;

/// One row of the table; every number is text exactly as Bybit prints it.
struct Row {
    symbol: &'static str,
    base: &'static str,
    launch: i64,
    price_scale: i64,
    tick: &'static str,
    min_price: &'static str,
    max_price: &'static str,
    qty_step: &'static str,
    min_qty: &'static str,
    max_qty: &'static str,
    max_mkt_qty: &'static str,
    min_notional: &'static str,
    max_leverage: &'static str,
    funding_interval: i64,
    funding_cap: &'static str,
    ratio_x: &'static str,
    ratio_y: &'static str,
    start_price: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        symbol: "BTCUSDT",
        base: "BTC",
        launch: 1584230400000,
        price_scale: 2,
        tick: "0.10",
        min_price: "0.10",
        max_price: "1999999.80",
        qty_step: "0.001",
        min_qty: "0.001",
        max_qty: "1500.000",
        max_mkt_qty: "150.000",
        min_notional: "5",
        max_leverage: "150.00",
        funding_interval: 480,
        funding_cap: "0.00333",
        ratio_x: "0.01",
        ratio_y: "0.02",
        start_price: "95000.00",
    },
    Row {
        symbol: "ETHUSDT",
        base: "ETH",
        launch: 1615766400000,
        price_scale: 2,
        tick: "0.01",
        min_price: "0.01",
        max_price: "199999.98",
        qty_step: "0.01",
        min_qty: "0.01",
        max_qty: "7240.00",
        max_mkt_qty: "724.00",
        min_notional: "5",
        max_leverage: "100.00",
        funding_interval: 480,
        funding_cap: "0.005",
        ratio_x: "0.02",
        ratio_y: "0.04",
        start_price: "3500.00",
    },
    Row {
        symbol: "SOLUSDT",
        base: "SOL",
        launch: 1634256000000,
        price_scale: 3,
        tick: "0.010",
        min_price: "0.010",
        max_price: "199999.980",
        qty_step: "0.1",
        min_qty: "0.1",
        max_qty: "79770.0",
        max_mkt_qty: "11740.0",
        min_notional: "5",
        max_leverage: "100.00",
        funding_interval: 480,
        funding_cap: "0.005",
        ratio_x: "0.05",
        ratio_y: "0.1",
        start_price: "180.000",
    },
    Row {
        symbol: "XRPUSDT",
        base: "XRP",
        launch: 1620898440000,
        price_scale: 4,
        tick: "0.0001",
        min_price: "0.0001",
        max_price: "1999.9998",
        qty_step: "1",
        min_qty: "1",
        max_qty: "10965300",
        max_mkt_qty: "2467800",
        min_notional: "5",
        max_leverage: "75.00",
        funding_interval: 480,
        funding_cap: "0.0058",
        ratio_x: "0.05",
        ratio_y: "0.1",
        start_price: "2.1000",
    },
    Row {
        symbol: "DOGEUSDT",
        base: "DOGE",
        launch: 1622630640000,
        price_scale: 5,
        tick: "0.00001",
        min_price: "0.00001",
        max_price: "199.99998",
        qty_step: "1",
        min_qty: "1",
        max_qty: "43678900",
        max_mkt_qty: "5991100",
        min_notional: "5",
        max_leverage: "75.00",
        funding_interval: 480,
        funding_cap: "0.0058",
        ratio_x: "0.05",
        ratio_y: "0.1",
        start_price: "0.18000",
    },
    Row {
        symbol: "ZRXUSDT",
        base: "ZRX",
        launch: 1648453878000,
        price_scale: 5,
        tick: "0.00001",
        min_price: "0.00001",
        max_price: "199.99998",
        qty_step: "1",
        min_qty: "1",
        max_qty: "1600000",
        max_mkt_qty: "320000",
        min_notional: "5",
        max_leverage: "25.00",
        funding_interval: 60,
        funding_cap: "0.02",
        ratio_x: "0.1",
        ratio_y: "0.2",
        start_price: "0.25000",
    },
    Row {
        symbol: "1000000BABYDOGEUSDT",
        base: "1000000BABYDOGE",
        launch: 1718098044000,
        price_scale: 7,
        tick: "0.0000001",
        min_price: "0.0000001",
        max_price: "1.9999998",
        qty_step: "100",
        min_qty: "100",
        max_qty: "60000000",
        max_mkt_qty: "12000000",
        min_notional: "5",
        max_leverage: "25.00",
        funding_interval: 240,
        funding_cap: "0.02",
        ratio_x: "0.15",
        ratio_y: "0.3",
        start_price: "0.0015000",
    },
];

fn dec(text: &str) -> Decimal {
    // The table is ours and every entry is a valid decimal; a typo shows up in the
    // `default_table_parses` test, not at run time.
    Decimal::from_str(text).unwrap_or_default()
}

fn info(row: &Row) -> InstrumentInfo {
    let cap = dec(row.funding_cap);
    InstrumentInfo {
        symbol: row.symbol.to_owned(),
        symbol_id: None,
        contract_type: Some(ContractType::LinearPerpetual),
        status: InstrumentStatus::Trading,
        base_coin: row.base.to_owned(),
        quote_coin: "USDT".to_owned(),
        settle_coin: "USDT".to_owned(),
        launch_time: Some(row.launch),
        delivery_time: Some(0),
        delivery_fee_rate: None,
        price_scale: Some(row.price_scale),
        leverage_filter: LeverageFilter {
            min_leverage: Decimal::ONE,
            max_leverage: dec(row.max_leverage),
            leverage_step: dec("0.01"),
        },
        price_filter: PriceFilter {
            min_price: dec(row.min_price),
            max_price: dec(row.max_price),
            tick_size: dec(row.tick),
        },
        lot_size_filter: LotSizeFilter {
            max_order_qty: dec(row.max_qty),
            min_order_qty: dec(row.min_qty),
            qty_step: dec(row.qty_step),
            post_only_max_order_qty: Some(dec(row.max_qty)),
            max_mkt_order_qty: Some(dec(row.max_mkt_qty)),
            min_notional_value: Some(dec(row.min_notional)),
        },
        unified_margin_trade: Some(true),
        funding_interval: Some(row.funding_interval),
        copy_trading: "both".to_owned(),
        upper_funding_rate: Some(cap),
        lower_funding_rate: Some(-cap),
        is_pre_listing: false,
        pre_listing_info: None,
        risk_parameters: Some(RiskParameters {
            price_limit_ratio_x: Some(dec(row.ratio_x)),
            price_limit_ratio_y: Some(dec(row.ratio_y)),
        }),
        display_name: Some(String::new()),
        symbol_type: Some(String::new()),
    }
}

/// The default instruments, in Bybit's instruments-info shape.
pub fn instruments() -> Vec<InstrumentInfo> {
    ROWS.iter().map(info).collect()
}

/// A starting price for each default instrument, on its tick.
pub fn start_prices() -> BTreeMap<String, Decimal> {
    ROWS.iter()
        .map(|r| (r.symbol.to_owned(), dec(r.start_price)))
        .collect()
}

/// The category every default instrument belongs to.
pub const CATEGORY: Category = Category::Linear;
