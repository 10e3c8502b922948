//! What an engine starts with: instruments, prices, money, fees, book shape, limits, seed.

use std::collections::BTreeMap;

use bybit_types::rest::market::InstrumentInfo;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

/// Maker and taker fee rates (fractions: `0.00055` is 0.055 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeRates {
    /// Rate charged on fills that rested on the book.
    pub maker: Decimal,
    /// Rate charged on fills that took liquidity.
    pub taker: Decimal,
}

impl Default for FeeRates {
    /// Bybit's base-tier derivatives rates: 0.02 % maker, 0.055 % taker.
    fn default() -> Self {
        FeeRates {
            maker: dec!(0.0002),
            taker: dec!(0.00055),
        }
    }
}

/// The shape of the synthetic order book the engine quotes around the last price.
///
/// Level `i` (from 0) on each side sits `(i + 1) × spacing_ticks` ticks from the last price and
/// holds `level_notional / price` contracts (floored to the step, at least the minimum
/// quantity). A small `level_notional` makes a thin book: market orders then walk several
/// levels (real slippage) or run out of depth (partial fills).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookShape {
    /// Levels per side.
    pub levels: u32,
    /// Distance between levels, in ticks.
    pub spacing_ticks: u32,
    /// Quote-coin value of each level.
    pub level_notional: Decimal,
}

impl Default for BookShape {
    fn default() -> Self {
        BookShape {
            levels: 200,
            spacing_ticks: 1,
            level_notional: dec!(50000),
        }
    }
}

/// Account-wide limits Bybit enforces (REFERENCE.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Active (non-conditional) orders per symbol (110020 beyond).
    pub max_active_orders_per_symbol: usize,
    /// Untriggered conditional orders per symbol (110009 beyond).
    pub max_conditional_orders_per_symbol: usize,
    /// Closed orders kept for lookups and duplicate-`orderLinkId` checks.
    pub recent_closed_orders: usize,
    /// Executions kept for the execution list.
    pub executions_kept: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_active_orders_per_symbol: 500,
            max_conditional_orders_per_symbol: 10,
            recent_closed_orders: 500,
            executions_kept: 100_000,
        }
    }
}

/// Everything an [`crate::Engine`] starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// The tradable instruments, in Bybit's instruments-info shape.
    pub instruments: Vec<InstrumentInfo>,
    /// Opening last price per symbol. A symbol without one starts at the midpoint of its
    /// price filter's range rounded to the tick, which is rarely what a test wants.
    pub initial_prices: BTreeMap<String, Decimal>,
    /// Opening USDT wallet balance.
    pub usdt: Decimal,
    /// Fee rates.
    pub fees: FeeRates,
    /// Leverage every symbol starts with.
    pub default_leverage: Decimal,
    /// Book shape for symbols without an override.
    pub book: BookShape,
    /// Per-symbol book shapes.
    pub book_overrides: BTreeMap<String, BookShape>,
    /// Order-count and retention limits.
    pub limits: Limits,
    /// Seed for everything random (price walks, ids). Same seed, same commands: same run.
    pub seed: u64,
    /// How far from the last price a market order may fill (a fraction: `0.05` is 5 %). Bybit
    /// turns a market order into an IOC limit at a protection price; real BTCUSDT captures
    /// put it about 5 % from the price.
    pub market_protection: Decimal,
    /// A still market: prices move only when set, replayed or traded through, and the book
    /// keeps its flat shape. Off by default: every symbol then walks at random (seeded) with
    /// trade prints, and book sizes vary like a real book's. Tests that assert exact fills
    /// against a known book turn this on.
    pub static_prices: bool,
    /// The funding rate every linear position pays (long, when positive) or receives each
    /// funding interval, and the ticker's `fundingRate`. Bybit's usual 0.01 % by default.
    pub funding_rate: Decimal,
}

impl EngineConfig {
    /// A configuration over `instruments` with Bybit-like defaults: 10× leverage, base-tier
    /// fees, a deep book, Bybit's order limits, and the given balance and seed.
    pub fn new(instruments: Vec<InstrumentInfo>, usdt: Decimal, seed: u64) -> Self {
        EngineConfig {
            instruments,
            initial_prices: BTreeMap::new(),
            usdt,
            fees: FeeRates::default(),
            default_leverage: dec!(10),
            book: BookShape::default(),
            book_overrides: BTreeMap::new(),
            limits: Limits::default(),
            seed,
            market_protection: dec!(0.05),
            static_prices: false,
            funding_rate: dec!(0.0001),
        }
    }

    /// Sets a symbol's opening price.
    #[must_use]
    pub fn with_price(mut self, symbol: &str, price: Decimal) -> Self {
        self.initial_prices.insert(symbol.to_owned(), price);
        self
    }
}
