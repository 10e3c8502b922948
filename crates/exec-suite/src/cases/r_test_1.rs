//! R-TEST-1: entry, three take-profits, the DCAs and breakeven, each seen on the exchange.
use std::collections::BTreeSet;

use anyhow::{ensure, Context, Result};
use bybit_meta::RoundingMode;
use bybit_types::OrderStatus as WireStatus;
use exec_gateway::{
    GatewayError, Phase, PortError, PositionService, PriceService, SymbolMetaService, TradePlan,
    TradeState,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{
    describe, eventually, eventually_for, guarded, leg_of, open_legs, phase_of, trade_of, Ctx,
    Outcomes, Process, BREAKEVEN, DCAS, ENTRY, MARKET_WAIT, TPS,
};

/// R-TEST-1: entry, three TPs, the DCAs, breakeven, each seen on the exchange.
pub(super) async fn lifecycle(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let (p, plan) = ctx.start_with_plan("L", false).await?;
    let steps = async {
        let r = entry_opens_a_position(ctx, &p, &plan).await;
        out.record(ENTRY, r)?;
        let r = three_tps(ctx, &p, &plan).await;
        out.record(TPS, r)?;
        let r = dcas(ctx, &p, &plan).await;
        out.record(DCAS, r)?;
        let r = breakeven(ctx, &p, &plan).await;
        out.record(BREAKEVEN, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result
}

async fn entry_opens_a_position(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let entry = p.gateway.execute_entry(plan).await?;
    ensure!(entry.filled_qty > Decimal::ZERO, "the entry filled nothing");
    let want = entry.filled_qty;
    eventually("the exchange shows the position", || async {
        let pos = ctx.venue.truth_position(&ctx.symbol).await?;
        Ok(pos.size == want && pos.side == Some(bybit_types::WireSide::Buy))
    })
    .await?;
    let phase = phase_of(p, tag)?;
    ensure!(phase == Phase::InPosition, "the trade is {phase:?}");
    Ok(format!(
        "{} Buy {} filled at {} ({}); the exchange holds a Buy position of {}; the trade is {}",
        ctx.symbol,
        entry.filled_qty,
        entry.entry_price,
        entry.order_link_id,
        want,
        phase.as_str()
    ))
}

async fn three_tps(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let position = p.exchange.get_position(&ctx.symbol).await?;
    p.gateway.setup_tps(plan, &position).await?;
    let tps = open_legs(ctx, tag, "TP").await?;
    let links: Vec<&str> = tps.iter().map(|o| o.order_link_id.as_str()).collect();
    ensure!(tps.len() == 3, "open TP orders on the exchange: {links:?}");
    for o in &tps {
        ensure!(o.reduce_only, "{} is not reduce-only", o.order_link_id);
        ensure!(
            o.side == bybit_types::WireSide::Sell,
            "{} is a {:?}",
            o.order_link_id,
            o.side
        );
    }
    let total: Decimal = tps.iter().map(|o| o.qty).sum();
    ensure!(
        total <= position.size && total > Decimal::ZERO,
        "the TPs add up to {total} for a position of {}",
        position.size
    );
    Ok(format!(
        "three reduce-only Sell limits on the exchange: {}; together {total} of the {} position",
        describe(&tps),
        position.size
    ))
}

async fn dcas(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let position = p.exchange.get_position(&ctx.symbol).await?;
    p.gateway.setup_dcas(plan, &position).await?;
    let dcas = open_legs(ctx, tag, "DCA").await?;
    ensure!(
        dcas.len() == plan.dca_levels.len(),
        "{} DCA orders open on the exchange for {} levels: {}",
        dcas.len(),
        plan.dca_levels.len(),
        describe(&dcas)
    );
    for (o, level) in dcas.iter().zip(&plan.dca_levels) {
        ensure!(
            o.side == bybit_types::WireSide::Buy && !o.reduce_only,
            "{} is not an entry-side order",
            o.order_link_id
        );
        ensure!(
            o.price == Some(level.price) || o.trigger_price == Some(level.price),
            "{} rests at {:?}, the plan says {}",
            o.order_link_id,
            o.price,
            level.price
        );
    }
    Ok(format!(
        "{} Buy orders resting at the plan's levels: {}",
        dcas.len(),
        describe(&dcas)
    ))
}

async fn breakeven(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let tps_before: BTreeSet<String> = open_legs(ctx, tag, "TP")
        .await?
        .into_iter()
        .map(|o| o.order_id)
        .collect();
    let state = trade_of(p, tag)?;
    let state = to_breakeven(ctx, p, &state).await?;
    ensure!(
        state.phase == Phase::Breakeven,
        "the trade is {:?}",
        state.phase
    );
    let dcas = open_legs(ctx, tag, "DCA").await?;
    ensure!(dcas.is_empty(), "DCAs still open: {}", describe(&dcas));
    let cancelled = ctx
        .orders_of(tag)
        .await?
        .into_iter()
        .filter(|o| leg_of(&o.order_link_id).starts_with("DCA"))
        .filter(|o| matches!(o.order_status, WireStatus::Cancelled))
        .count();
    ensure!(
        cancelled == plan.dca_levels.len(),
        "{cancelled} DCA orders cancelled on the exchange"
    );
    let tps_after: BTreeSet<String> = open_legs(ctx, tag, "TP")
        .await?
        .into_iter()
        .map(|o| o.order_id)
        .collect();
    ensure!(
        tps_after == tps_before,
        "the TPs changed: {tps_before:?} before, {tps_after:?} after"
    );
    let mut seen = format!(
        "{cancelled} DCAs cancelled, the same {} TPs still open, trade BREAKEVEN",
        tps_after.len()
    );
    if p.gateway.config().breakeven_stop {
        let pos = ctx.venue.truth_position(&ctx.symbol).await?;
        let rules = p.exchange.get_symbol_meta(&ctx.symbol).await?;
        let entry = pos
            .avg_price
            .context("the exchange's position has no entry price")?;
        let want = rules.round_price(entry, RoundingMode::Nearest)?;
        ensure!(
            pos.stop_loss == Some(want),
            "the position's stop-loss is {:?}, the entry {want}",
            pos.stop_loss
        );
        seen.push_str(&format!("; stop-loss at the entry price {want}"));
    }
    Ok(seen)
}

/// `move_to_breakeven` once the market is above the entry. Bybit refuses a long's stop at or
/// above the last price (retCode 10001, "should be lower than base_price"); in a real trade
/// breakeven follows TP1, so the market is above the entry by then. Where the price can be
/// moved it goes up 1% (short of TP1); elsewhere the suite waits for the market to trade
/// above the entry, and tries again if it fell back under it before the stop was set.
pub(super) async fn to_breakeven(ctx: &Ctx, p: &Process, state: &TradeState) -> Result<TradeState> {
    let rules = p.exchange.get_symbol_meta(&ctx.symbol).await?;
    let mut tries = 0;
    loop {
        tries += 1;
        let entry = ctx
            .venue
            .truth_position(&ctx.symbol)
            .await?
            .avg_price
            .filter(|e| !e.is_zero())
            .context("the exchange's position has no entry price")?;
        let stop = rules.round_price(entry, RoundingMode::Nearest)?;
        if ctx.venue.moves_prices() {
            let up = p.exchange.last_price(&ctx.symbol).await?.max(stop) * dec!(1.01);
            ctx.move_price(p, rules.round_price(up, RoundingMode::Nearest)?)
                .await?;
        } else {
            // A little room (half a basis point, at least two ticks), so the stop is not hit
            // as soon as it is set.
            let above = stop + (stop * dec!(0.00005)).max(rules.tick_size() * dec!(2));
            eventually_for(
                MARKET_WAIT,
                &format!("the market trades above the entry {stop} (a breakeven stop needs it)"),
                || async { Ok(p.exchange.last_price(&ctx.symbol).await? >= above) },
            )
            .await?;
        }
        match p.gateway.move_to_breakeven(state).await {
            Err(GatewayError::Port {
                source: PortError::Rejected { code: 10001, .. },
                ..
            }) if tries < 3 => continue,
            result => return Ok(result?),
        }
    }
}
