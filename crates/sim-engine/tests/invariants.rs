//! Property test: any sequence of commands, however hostile, leaves the books consistent.
//! Positions equal the sum of their fills, the wallet equals the start plus realised PnL minus
//! fees, every order's filled quantity equals its fills, and nothing panics.

use std::collections::BTreeMap;

use bybit_types::{OrderStatus, TimeInForce, WireSide};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{
    Amend, CancelAll, Engine, ExecutionQuery, NewOrder, OrderKey, OrderQuery, TriggerDirection,
};

use crate::support::{engine_with, T0};

const SYMBOLS: [&str; 3] = ["XRPUSDT", "ETHUSDT", "1000000BABYDOGEUSDT"];

#[derive(Debug, Clone)]
enum Cmd {
    Market {
        sym: usize,
        buy: bool,
        lots: u32,
        reduce: bool,
    },
    Limit {
        sym: usize,
        buy: bool,
        lots: u32,
        ticks: i32,
        tif: u8,
        reduce: bool,
    },
    Conditional {
        sym: usize,
        buy: bool,
        lots: u32,
        ticks: i32,
    },
    Cancel {
        pick: usize,
    },
    Amend {
        pick: usize,
        lots: u32,
    },
    CancelAll {
        sym: usize,
    },
    Price {
        sym: usize,
        ticks: i32,
    },
    Advance {
        ms: i64,
    },
    Leverage {
        sym: usize,
        lev: u32,
    },
    TradingStop {
        sym: usize,
        tp_ticks: i32,
        sl_ticks: i32,
    },
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let sym = 0..SYMBOLS.len();
    prop_oneof![
        (sym.clone(), any::<bool>(), 1..40u32, any::<bool>()).prop_map(
            |(sym, buy, lots, reduce)| Cmd::Market {
                sym,
                buy,
                lots,
                reduce
            }
        ),
        (
            sym.clone(),
            any::<bool>(),
            1..40u32,
            -60..60i32,
            0..4u8,
            any::<bool>()
        )
            .prop_map(|(sym, buy, lots, ticks, tif, reduce)| Cmd::Limit {
                sym,
                buy,
                lots,
                ticks,
                tif,
                reduce
            }),
        (sym.clone(), any::<bool>(), 1..40u32, -60..60i32).prop_map(|(sym, buy, lots, ticks)| {
            Cmd::Conditional {
                sym,
                buy,
                lots,
                ticks,
            }
        }),
        (0..50usize).prop_map(|pick| Cmd::Cancel { pick }),
        (0..50usize, 1..60u32).prop_map(|(pick, lots)| Cmd::Amend { pick, lots }),
        sym.clone().prop_map(|sym| Cmd::CancelAll { sym }),
        (sym.clone(), -80..80i32).prop_map(|(sym, ticks)| Cmd::Price { sym, ticks }),
        (1..5_000i64).prop_map(|ms| Cmd::Advance { ms }),
        (sym.clone(), 1..30u32).prop_map(|(sym, lev)| Cmd::Leverage { sym, lev }),
        (sym, -40..40i32, -40..40i32).prop_map(|(sym, tp_ticks, sl_ticks)| Cmd::TradingStop {
            sym,
            tp_ticks,
            sl_ticks
        }),
    ]
}

/// A quantity of `lots` minimum orders plus enough to clear the minimum order value.
fn qty(e: &Engine, symbol: &str, lots: u32) -> Decimal {
    let rules = e.rules(symbol).unwrap();
    let price = e.price(symbol).unwrap();
    let floor = (rules.min_notional() / price).ceil();
    let base = rules
        .round_qty_with(floor, bybit_meta::RoundingMode::Up)
        .unwrap()
        .max(rules.min_order_qty());
    base * Decimal::from(lots)
}

fn price_at(e: &Engine, symbol: &str, ticks: i32) -> Decimal {
    let rules = e.rules(symbol).unwrap();
    let p = e.price(symbol).unwrap() + rules.tick_size() * Decimal::from(ticks) * dec!(5);
    p.max(rules.min_price())
}

fn apply(e: &mut Engine, now: i64, cmd: &Cmd, ids: &[String]) {
    let side = |buy: bool| if buy { WireSide::Buy } else { WireSide::Sell };
    // Refusals are expected; only a panic or a broken invariant fails the test.
    match *cmd {
        Cmd::Market {
            sym,
            buy,
            lots,
            reduce,
        } => {
            let mut o = NewOrder::market(SYMBOLS[sym], side(buy), qty(e, SYMBOLS[sym], lots));
            o.reduce_only = reduce;
            let _ = e.create_order(now, &o);
        }
        Cmd::Limit {
            sym,
            buy,
            lots,
            ticks,
            tif,
            reduce,
        } => {
            let tif = [
                TimeInForce::Gtc,
                TimeInForce::Ioc,
                TimeInForce::Fok,
                TimeInForce::PostOnly,
            ][usize::from(tif)]
            .clone();
            let mut o = NewOrder::limit(
                SYMBOLS[sym],
                side(buy),
                qty(e, SYMBOLS[sym], lots),
                price_at(e, SYMBOLS[sym], ticks),
            )
            .tif(tif);
            o.reduce_only = reduce;
            let _ = e.create_order(now, &o);
        }
        Cmd::Conditional {
            sym,
            buy,
            lots,
            ticks,
        } => {
            let direction = if ticks >= 0 {
                TriggerDirection::Rise
            } else {
                TriggerDirection::Fall
            };
            let o = NewOrder::market(SYMBOLS[sym], side(buy), qty(e, SYMBOLS[sym], lots))
                .trigger(price_at(e, SYMBOLS[sym], ticks), direction);
            let _ = e.create_order(now, &o);
        }
        Cmd::Cancel { pick } => {
            if let Some(id) = ids.get(pick % ids.len().max(1)) {
                for symbol in SYMBOLS {
                    let _ = e.cancel_order(now, symbol, &OrderKey::Id(id.clone()));
                }
            }
        }
        Cmd::Amend { pick, lots } => {
            if let Some(id) = ids.get(pick % ids.len().max(1)) {
                for symbol in SYMBOLS {
                    let q = qty(e, symbol, lots);
                    let _ = e.amend_order(
                        now,
                        &Amend {
                            symbol: symbol.into(),
                            key: OrderKey::Id(id.clone()),
                            qty: Some(q),
                            price: None,
                            trigger_price: None,
                        },
                    );
                }
            }
        }
        Cmd::CancelAll { sym } => {
            let _ = e.cancel_all(
                now,
                &CancelAll {
                    symbol: Some(SYMBOLS[sym].into()),
                    ..Default::default()
                },
            );
        }
        Cmd::Price { sym, ticks } => {
            let p = price_at(e, SYMBOLS[sym], ticks);
            let _ = e.set_price(now, SYMBOLS[sym], p);
        }
        Cmd::Advance { .. } => e.advance(now),
        Cmd::Leverage { sym, lev } => {
            let l = Decimal::from(lev);
            let _ = e.set_leverage(now, SYMBOLS[sym], l, l);
        }
        Cmd::TradingStop {
            sym,
            tp_ticks,
            sl_ticks,
        } => {
            // Either side of the price, so some are refused; 0 ticks removes the level.
            let level = |ticks: i32| {
                if ticks == 0 {
                    Decimal::ZERO
                } else {
                    price_at(e, SYMBOLS[sym], ticks)
                }
            };
            let _ = e.set_trading_stop(
                now,
                &sim_engine::TradingStop {
                    symbol: SYMBOLS[sym].into(),
                    take_profit: Some(level(tp_ticks)),
                    stop_loss: Some(level(sl_ticks)),
                },
            );
        }
    }
}

fn check_invariants(e: &Engine, start: Decimal) {
    let fills = e.executions(&ExecutionQuery::default());
    // Positions are the sum of their fills.
    let mut net: BTreeMap<String, Decimal> = BTreeMap::new();
    // Funding settlements are executions too, but not trades.
    let trades = fills
        .iter()
        .filter(|f| f.exec_type == Some(bybit_types::ExecType::Trade));
    for f in trades {
        let signed = if f.side == WireSide::Buy {
            f.exec_qty
        } else {
            -f.exec_qty
        };
        *net.entry(f.symbol.clone()).or_default() += signed;
    }
    for symbol in SYMBOLS {
        let p = e.position_of(symbol).unwrap();
        let signed = match p.side {
            Some(WireSide::Buy) => p.size,
            Some(WireSide::Sell) => -p.size,
            None => Decimal::ZERO,
        };
        assert_eq!(
            signed,
            net.get(symbol).copied().unwrap_or_default(),
            "{symbol} position vs fills"
        );
        assert!(p.size >= Decimal::ZERO);
        assert_eq!(
            p.side.is_none(),
            p.size.is_zero(),
            "{symbol}: side and size disagree"
        );
    }
    // The wallet is the start plus realised PnL minus fees, as the executions report them.
    let realised: Decimal = fills
        .iter()
        .map(|f| f.exec_pnl.unwrap_or_default() - f.exec_fee.unwrap_or_default())
        .sum();
    // Exactly: each execution's execPnl and execFee are what the wallet moved by.
    let wallet = e.wallet().total_wallet_balance.unwrap();
    assert_eq!(
        wallet,
        start + realised,
        "wallet vs start + Σ execPnl − Σ execFee"
    );
    // A position's TP and SL are its Untriggered TakeProfit / StopLoss orders, and a flat
    // position has none (v5/position/trading-stop).
    for symbol in SYMBOLS {
        let p = e.position_of(symbol).unwrap();
        let open = e.open_orders(&OrderQuery {
            symbol: Some(symbol.into()),
            ..Default::default()
        });
        for (kind, level) in [
            (bybit_types::StopOrderType::TakeProfit, p.take_profit),
            (bybit_types::StopOrderType::StopLoss, p.stop_loss),
        ] {
            let triggers: Vec<_> = open
                .iter()
                .filter(|o| o.stop_order_type == Some(kind.clone()))
                .filter(|o| o.order_status == OrderStatus::Untriggered)
                .map(|o| o.trigger_price.unwrap_or_default())
                .collect();
            let level = level.unwrap_or_default();
            if level.is_zero() {
                assert!(
                    triggers.is_empty(),
                    "{symbol} {kind}: orders without a level"
                );
            } else {
                assert_eq!(triggers, [level], "{symbol} {kind}");
            }
        }
    }
    // Every order's filled quantity is the sum of its fills, and never more than its size.
    let mut by_order: BTreeMap<String, Decimal> = BTreeMap::new();
    for f in &fills {
        *by_order.entry(f.order_id.clone()).or_default() += f.exec_qty;
    }
    let orders = e
        .open_orders(&OrderQuery::default())
        .into_iter()
        .chain(e.order_history(&OrderQuery::default()));
    for o in orders {
        let cum = o.cum_exec_qty.unwrap_or_default();
        assert_eq!(
            cum,
            by_order.get(&o.order_id).copied().unwrap_or_default(),
            "order {} fills",
            o.order_id
        );
        assert!(cum <= o.qty, "order {} overfilled", o.order_id);
        let leaves = o.leaves_qty.unwrap_or_default();
        if o.order_status.is_open() {
            assert_eq!(cum + leaves, o.qty, "order {} leaves", o.order_id);
        } else {
            assert!(leaves.is_zero());
        }
        if o.order_status == OrderStatus::Filled {
            assert_eq!(cum, o.qty);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_command_sequence_keeps_the_books_consistent(cmds in proptest::collection::vec(cmd(), 1..80)) {
        let start = dec!(20000);
        let mut e = engine_with(start);
        let mut now = T0;
        let mut ids: Vec<String> = Vec::new();
        for c in &cmds {
            if let Cmd::Advance { ms } = c {
                now += ms;
            } else {
                now += 1;
            }
            apply(&mut e, now, c, &ids);
            for ev in e.take_events() {
                if let sim_engine::EngineEvent::Order(o) = ev {
                    if !ids.contains(&o.order_id) {
                        ids.push(o.order_id.clone());
                    }
                }
            }
            check_invariants(&e, start);
        }
    }
}
