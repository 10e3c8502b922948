//! Margin and cost: the initial margin positions and open orders hold, what an order needs.

use bybit_types::{OrderStatus, WireSide};
use rust_decimal::Decimal;

use super::{Engine, MAINTENANCE_RATE};

impl Engine {
    /// Initial margin of the open position of `symbol`.
    pub(crate) fn position_im(&self, symbol: &str) -> Decimal {
        self.positions.get(symbol).map_or(Decimal::ZERO, |p| {
            if p.leverage.is_zero() {
                Decimal::ZERO
            } else {
                p.size * p.avg / p.leverage
            }
        })
    }

    /// Initial margin held by `symbol`'s open orders: orders that would add to the position,
    /// and the part of opposite orders beyond the position they would close. Conditional
    /// orders hold nothing until they trigger; reduce-only orders hold nothing.
    pub(crate) fn order_im(&self, symbol: &str) -> Decimal {
        self.order_im_with(symbol, None, None)
    }

    /// [`Engine::order_im`] as it would be with `extra` (side, qty, price) added and the order
    /// `without` left out: the margin a new or amended order adds is the difference.
    pub(super) fn order_im_with(
        &self,
        symbol: &str,
        extra: Option<(WireSide, Decimal, Decimal)>,
        without: Option<u64>,
    ) -> Decimal {
        let pos = self.position_view(symbol);
        let leverage = pos.leverage.max(Decimal::ONE);
        let mut buy = (Decimal::ZERO, Decimal::ZERO); // (qty, value)
        let mut sell = (Decimal::ZERO, Decimal::ZERO);
        let resting = self
            .open_iter()
            .filter(|o| {
                o.symbol == symbol
                    && matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled)
                    && !o.closes_only()
                    && Some(o.seq) != without
            })
            .map(|o| (o.side, o.leaves, o.price));
        for (side, qty, price) in resting.chain(extra) {
            let book = if side == WireSide::Buy {
                &mut buy
            } else {
                &mut sell
            };
            book.0 += qty;
            book.1 += qty * price;
        }
        let excess = |(qty, value): (Decimal, Decimal), covered: Decimal| -> Decimal {
            if qty.is_zero() || qty <= covered {
                Decimal::ZERO
            } else {
                value * (qty - covered) / qty
            }
        };
        let (buy_covered, sell_covered) = match pos.side {
            Some(WireSide::Buy) => (Decimal::ZERO, pos.size),
            Some(WireSide::Sell) => (pos.size, Decimal::ZERO),
            None => (Decimal::ZERO, Decimal::ZERO),
        };
        (excess(buy, buy_covered) + excess(sell, sell_covered)) / leverage
    }

    pub(crate) fn unrealised(&self) -> Decimal {
        self.positions
            .iter()
            .map(|(s, p)| p.unrealised(self.last_price(s)))
            .sum()
    }

    pub(crate) fn total_position_im(&self) -> Decimal {
        self.positions.keys().map(|s| self.position_im(s)).sum()
    }

    pub(crate) fn total_order_im(&self) -> Decimal {
        self.instruments.keys().map(|s| self.order_im(s)).sum()
    }

    pub(crate) fn total_maintenance(&self) -> Decimal {
        self.positions
            .iter()
            .map(|(s, p)| p.size * self.last_price(s) * MAINTENANCE_RATE)
            .sum()
    }

    /// Margin balance minus initial margin in use: what a new order may spend.
    pub(crate) fn available(&self) -> Decimal {
        self.wallet + self.unrealised() - self.total_position_im() - self.total_order_im()
    }

    /// Margin and opening fee a new order needs: the initial margin it adds to the symbol's
    /// open orders (an order that only closes the position adds none, one that goes beyond it
    /// or joins other orders on that side adds its share) plus the taker fee on that share.
    pub(super) fn order_cost(
        &self,
        symbol: &str,
        side: WireSide,
        qty: Decimal,
        price: Decimal,
    ) -> Decimal {
        self.order_cost_replacing(symbol, side, qty, price, None)
    }

    pub(super) fn order_cost_replacing(
        &self,
        symbol: &str,
        side: WireSide,
        qty: Decimal,
        price: Decimal,
        replacing: Option<u64>,
    ) -> Decimal {
        let before = self.order_im_with(symbol, None, None);
        let after = self.order_im_with(symbol, Some((side, qty, price)), replacing);
        let added = (after - before).max(Decimal::ZERO);
        let leverage = self.position_view(symbol).leverage.max(Decimal::ONE);
        added + added * leverage * self.fees.taker
    }
}
