//! Changing an instrument's trading rules mid-run. Bybit changes a contract's tick size or
//! lot size from time to time (announced, and visible in instruments-info,
//! docs/v5/market/instrument.mdx); orders sent with the old rules are then refused (10001),
//! and a client must reload the rules. Resting orders stay as they are.

use bybit_meta::InstrumentRules;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Engine;
use crate::reject::Reject;

/// New values for some of an instrument's filters; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesChange {
    /// `priceFilter.tickSize`.
    pub tick_size: Option<Decimal>,
    /// `lotSizeFilter.qtyStep`.
    pub qty_step: Option<Decimal>,
    /// `lotSizeFilter.minOrderQty`.
    pub min_order_qty: Option<Decimal>,
    /// `lotSizeFilter.maxOrderQty`.
    pub max_order_qty: Option<Decimal>,
    /// `lotSizeFilter.minNotionalValue`.
    pub min_notional_value: Option<Decimal>,
}

impl Engine {
    /// Applies `change` to `symbol`'s instruments-info and rules. The result must be rules
    /// `bybit-meta` accepts (positive tick and step, min ≤ max, …), or nothing changes and
    /// the reason comes back as 10001. Orders already resting are not touched.
    pub fn set_instrument_rules(
        &mut self,
        symbol: &str,
        change: &RulesChange,
    ) -> Result<(), Reject> {
        let instrument = self
            .instruments
            .get_mut(symbol)
            .ok_or_else(|| Reject::unknown_symbol(symbol))?;
        let mut info = instrument.info.clone();
        if let Some(tick) = change.tick_size {
            info.price_filter.tick_size = tick;
        }
        let lot = &mut info.lot_size_filter;
        if let Some(step) = change.qty_step {
            lot.qty_step = step;
        }
        if let Some(min) = change.min_order_qty {
            lot.min_order_qty = min;
        }
        if let Some(max) = change.max_order_qty {
            lot.max_order_qty = max;
            lot.post_only_max_order_qty = lot.post_only_max_order_qty.map(|_| max);
        }
        if let Some(min) = change.min_notional_value {
            lot.min_notional_value = Some(min);
        }
        let rules = InstrumentRules::try_from(&info)
            .map_err(|e| Reject::params(format!("instrument rules refused: {e}")))?;
        instrument.info = info;
        instrument.rules = rules;
        Ok(())
    }
}
