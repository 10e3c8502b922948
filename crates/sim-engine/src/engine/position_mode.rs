//! Position mode (docs/v5/position/position-mode.mdx): one-way (`mode 0`, "Merged Single",
//! the default) or hedge (`mode 3`, "Both Sides") per symbol. The engine trades one-way
//! positions only: a hedge-mode symbol can be switched to and reported (the position list
//! shows its two sides, positionIdx 1 and 2), but an order on it is refused as Bybit refuses
//! a one-way order there (10001 "position idx not match position mode").

use bybit_types::rest::position::Position;

use super::Engine;
use crate::reject::Reject;

impl Engine {
    /// `POST /v5/position/switch-mode` for one symbol: `hedge` for mode 3, else mode 0.
    /// Refused with Bybit's codes (docs/v5/error.mdx): 110025 when the symbol is already in
    /// that mode, 110024 while it has a position, 110028 while it has open orders.
    pub fn switch_position_mode(
        &mut self,
        now: i64,
        symbol: &str,
        hedge: bool,
    ) -> Result<(), Reject> {
        self.touch(now);
        self.instrument(symbol)?;
        if self.is_hedge_mode(symbol) == hedge {
            return Err(Reject::new(110025, "Position mode has not been modified."));
        }
        if self.position_view(symbol).side.is_some() {
            return Err(Reject::new(
                110024,
                "You have an existing position, so the position mode cannot be switched.",
            ));
        }
        if self.open_iter().any(|o| o.symbol == symbol) {
            return Err(Reject::new(
                110028,
                "You have existing open orders, so the position mode cannot be switched.",
            ));
        }
        if hedge {
            self.hedge.insert(symbol.to_owned());
        } else {
            self.hedge.remove(symbol);
        }
        Ok(())
    }

    /// Whether `symbol` is in hedge mode.
    pub fn is_hedge_mode(&self, symbol: &str) -> bool {
        self.hedge.contains(symbol)
    }

    /// The position list of one symbol (`GET /v5/position/list?symbol=`): its one row in
    /// one-way mode; in hedge mode one flat row per side, positionIdx 1 (Buy side) and 2
    /// (Sell side), as Bybit lists them.
    pub fn positions_of(&self, symbol: &str) -> Result<Vec<Position>, Reject> {
        let row = self.position_of(symbol)?;
        if !self.is_hedge_mode(symbol) {
            return Ok(vec![row]);
        }
        Ok([1, 2]
            .into_iter()
            .map(|idx| {
                let mut side = row.clone();
                side.position_idx = idx;
                side
            })
            .collect())
    }

    /// Refuses an order on a hedge-mode symbol: orders reach the engine as one-way orders
    /// (positionIdx 0), which Bybit refuses there.
    pub(crate) fn check_one_way(&self, symbol: &str) -> Result<(), Reject> {
        if self.is_hedge_mode(symbol) {
            return Err(Reject::params("position idx not match position mode"));
        }
        Ok(())
    }
}
