//! R-TEST-2: the failure simulations: the private stream killed, too small a balance, a
//! double click.
use anyhow::{bail, ensure, Result};
use bybit_meta::RoundingMode;
use exec_events::{ErrorKind, Event, Fill, Received};
use exec_gateway::{
    AccountService, GatewayError, Phase, PositionService, PriceService, SymbolMetaService,
    TradePlan,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{
    describe, drain_fills, eventually, fills_until, guarded, phase_of, Ctx, Outcomes, Process,
    DOUBLE_CLICK, ERROR_LOG_FILE, SMALL_BALANCE, WS_KILLED,
};

/// R-TEST-2: the private stream dies while a position is open; the TP1 fill still arrives,
/// once, through REST polling.
pub(super) async fn ws_killed(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let (p, plan) = ctx.start_with_plan("W", false).await?;
    let steps = async {
        let r = tp_fill_through_rest(ctx, &p, &plan).await;
        out.record(WS_KILLED, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result.and(ctx.venue.clear_faults().await)
}

async fn tp_fill_through_rest(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    p.gateway.execute_entry(plan).await?;
    // Where faults cannot be injected (testnet), the stream is silenced client-side.
    let how = if ctx.venue.kill_private_streams().await? {
        "dropped and refused by the exchange"
    } else {
        p.silence_private_stream().await?;
        "unsubscribed client-side, so it delivers nothing"
    };
    eventually("the layer notices the private stream is gone", || async {
        Ok(p.exchange.private_stream_quiet())
    })
    .await?;
    let mut sub = p.bus.subscribe();
    let position = p.exchange.get_position(&ctx.symbol).await?;
    // Where the price cannot be moved (testnet), TP1 is placed 1 % under the market so it
    // fills at once. The entry went through the whole-plan check with the real TPs (a TP on
    // the loss side is refused there, R-SAFE-1); setup_tps places the plan it is given.
    let mut tp_plan = plan.clone();
    if !ctx.venue.moves_prices() {
        let rules = p.exchange.get_symbol_meta(&ctx.symbol).await?;
        let price = p.exchange.last_price(&ctx.symbol).await?;
        tp_plan.tp_levels[0].price =
            rules.round_price(price * dec!(0.99), RoundingMode::Nearest)?;
    }
    p.gateway.setup_tps(&tp_plan, &position).await?;
    let tp1 = p.gateway.links().id(tag, exec_gateway::Leg::Tp(1))?;
    let tp1 = tp1.as_str();
    if ctx.venue.moves_prices() {
        let through = plan.tp_levels[0].price * dec!(1.0002);
        let rules = p.exchange.get_symbol_meta(&ctx.symbol).await?;
        ctx.venue
            .set_price(&ctx.symbol, rules.round_price(through, RoundingMode::Up)?)
            .await?;
    }
    let fills = fills_until(&mut sub, |f| f.order_link_id == tp1).await?;
    ensure!(
        p.exchange.private_stream_quiet(),
        "the private stream came back before the fill"
    );
    let tp1_fills: Vec<&Fill> = fills.iter().filter(|f| f.order_link_id == tp1).collect();
    let filled: Decimal = tp1_fills.iter().map(|f| f.qty).sum();
    // More REST passes find the same executions again and publish nothing new.
    p.exchange.poll().await?;
    p.exchange.catch_up().await?;
    let again = drain_fills(&mut sub)?;
    ensure!(
        again.iter().all(|f| f.order_link_id != tp1),
        "TP1 published again: {again:?}"
    );
    let journaled = p
        .journal
        .fills(tp1)
        .await?
        .into_iter()
        .filter(|f| f.order_link_id == tp1)
        .count();
    ensure!(
        journaled == tp1_fills.len(),
        "{journaled} TP1 fills journaled, {} published",
        tp1_fills.len()
    );
    Ok(format!(
        "private stream {how}; {tp1} filled {filled} and was published once through REST \
         polling (a further poll and catch-up published nothing)"
    ))
}

/// R-TEST-2: an entry the balance cannot carry is refused by the exchange; the trade ends in
/// ERROR with one error event and nothing retried or left behind.
pub(super) async fn small_balance(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let p = ctx.start().await?;
    let tag = ctx.tag("B");
    let plan = match over_balance_plan(ctx, &p, &tag).await {
        Ok(plan) => plan,
        Err(e) => {
            p.shutdown().await;
            let _ = ctx.venue.restore_balance().await;
            return Err(e);
        }
    };
    let steps = async {
        let r = graceful_abort(ctx, &p, &plan).await;
        out.record(SMALL_BALANCE, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result.and(ctx.venue.restore_balance().await)
}

/// The emulator's wallet is shrunk under the usual plan's margin; on testnet the plan's
/// margin is three times what the account has available, at the lowest leverage.
async fn over_balance_plan(ctx: &Ctx, p: &Process, tag: &str) -> Result<TradePlan> {
    let mut plan = ctx.plan(p, tag, false).await?;
    if ctx.venue.shrink_balance().await? {
        return Ok(plan);
    }
    let balance = p.exchange.get_balance().await?;
    let total = ctx.venue.total_available().await?.unwrap_or_default();
    let rules = p.exchange.get_symbol_meta(&ctx.symbol).await?;
    plan.leverage = rules.min_leverage().max(Decimal::ONE);
    plan.margin_usdt = (balance.available.max(total) * dec!(3)).round_dp(2);
    // The case is about the entry; DCAs sized for 10x would round to nothing at this
    // leverage and be refused by the whole-plan check before the exchange could answer.
    plan.dca_levels.clear();
    Ok(plan)
}

async fn graceful_abort(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let mut sub = p.bus.subscribe();
    let err = match p.gateway.execute_entry(plan).await {
        Ok(entry) => bail!(
            "the exchange took an entry of {} for {} USDT margin",
            entry.filled_qty,
            plan.margin_usdt
        ),
        Err(e) => e,
    };
    ensure!(
        matches!(err, GatewayError::InsufficientBalance { .. }),
        "expected insufficient balance, got: {err}"
    );
    let phase = phase_of(p, tag)?;
    ensure!(phase == Phase::Error, "the trade is {phase:?}, not ERROR");
    let mut errors = Vec::new();
    while let Some(Received::Event(env)) = sub.try_recv() {
        if let Event::ExecutionError(e) = &*env.event {
            errors.push(e.clone());
        }
    }
    ensure!(
        errors.len() == 1 && errors[0].kind == ErrorKind::InsufficientBalance,
        "execution.error events: {errors:?}"
    );
    let intents = p.journal.intents(tag).await?;
    ensure!(
        intents.len() == 1 && intents[0].intent.leg == "ENTRY",
        "{} intents journaled (nothing may be retried)",
        intents.len()
    );
    let log = std::fs::read_to_string(ctx.dir.join(ERROR_LOG_FILE)).unwrap_or_default();
    let lines = log.lines().filter(|l| l.contains(tag)).count();
    ensure!(lines == 1, "{lines} lines about {tag} in the error log");
    let pos = ctx.venue.truth_position(&ctx.symbol).await?;
    ensure!(pos.size.is_zero(), "a position of {} was opened", pos.size);
    let open = ctx.open_orders_of(tag).await?;
    ensure!(open.is_empty(), "orders left open: {}", describe(&open));
    Ok(format!(
        "\"{err}\"; the trade is ERROR, one execution.error (InsufficientBalance), one \
         error-log line, one intent journaled, no position and no open order"
    ))
}

/// R-TEST-2: `execute_entry` twice at once, then once more: one order on the exchange.
pub(super) async fn double_click(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let (p, plan) = ctx.start_with_plan("D", false).await?;
    let steps = async {
        let r = one_entry(ctx, &p, &plan).await;
        out.record(DOUBLE_CLICK, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result
}

async fn one_entry(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let (a, b) = tokio::join!(p.gateway.execute_entry(plan), p.gateway.execute_entry(plan));
    let (a, b) = (a?, b?);
    let c = p.gateway.execute_entry(plan).await?;
    ensure!(a == b && b == c, "the clicks saw {a:?}, {b:?}, {c:?}");
    let orders = ctx.orders_of(tag).await?;
    ensure!(
        orders.len() == 1,
        "{} orders on the exchange: {}",
        orders.len(),
        describe(&orders)
    );
    let pos = ctx.venue.truth_position(&ctx.symbol).await?;
    ensure!(
        pos.size == a.filled_qty,
        "the position is {}, one entry is {}",
        pos.size,
        a.filled_qty
    );
    let intents = p.journal.intents(tag).await?;
    ensure!(intents.len() == 1, "{} intents journaled", intents.len());
    Ok(format!(
        "three clicks (two at once): one order {} on the exchange, position {} = one entry",
        a.order_link_id, pos.size
    ))
}
