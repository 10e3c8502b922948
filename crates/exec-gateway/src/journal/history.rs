//! A trade's history from the journal: when it opened and closed, what filled, and its
//! realised P&L. [`trade_pnl`] is the one owner of the P&L rule; `bybit-exec trades`, the
//! status page and the demo call it.
//!
//! A trade's fills are the journaled fills whose orderLinkId names the trade, plus the
//! position-level executions on its symbol that carry no orderLinkId between its opening and
//! its closing: funding, liquidation, and closing fills (the side that reduces the trade's
//! position: a position stop set by trading-stop, a close by hand). One open trade per symbol
//! (R-SAFE-2) makes those the trade's; a fill without orderLinkId on the trade's own side (an
//! order placed by hand that adds to the position) is not the trade's.

use std::collections::HashMap;

use exec_events::{ExecKind, Fill, Side};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Journal, JournalError, PlanRow, StateRow};
use crate::link_id::LinkIds;
use crate::types::Phase;

/// A trade's realised profit and loss, in the settle coin (USDT), from its fills.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TradePnl {
    /// The exchange's realised P&L of the trade's executions before fees (Σ `execPnl`).
    pub closed_pnl: Decimal,
    /// Trading fees paid (Σ `execFee` of the trade executions; a rebate is negative).
    pub fees: Decimal,
    /// Funding received (negative: paid), Σ −`execFee` of its funding executions.
    pub funding: Decimal,
    /// `closed_pnl − fees + funding`: what the trade added to the wallet.
    pub realised: Decimal,
    /// Trade executions whose `execPnl` the journal does not hold (journaled before it was
    /// kept, or by a dry run): when not 0, `closed_pnl` is missing their part.
    pub unknown_pnl_fills: usize,
}

/// The realised P&L of `fills` (one trade's): Σ execPnl − Σ trading fees + funding, exactly,
/// in `Decimal`. This is the wallet's own arithmetic (each execution moves the wallet by
/// execPnl − execFee), so it equals what the exchange booked for these executions.
pub fn trade_pnl(fills: &[Fill]) -> TradePnl {
    let mut pnl = TradePnl::default();
    for f in fills {
        match f.exec_kind {
            ExecKind::Funding => pnl.funding += f.pnl.unwrap_or_default() - f.fee,
            _ => {
                match f.pnl {
                    Some(p) => pnl.closed_pnl += p,
                    None => pnl.unknown_pnl_fills += 1,
                }
                pnl.fees += f.fee;
            }
        }
    }
    pnl.realised = pnl.closed_pnl - pnl.fees + pnl.funding;
    pnl
}

/// One trade as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TradeHistory {
    /// The trade's client tag.
    pub tag: String,
    /// Symbol.
    pub symbol: String,
    /// The plan's side (`Buy`: long).
    pub side: Side,
    /// When its plan was journaled (ms).
    pub opened_time_ms: i64,
    /// When it reached CLOSED or ERROR (ms); `None` while it is open.
    pub closed_time_ms: Option<i64>,
    /// Its last journaled phase (`None`: none yet).
    pub phase: Option<Phase>,
    /// The quantity it bought (long) or sold (short): entry and DCA fills.
    pub qty: Decimal,
    /// The quantity it closed again.
    pub closed_qty: Decimal,
    /// Average price of the opening fills.
    pub avg_entry: Option<Decimal>,
    /// Average price of the closing fills.
    pub avg_exit: Option<Decimal>,
    /// Its realised P&L.
    pub pnl: TradePnl,
    /// How many executions it had (funding included).
    pub fills: usize,
}

impl TradeHistory {
    /// Whether the trade is finished (CLOSED or ERROR).
    pub fn is_finished(&self) -> bool {
        self.closed_time_ms.is_some()
    }
}

fn average(fills: &[&Fill]) -> (Decimal, Option<Decimal>) {
    let qty: Decimal = fills.iter().map(|f| f.qty).sum();
    let value: Decimal = fills.iter().map(|f| f.price * f.qty).sum();
    let avg = (qty > Decimal::ZERO).then(|| (value / qty).normalize());
    (qty, avg)
}

/// The journal's fills sorted once for many trades: those whose orderLinkId names a trade, by
/// its tag, and those without one (a position stop, funding, a liquidation), by symbol. A
/// listing of every trade then reads each fill once, not once per trade.
struct FillIndex<'a> {
    links: &'a LinkIds,
    /// By the tag as the orderLinkIds carry it ([`LinkIds::tag_of`] the client tag).
    by_tag: HashMap<&'a str, Vec<&'a Fill>>,
    unlinked: HashMap<&'a str, Vec<&'a Fill>>,
}

impl<'a> FillIndex<'a> {
    fn new(all: &'a [Fill], links: &'a LinkIds) -> Self {
        let mut index = FillIndex {
            links,
            by_tag: HashMap::new(),
            unlinked: HashMap::new(),
        };
        for f in all {
            if f.order_link_id.is_empty() {
                index.unlinked.entry(f.symbol.as_str()).or_default().push(f);
            } else if let Some((_, tag)) = links.parse(&f.order_link_id) {
                index.by_tag.entry(tag).or_default().push(f);
            }
        }
        index
    }
}

/// The trade's fills: its own (by orderLinkId) and the position-level ones without an
/// orderLinkId on its symbol during its life (see the module's text).
fn fills_of(row: &PlanRow, closed_time_ms: Option<i64>, index: &FillIndex<'_>) -> Vec<Fill> {
    let plan = &row.plan;
    // A client tag may carry the prefix (`andre_T1`); its ids do not repeat it.
    let own = index.by_tag.get(index.links.tag_of(&plan.client_tag));
    // A fill without an orderLinkId is the trade's when it acts on its position during its
    // life: funding, a liquidation, or one that closes its side (a trading-stop stop).
    let unlinked = index
        .unlinked
        .get(plan.symbol.as_str())
        .into_iter()
        .flatten()
        .filter(|f| {
            let position_level = match f.exec_kind {
                ExecKind::Funding | ExecKind::Liquidation => true,
                _ => f.side != plan.side,
            };
            position_level
                && f.time_ms >= row.at_ms
                && closed_time_ms.is_none_or(|c| f.time_ms <= c)
        });
    own.into_iter()
        .flatten()
        .chain(unlinked)
        .map(|f| (*f).clone())
        .collect()
}

/// When the trade reached CLOSED or ERROR (its last state), if it did.
fn closed_time(states: &[StateRow]) -> Option<i64> {
    states
        .last()
        .filter(|s| matches!(s.phase, Phase::Closed | Phase::Error))
        .map(|s| s.at_ms)
}

fn history_of(row: &PlanRow, states: &[StateRow], index: &FillIndex<'_>) -> TradeHistory {
    let plan = &row.plan;
    let last = states.last();
    let closed_time_ms = closed_time(states);
    let symbol = plan.symbol.as_str();
    let fills = fills_of(row, closed_time_ms, index);
    let trades: Vec<&Fill> = fills
        .iter()
        .filter(|f| !matches!(f.exec_kind, ExecKind::Funding))
        .collect();
    let opening: Vec<&Fill> = trades
        .iter()
        .copied()
        .filter(|f| f.side == plan.side)
        .collect();
    let closing: Vec<&Fill> = trades
        .iter()
        .copied()
        .filter(|f| f.side != plan.side)
        .collect();
    let (qty, avg_entry) = average(&opening);
    let (closed_qty, avg_exit) = average(&closing);
    TradeHistory {
        tag: plan.client_tag.clone(),
        symbol: symbol.to_owned(),
        side: plan.side,
        opened_time_ms: row.at_ms,
        closed_time_ms,
        phase: last.map(|s| s.phase),
        qty,
        closed_qty,
        avg_entry,
        avg_exit,
        pnl: trade_pnl(&fills),
        fills: fills.len(),
    }
}

/// Every trade in the journal, in the order their plans were recorded. `links` names the
/// orderLinkIds (the application's prefix).
pub async fn trade_histories(
    journal: &dyn Journal,
    links: &LinkIds,
) -> Result<Vec<TradeHistory>, JournalError> {
    let fills = journal.fills("").await?;
    let index = FillIndex::new(&fills, links);
    let mut histories = Vec::new();
    for row in journal.plans().await? {
        let states = journal.states(&row.plan.client_tag).await?;
        histories.push(history_of(&row, &states, &index));
    }
    Ok(histories)
}

/// The fills [`trade_history`] counts for the trade `tag` (its P&L is theirs), oldest
/// first as journaled; empty when the journal holds no plan for `tag`.
pub async fn trade_fills(
    journal: &dyn Journal,
    links: &LinkIds,
    tag: &str,
) -> Result<Vec<Fill>, JournalError> {
    let Some(row) = journal
        .plans()
        .await?
        .into_iter()
        .find(|r| r.plan.client_tag == tag)
    else {
        return Ok(Vec::new());
    };
    let states = journal.states(tag).await?;
    let all = journal.fills("").await?;
    let mut fills = fills_of(&row, closed_time(&states), &FillIndex::new(&all, links));
    // Own and position-level fills together, in the journal's order.
    let order: HashMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(n, f)| (f.exec_id.as_str(), n))
        .collect();
    fills.sort_by_key(|f| order.get(f.exec_id.as_str()).copied());
    Ok(fills)
}

/// One trade, `None` when the journal holds no plan for `tag`.
pub async fn trade_history(
    journal: &dyn Journal,
    links: &LinkIds,
    tag: &str,
) -> Result<Option<TradeHistory>, JournalError> {
    // The plan's own time is kept only in the list of plans.
    let Some(row) = journal
        .plans()
        .await?
        .into_iter()
        .find(|r| r.plan.client_tag == tag)
    else {
        return Ok(None);
    };
    let states = journal.states(tag).await?;
    let fills = journal.fills("").await?;
    Ok(Some(history_of(
        &row,
        &states,
        &FillIndex::new(&fills, links),
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use rust_decimal_macros::dec;

    use super::*;

    fn fill(kind: ExecKind, side: Side, pnl: Option<Decimal>, fee: Decimal) -> Fill {
        Fill {
            exec_id: "e".into(),
            symbol: "BTCUSDT".into(),
            side,
            order_id: "o".into(),
            order_link_id: "andre_ENTRY_T".into(),
            price: dec!(50000),
            qty: dec!(0.01),
            fee,
            fee_currency: "USDT".into(),
            is_maker: false,
            pnl,
            exec_kind: kind,
            time_ms: 1,
            simulated: false,
        }
    }

    #[test]
    fn realised_is_closed_pnl_minus_fees_plus_funding() {
        let fills = [
            fill(ExecKind::Trade, Side::Buy, Some(dec!(0)), dec!(0.275)),
            fill(ExecKind::Trade, Side::Sell, Some(dec!(10)), dec!(0.11)),
            fill(ExecKind::Trade, Side::Sell, Some(dec!(-0.5)), dec!(-0.01)),
            fill(ExecKind::Funding, Side::Buy, Some(dec!(0)), dec!(0.02)),
        ];
        let pnl = trade_pnl(&fills);
        assert_eq!(pnl.closed_pnl, dec!(9.5));
        assert_eq!(pnl.fees, dec!(0.375));
        assert_eq!(pnl.funding, dec!(-0.02));
        assert_eq!(pnl.realised, dec!(9.105));
        assert_eq!(pnl.unknown_pnl_fills, 0);
        let unknown = trade_pnl(&[fill(ExecKind::Trade, Side::Sell, None, dec!(0.1))]);
        assert_eq!(unknown.unknown_pnl_fills, 1);
        assert_eq!(unknown.realised, dec!(-0.1));
    }
}
