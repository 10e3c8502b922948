//! R-TEST-3: the success criteria: recovery after a restart, every order visible once, the
//! layer's state equal to the exchange's.
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, ensure, Context, Result};
use bybit_types::rest::order::Order;
use exec_events::Fill;
use exec_gateway::journal::Outcome;
use exec_gateway::{Journal, Phase, PositionService, Side, TradePlan};
use exec_journal::SqliteJournal;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::r_test_1::to_breakeven;
use super::{
    belongs, eventually, fills_until, guarded, leg_of, open_legs, phase_of, trade_of, Ctx,
    Outcomes, Process, JOURNAL_FILE, LAYER_EQUALS_EXCHANGE, RESTART, STEPS_LIMIT, VISIBLE,
};

/// R-TEST-3: the process stops mid-trade (TP1 fills while it is down where the price can be
/// moved); a new process on the same journal recovers the trade and keeps managing it.
pub(super) async fn restart(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let (first, plan) = ctx.start_with_plan("R", false).await?;
    let tag = plan.client_tag.clone();
    let before = tokio::time::timeout(STEPS_LIMIT, open_the_trade(ctx, &first, &plan))
        .await
        .unwrap_or_else(|_| Err(anyhow!("timed out opening the trade")));
    if let Err(e) = before {
        let result = guarded(ctx, &first, &plan, async { Err(e) }).await;
        first.shutdown().await;
        return result;
    }
    // The process stops; where it can, the price goes through TP1 while nobody watches.
    let through_tp1 = ctx
        .on_tick(&first, plan.tp_levels[0].price * dec!(1.0002))
        .await;
    first.shutdown().await;
    let tp1_while_down = ctx.venue.moves_prices();
    let second = async {
        if tp1_while_down {
            ctx.venue.set_price(&ctx.symbol, through_tp1?).await?;
        }
        ctx.start().await
    };
    let second = match second.await {
        Ok(second) => second,
        Err(e) => {
            // No process to clean up through: straight to the exchange.
            if let Err(left) = ctx.venue.force_flat(&ctx.symbol, &tag).await {
                println!("      cleanup of trade {tag} failed: {left:#}");
            }
            return Err(e);
        }
    };
    let steps = async {
        let r = recovered(ctx, &second, &plan, tp1_while_down).await;
        out.record(RESTART, r)
    };
    let result = guarded(ctx, &second, &plan, steps).await;
    second.shutdown().await;
    result
}

async fn open_the_trade(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<()> {
    p.gateway.execute_entry(plan).await?;
    let position = p.exchange.get_position(&ctx.symbol).await?;
    p.gateway.setup_tps(plan, &position).await?;
    p.gateway.setup_dcas(plan, &position).await?;
    Ok(())
}

async fn recovered(
    ctx: &Ctx,
    p: &Process,
    plan: &TradePlan,
    tp1_while_down: bool,
) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let found = p.gateway.recover().await?;
    let trade = found
        .iter()
        .find(|r| r.state.tag == tag)
        .with_context(|| format!("recover() did not find trade {tag}"))?;
    ensure!(
        trade.disagreements.is_empty(),
        "disagreements: {:?}",
        trade.disagreements
    );
    ensure!(
        trade.state.phase == Phase::InPosition,
        "recovered as {:?}",
        trade.state.phase
    );
    let status = |leg: &str| trade.state.orders.get(leg).and_then(|o| o.1);
    let mut seen = vec![format!("recovered {tag} IN_POSITION")];
    let tp1 = p.gateway.links().id(tag, exec_gateway::Leg::Tp(1))?;
    if tp1_while_down {
        ensure!(
            status("TP1") == Some(exec_gateway::OrderStatus::Filled),
            "TP1 is {:?} after recovery",
            status("TP1")
        );
        // The start catch-up journals the fill it missed, once.
        eventually("the missed TP1 fill is journaled", || async {
            Ok(!p.journal.fills(tp1.as_str()).await?.is_empty())
        })
        .await?;
        let n = p.journal.fills(tp1.as_str()).await?.len();
        ensure!(n == 1, "TP1 journaled {n} times");
        seen.push("TP1 filled while down, found and journaled once".to_owned());
    }
    for leg in ["TP2", "TP3"] {
        ensure!(
            status(leg) == Some(exec_gateway::OrderStatus::Open),
            "{leg} is {:?} after recovery",
            status(leg)
        );
    }
    // Monitoring continues: breakeven on the recovered state, then (where the price moves)
    // TP2 and TP3 fill and are seen by this process.
    let mut sub = p.bus.subscribe();
    let state = to_breakeven(ctx, p, &trade.state).await?;
    ensure!(
        state.phase == Phase::Breakeven,
        "breakeven left it {:?}",
        state.phase
    );
    ensure!(
        open_legs(ctx, tag, "DCA").await?.is_empty(),
        "DCAs still open after breakeven"
    );
    seen.push("breakeven cancelled the DCAs".to_owned());
    if ctx.venue.moves_prices() {
        let tp3 = p.gateway.links().id(tag, exec_gateway::Leg::Tp(3))?;
        for level in &plan.tp_levels[1..] {
            ctx.move_price(p, ctx.on_tick(p, level.price * dec!(1.0002)).await?)
                .await?;
        }
        let fills = fills_until(&mut sub, |f| f.order_link_id == tp3.as_str()).await?;
        let legs: BTreeSet<&str> = fills.iter().map(|f| leg_of(&f.order_link_id)).collect();
        ensure!(
            legs.contains("TP2") && legs.contains("TP3"),
            "fills seen after the restart: {legs:?}"
        );
        eventually("the position is flat", || async {
            Ok(p.exchange.get_position(&ctx.symbol).await?.is_flat())
        })
        .await?;
        seen.push("TP2 and TP3 filled and were seen by the new process; flat".to_owned());
    }
    let state = p
        .gateway
        .close_all(&state, "suite: restart case done")
        .await?;
    ensure!(state.phase == Phase::Closed, "closed as {:?}", state.phase);
    if ctx.venue.moves_prices() {
        seen.push("closed".to_owned());
    } else {
        // No price to move: the fill that flattened the position is what the new process
        // must see: the close's, or the breakeven stop's if the market fell back to the
        // entry first (a stop the exchange places carries no orderLinkId).
        let flattening =
            |f: &Fill| f.order_link_id.is_empty() || leg_of(&f.order_link_id).starts_with("CLOSE");
        let fills = fills_until(&mut sub, flattening).await?;
        let by = fills
            .last()
            .map_or("", |f| leg_of(&f.order_link_id))
            .to_owned();
        let by = if by.is_empty() {
            "the breakeven stop"
        } else {
            &by
        };
        seen.push(format!(
            "closed, and the fill that flattened it ({by}) was seen by the new process"
        ));
    }
    Ok(seen.join("; "))
}

/// R-TEST-3 over every trade of the run: each order the layer sent is on the exchange, once,
/// and the exchange has no order of these trades the journal lacks.
pub(super) async fn every_order_visible(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let stray = if ctx.stray_order {
        Some(place_stray_order(ctx).await?)
    } else {
        None
    };
    let r = sweep(ctx).await;
    if let Some(tag) = stray {
        ctx.venue.force_flat(&ctx.symbol, &tag).await?;
    }
    out.record(VISIBLE, r)
}

/// The negative control (`--inject-stray-order`): a copy of the first trade's DCA1 order,
/// resting far under the market under that trade's name (`DCA9`), sent straight to the
/// exchange so the journal never hears of it. Returns the trade's tag.
async fn place_stray_order(ctx: &Ctx) -> Result<String> {
    let tag = ctx
        .tags()
        .first()
        .cloned()
        .context("no trade to impersonate")?;
    let model = ctx
        .orders_of(&tag)
        .await?
        .into_iter()
        .find(|o| leg_of(&o.order_link_id) == "DCA1")
        .context("the first trade has no DCA1 to copy")?;
    let price = model.price.context("DCA1 has no price")?;
    let link = format!("{}DCA9_{tag}", exec_gateway::DEFAULT_LINK_PREFIX);
    ctx.venue
        .place_limit(&ctx.symbol, model.qty, price, &link)
        .await?;
    println!("      (negative control: {link} placed behind the layer's back)");
    Ok(tag)
}

async fn sweep(ctx: &Ctx) -> Result<String> {
    let journal = SqliteJournal::open(ctx.dir.join(JOURNAL_FILE))?;
    let truth = ctx.venue.truth_orders(&ctx.symbol).await?;
    judge_orders(&ctx.tags(), &truth, &journal).await
}

/// The R-TEST-3 verdict on the exchange's orders (`truth`) against the journal, for the
/// trades `tags`: every acknowledged intent is on the exchange exactly once, the exchange has
/// no order of these trades the journal lacks, and no trade has more than one entry.
async fn judge_orders(tags: &[String], truth: &[Order], journal: &dyn Journal) -> Result<String> {
    let mut checked = 0;
    let mut problems = Vec::new();
    for tag in tags {
        let mut on_exchange: BTreeMap<&str, usize> = BTreeMap::new();
        for o in truth.iter().filter(|o| belongs(&o.order_link_id, tag)) {
            if o.order_link_id.starts_with("suite_") {
                continue; // the suite's own last-resort cleanup
            }
            *on_exchange.entry(o.order_link_id.as_str()).or_default() += 1;
        }
        let intents = journal.intents(tag).await?;
        let sent: BTreeSet<&str> = intents
            .iter()
            .filter(|r| {
                r.outcomes.iter().any(|o| {
                    matches!(
                        o,
                        Outcome::Acked { .. } | Outcome::Resolved { found: true, .. }
                    )
                })
            })
            .map(|r| r.intent.order_link_id.as_str())
            .collect();
        let journaled: BTreeSet<&str> = intents
            .iter()
            .map(|r| r.intent.order_link_id.as_str())
            .collect();
        for link in &sent {
            match on_exchange.get(link) {
                None => problems.push(format!(
                    "{link} was acknowledged but is not on the exchange"
                )),
                Some(1) => checked += 1,
                Some(n) => problems.push(format!("{link} is on the exchange {n} times")),
            }
        }
        for link in on_exchange.keys() {
            if !journaled.contains(link) {
                problems.push(format!("{link} is on the exchange but not in the journal"));
            }
        }
        let entries: usize = on_exchange
            .iter()
            .filter(|(l, _)| leg_of(l) == "ENTRY")
            .map(|(_, n)| n)
            .sum();
        if entries > 1 {
            problems.push(format!("trade {tag} has {entries} entries"));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    ensure!(
        checked > 0,
        "no orders to check (no trade got as far as an order)"
    );
    Ok(format!(
        "{checked} acknowledged orders of {} trades each found once on the exchange; none \
         there that the journal lacks; at most one entry per trade",
        tags.len()
    ))
}

/// R-TEST-3: the layer's positions and open orders equal the exchange's, with a position
/// open (after a DCA fill where the price can be moved) and after the close; at the end of
/// the run nothing of it is left open.
pub(super) async fn layer_equals_exchange(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let (p, plan) = ctx.start_with_plan("V", false).await?;
    let steps = async {
        let r = compare_views(ctx, &p, &plan).await;
        out.record(LAYER_EQUALS_EXCHANGE, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result
}

async fn compare_views(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let mut seen = Vec::new();
    open_the_trade(ctx, p, plan).await?;
    seen.push(same_view(ctx, p, tag, "entry, TPs and DCAs placed").await?);
    if ctx.venue.moves_prices() {
        let mut sub = p.bus.subscribe();
        let dca1 = p.gateway.links().id(tag, exec_gateway::Leg::Dca(1))?;
        let through = ctx
            .on_tick(p, plan.dca_levels[0].price * dec!(0.9998))
            .await?;
        ctx.move_price(p, through).await?;
        fills_until(&mut sub, |f| f.order_link_id == dca1.as_str()).await?;
        let position = p.exchange.get_position(&ctx.symbol).await?;
        p.gateway.setup_tps(plan, &position).await?;
        seen.push(same_view(ctx, p, tag, "DCA1 filled and the TPs resized").await?);
    }
    let state = trade_of(p, tag)?;
    let state = p.gateway.close_all(&state, "suite: compare done").await?;
    ensure!(state.phase == Phase::Closed, "closed as {:?}", state.phase);
    seen.push(same_view(ctx, p, tag, "closed").await?);
    // Every trade of the run is over: nothing of any is left on the exchange.
    for t in ctx.tags() {
        if let Some(left) = ctx.left_over(&t).await? {
            bail!("trade {t} left {left}");
        }
    }
    seen.push(format!(
        "all {} trades of the run flat and without open orders",
        ctx.tags().len()
    ));
    Ok(seen.join("; "))
}

/// Compares the layer's position, trade state and open orders with the exchange's.
async fn same_view(ctx: &Ctx, p: &Process, tag: &str, when: &str) -> Result<String> {
    let layer = p.exchange.get_position(&ctx.symbol).await?;
    let truth = ctx.venue.truth_position(&ctx.symbol).await?;
    let layer_side = layer.side.map(|side| match side {
        Side::Buy => bybit_types::WireSide::Buy,
        Side::Sell => bybit_types::WireSide::Sell,
    });
    let truth_side = truth.side.filter(|_| !truth.size.is_zero());
    ensure!(
        layer.size == truth.size && layer_side == truth_side,
        "{when}: the layer says {:?} {}, the exchange {:?} {}",
        layer.side,
        layer.size,
        truth.side,
        truth.size
    );
    if !truth.size.is_zero() {
        ensure!(
            layer.entry_price == truth.avg_price,
            "{when}: entry price {:?} in the layer, {:?} on the exchange",
            layer.entry_price,
            truth.avg_price
        );
    }
    let mut layer_open: Vec<(String, Decimal, Option<Decimal>)> = p
        .exchange
        .get_open_orders(&ctx.symbol)
        .await?
        .into_iter()
        .filter(|o| belongs(&o.order_link_id, tag))
        .map(|o| (o.order_link_id, o.qty, o.price.or(o.trigger_price)))
        .collect();
    let mut truth_open: Vec<(String, Decimal, Option<Decimal>)> = ctx
        .open_orders_of(tag)
        .await?
        .into_iter()
        .map(|o| {
            let price = o.price.filter(|p| !p.is_zero()).or(o.trigger_price);
            (o.order_link_id, o.qty, price)
        })
        .collect();
    layer_open.sort();
    truth_open.sort();
    ensure!(
        layer_open == truth_open,
        "{when}: open orders in the layer {layer_open:?}, on the exchange {truth_open:?}"
    );
    let phase = phase_of(p, tag)?;
    let expected = if truth.size.is_zero() {
        Phase::Closed
    } else {
        Phase::InPosition
    };
    ensure!(phase == expected, "{when}: the trade is {phase:?}");
    Ok(format!(
        "{when}: both say position {} and {} open orders (trade {})",
        truth.size.normalize(),
        truth_open.len(),
        phase.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use bybit_types::rest::order::Order;
    use exec_gateway::journal::{Intent, Outcome};
    use exec_gateway::{Journal, MemoryJournal};
    use rust_decimal_macros::dec;
    use serde_json::json;

    use super::judge_orders;

    fn order(id: &str, link: &str) -> Order {
        serde_json::from_value(json!({
            "symbol": "BTCUSDT", "orderId": id, "orderLinkId": link, "side": "Buy",
            "orderType": "Market", "price": "0", "qty": "0.004", "orderStatus": "Filled",
            "cumExecQty": "0.004", "timeInForce": "IOC", "reduceOnly": false,
            "createdTime": "1700000000000", "updatedTime": "1700000000000"
        }))
        .unwrap()
    }

    /// A journal holding `legs` of trade `t1`, each acknowledged unless named in `unacked`.
    async fn journal(legs: &[&str], unacked: &[&str]) -> MemoryJournal {
        let j = MemoryJournal::new();
        for leg in legs {
            let link = format!("andre_{leg}_t1");
            j.record_intent(&Intent {
                trade_tag: "t1".to_owned(),
                leg: (*leg).to_owned(),
                order_link_id: link.clone(),
                symbol: "BTCUSDT".to_owned(),
                side: "Buy".to_owned(),
                qty: dec!(0.004),
                price: None,
                trigger_price: None,
                kind: "market".to_owned(),
                reason: "test".to_owned(),
                at_ms: 1,
            })
            .await
            .unwrap();
            let outcome = if unacked.contains(leg) {
                Outcome::Rejected {
                    code: Some(110007),
                    message: "ab not enough for new order".to_owned(),
                }
            } else {
                Outcome::Acked {
                    order_id: format!("id-{leg}"),
                }
            };
            j.record_outcome(&link, &outcome, 2).await.unwrap();
        }
        j
    }

    async fn verdict(truth: &[Order], j: &MemoryJournal) -> Result<String, String> {
        judge_orders(&["t1".to_owned()], truth, j)
            .await
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn every_acknowledged_order_found_once_passes() {
        let j = journal(&["ENTRY", "TP1"], &[]).await;
        let truth = [
            order("1", "andre_ENTRY_t1"),
            order("2", "andre_TP1_t1"),
            order("3", "andre_TP1_other"),
            order("4", "suite_FLAT_t1"),
        ];
        let seen = verdict(&truth, &j).await.unwrap();
        assert!(
            seen.starts_with("2 acknowledged orders of 1 trades"),
            "{seen}"
        );
    }

    #[tokio::test]
    async fn a_refused_intent_need_not_be_on_the_exchange() {
        let j = journal(&["ENTRY"], &["ENTRY"]).await;
        let err = verdict(&[], &j).await.unwrap_err();
        assert!(err.contains("no orders to check"), "{err}");
        let j = journal(&["ENTRY", "TP1"], &["TP1"]).await;
        assert!(verdict(&[order("1", "andre_ENTRY_t1")], &j).await.is_ok());
    }

    #[tokio::test]
    async fn a_missing_a_doubled_or_an_unjournaled_order_fails() {
        let j = journal(&["ENTRY", "TP1"], &[]).await;
        let missing = verdict(&[order("1", "andre_ENTRY_t1")], &j)
            .await
            .unwrap_err();
        assert!(missing.contains("andre_TP1_t1 was acknowledged but is not on the exchange"));
        let doubled = verdict(
            &[
                order("1", "andre_ENTRY_t1"),
                order("2", "andre_ENTRY_t1"),
                order("3", "andre_TP1_t1"),
            ],
            &j,
        )
        .await
        .unwrap_err();
        assert!(
            doubled.contains("andre_ENTRY_t1 is on the exchange 2 times"),
            "{doubled}"
        );
        assert!(doubled.contains("trade t1 has 2 entries"), "{doubled}");
        let stranger = verdict(
            &[
                order("1", "andre_ENTRY_t1"),
                order("2", "andre_TP1_t1"),
                order("3", "andre_DCA1_t1"),
            ],
            &j,
        )
        .await
        .unwrap_err();
        assert!(
            stranger.contains("andre_DCA1_t1 is on the exchange but not in the journal"),
            "{stranger}"
        );
    }
}
