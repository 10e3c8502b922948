//! The order price limit and the account's price-limit action: the one place the band is
//! computed, served (`/v5/market/price-limit`, `priceLimit.{symbol}`) and applied to a limit
//! price (create, amend).
//!
//! - docs/v5/market/order-price-limit.mdx: `buyLmt` (highest bid price), `sellLmt` (lowest
//!   ask price) per symbol.
//! - docs/v5/account/set-price-limit.mdx: `modifyEnable` `true` moves a limit price beyond the
//!   limit to the nearest allowed price; `false` refuses the order. Futures default `true`,
//!   spot `false`; setting `linear` or `inverse` sets every futures category.
//! - docs/v5/account/get-user-setting-config.mdx: `lpaSpot` / `lpaPerp` (see
//!   [`LimitPxAction`] for which boolean means what).
//!
//! The band itself is `reference × (1 ± priceLimitRatioY)` (instruments-info
//! `riskParameters`), the reference being the last price (or a conditional's trigger price):
//! the engine has no index or mark price apart from the last price, so the docs' formula
//! (`min(Mark × (1 + Y), max(Index, Mark × (1 + X) + α × max(0, Premium_avg)))`) reduces to
//! its outer term. A client never recomputes it: it reads the band from the endpoint.

use bybit_meta::RoundingMode;
use bybit_types::WireSide;
use rust_decimal::Decimal;

use super::Engine;
use crate::reject::Reject;

/// The prices a limit order may carry now (docs/v5/market/order-price-limit.mdx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceLimit {
    /// `buyLmt`: the highest price a buy may carry, on the tick.
    pub buy_max: Decimal,
    /// `sellLmt`: the lowest price a sell may carry, on the tick.
    pub sell_min: Decimal,
}

/// The product types the price-limit action is set for (docs/v5/account/set-price-limit.mdx:
/// `linear`, `inverse`, `spot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitPxCategory {
    /// `linear` or `inverse`: one setting for all futures.
    Futures,
    /// `spot`.
    Spot,
}

/// The account's price-limit action as `modifyEnable` values: `true` = a limit price beyond
/// the band is moved to the bound, `false` = refused.
///
/// On the wire (docs/v5/account/get-user-setting-config.mdx, the parameter table) `lpaSpot`
/// `true` means *adjust*, but `lpaPerp` `true` means *reject*: `lpaSpot = spot`,
/// `lpaPerp = !futures`. The pages' info boxes word the defaults differently (set-price-limit
/// pairs the futures default with "lpaSpot = true, lpaPerp = false"); the tables are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitPxAction {
    /// Spot `modifyEnable` (default `false`).
    pub spot: bool,
    /// Futures `modifyEnable` (default `true`).
    pub futures: bool,
}

impl Default for LimitPxAction {
    fn default() -> Self {
        LimitPxAction {
            spot: false,
            futures: true,
        }
    }
}

impl LimitPxAction {
    /// `lpaSpot`: `true` = adjust.
    pub fn lpa_spot(&self) -> bool {
        self.spot
    }

    /// `lpaPerp`: `true` = reject.
    pub fn lpa_perp(&self) -> bool {
        !self.futures
    }
}

impl Engine {
    /// `GET /v5/market/price-limit`: the band around the last price, or `None` when the
    /// instrument has no `priceLimitRatioY`.
    pub fn price_limit(&self, symbol: &str) -> Result<Option<PriceLimit>, Reject> {
        self.band_around(symbol, self.last_price(symbol))
    }

    /// The band around `reference`, rounded inward onto the tick (a bound is a price an order
    /// may carry).
    pub(crate) fn band_around(
        &self,
        symbol: &str,
        reference: Decimal,
    ) -> Result<Option<PriceLimit>, Reject> {
        let inst = self.instrument(symbol)?;
        let Some(ratio) = inst.band else {
            return Ok(None);
        };
        let round = |p: Decimal, mode| inst.rules.round_price(p, mode).unwrap_or(p);
        Ok(Some(PriceLimit {
            buy_max: round(reference * (Decimal::ONE + ratio), RoundingMode::Down),
            sell_min: round(reference * (Decimal::ONE - ratio), RoundingMode::Up),
        }))
    }

    /// A limit price checked against the band around `reference`: inside, it stands; beyond
    /// it, moved to the bound when the account's futures `modifyEnable` is on, refused with
    /// 30208 (buy) / 30209 (sell) when it is off. Passive prices far from the market are
    /// allowed, as on Bybit.
    pub(super) fn apply_band(
        &self,
        symbol: &str,
        side: WireSide,
        price: Decimal,
        reference: Decimal,
    ) -> Result<Decimal, Reject> {
        let Some(band) = self.band_around(symbol, reference)? else {
            return Ok(price);
        };
        let adjust = self.limit_px.futures;
        match side {
            WireSide::Buy if price > band.buy_max => match adjust {
                true => Ok(band.buy_max),
                false => Err(Reject::above_max_buy_price()),
            },
            WireSide::Sell if price < band.sell_min => match adjust {
                true => Ok(band.sell_min),
                false => Err(Reject::below_min_sell_price()),
            },
            _ => Ok(price),
        }
    }

    /// `POST /v5/account/set-limit-px-action`.
    pub fn set_limit_px_action(&mut self, category: LimitPxCategory, modify_enable: bool) {
        match category {
            LimitPxCategory::Futures => self.limit_px.futures = modify_enable,
            LimitPxCategory::Spot => self.limit_px.spot = modify_enable,
        }
    }

    /// The account's price-limit action (`GET /v5/account/user-setting-config`).
    pub fn limit_px_action(&self) -> LimitPxAction {
        self.limit_px
    }
}
