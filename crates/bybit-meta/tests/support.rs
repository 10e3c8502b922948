//! Shared helpers: instrument specs written as Bybit's JSON, decimals from text, fixtures.

use std::str::FromStr;

use bybit_meta::{InstrumentRules, MetaError};
use bybit_types::rest::market::{InstrumentInfo, InstrumentsInfo};
use bybit_types::{RawEnvelope, Symbol};
use rust_decimal::Decimal;

/// A decimal from its text, keeping the scale as written (`"0.010"` has scale 3).
pub(crate) fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

pub(crate) fn sym(text: &str) -> Symbol {
    Symbol::new(text).unwrap()
}

/// One instrument as Bybit would describe it. Fields are the wire text; `None` leaves the
/// field out of the JSON, as older payloads do.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) symbol: &'static str,
    pub(crate) status: &'static str,
    pub(crate) price_scale: Option<&'static str>,
    pub(crate) tick: &'static str,
    pub(crate) min_price: &'static str,
    pub(crate) max_price: &'static str,
    pub(crate) step: &'static str,
    pub(crate) min_qty: &'static str,
    pub(crate) max_qty: &'static str,
    pub(crate) max_mkt_qty: Option<&'static str>,
    pub(crate) min_notional: Option<&'static str>,
    pub(crate) min_leverage: &'static str,
    pub(crate) max_leverage: &'static str,
    pub(crate) leverage_step: &'static str,
}

impl Spec {
    /// SPEC R-META-1's RADUSDT: tick 0.00001, step 0.01 (the other limits are plausible values).
    pub(crate) fn rad() -> Spec {
        Spec {
            symbol: "RADUSDT",
            status: "Trading",
            price_scale: Some("5"),
            tick: "0.00001",
            min_price: "0.00001",
            max_price: "199.99998",
            step: "0.01",
            min_qty: "0.01",
            max_qty: "100000.00",
            max_mkt_qty: Some("20000.00"),
            min_notional: Some("5"),
            min_leverage: "1",
            max_leverage: "25.00",
            leverage_step: "0.01",
        }
    }

    /// A BTCUSDT-like instrument (tick 0.10, step 0.001, market max 150).
    pub(crate) fn btc() -> Spec {
        Spec {
            symbol: "BTCUSDT",
            price_scale: Some("2"),
            tick: "0.10",
            min_price: "0.10",
            max_price: "1999999.80",
            step: "0.001",
            min_qty: "0.001",
            max_qty: "1500.000",
            max_mkt_qty: Some("150.000"),
            max_leverage: "150.00",
            ..Spec::rad()
        }
    }

    /// The item as instruments-info JSON.
    pub(crate) fn json(&self) -> String {
        let optional = |name: &str, value: Option<&str>| {
            value.map_or(String::new(), |v| format!(r#","{name}":"{v}""#))
        };
        format!(
            r#"{{"symbol":"{symbol}","contractType":"LinearPerpetual","status":"{status}",
            "baseCoin":"X","quoteCoin":"USDT","settleCoin":"USDT"{price_scale},
            "leverageFilter":{{"minLeverage":"{min_leverage}","maxLeverage":"{max_leverage}","leverageStep":"{leverage_step}"}},
            "priceFilter":{{"minPrice":"{min_price}","maxPrice":"{max_price}","tickSize":"{tick}"}},
            "lotSizeFilter":{{"maxOrderQty":"{max_qty}","minOrderQty":"{min_qty}","qtyStep":"{step}"{max_mkt}{min_notional}}}}}"#,
            symbol = self.symbol,
            status = self.status,
            price_scale = optional("priceScale", self.price_scale),
            min_leverage = self.min_leverage,
            max_leverage = self.max_leverage,
            leverage_step = self.leverage_step,
            min_price = self.min_price,
            max_price = self.max_price,
            tick = self.tick,
            max_qty = self.max_qty,
            min_qty = self.min_qty,
            step = self.step,
            max_mkt = optional("maxMktOrderQty", self.max_mkt_qty),
            min_notional = optional("minNotionalValue", self.min_notional),
        )
    }

    /// The item parsed the way the REST layer will parse it.
    pub(crate) fn info(&self) -> InstrumentInfo {
        infos_from_items(&[self.json()]).remove(0)
    }

    pub(crate) fn try_rules(&self) -> Result<InstrumentRules, MetaError> {
        InstrumentRules::try_from(&self.info())
    }

    pub(crate) fn rules(&self) -> InstrumentRules {
        self.try_rules().unwrap()
    }
}

/// Wraps instrument items in a success envelope and decodes them as bybit-types does.
pub(crate) fn infos_from_items(items: &[String]) -> Vec<InstrumentInfo> {
    let body = format!(
        r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"linear","list":[{}],"nextPageCursor":""}},"retExtInfo":{{}},"time":1}}"#,
        items.join(",")
    );
    decode(&body)
}

fn decode(body: &str) -> Vec<InstrumentInfo> {
    let envelope = RawEnvelope::parse(body.as_bytes()).unwrap();
    assert!(envelope.is_success(), "retCode {}", envelope.ret_code);
    envelope
        .decode::<InstrumentsInfo>("instruments-info")
        .unwrap()
        .list
}

/// The instruments of a recorded instruments-info reply, read in place; `None` (after
/// testkit says SKIPPED) when the fixtures are absent outside CI.
pub(crate) fn fixture_infos(name: &str) -> Option<Vec<InstrumentInfo>> {
    testkit::fixture(name).map(|text| decode(&text))
}
