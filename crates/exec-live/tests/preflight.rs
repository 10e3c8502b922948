//! Pre-flight (SPEC R-ACC-2) against the emulator: each failure names its check and a fix
//! (docs/v5/position/leverage.mdx: 110043 = leverage not modified).

use std::sync::Arc;

use exec_gateway::{MemoryJournal, Symbol};
use exec_live::{Preflight, PreflightCheck};
use rust_decimal_macros::dec;

use crate::support::{btc, live};

fn preflight(symbols: Vec<Symbol>) -> Preflight {
    Preflight {
        symbols,
        leverage: dec!(25),
        min_available_usdt: dec!(100),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_account_passes_twice_and_gets_its_leverage() {
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    l.exchange.preflight(&preflight(vec![btc()])).await.unwrap();
    // Again: the leverage is already 25 (110043 or remembered), still a pass.
    l.exchange.preflight(&preflight(vec![btc()])).await.unwrap();
    let leverage = l
        .emu
        .state()
        .read(|e| e.position_of("BTCUSDT"))
        .unwrap()
        .leverage;
    assert_eq!(leverage, Some(dec!(25)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_margin_fails_the_margin_check_with_a_fix() {
    let l = live(dec!(50), Arc::new(MemoryJournal::new()), None).await;
    let err = l
        .exchange
        .preflight(&preflight(vec![btc()]))
        .await
        .unwrap_err();
    assert_eq!(err.check, PreflightCheck::AvailableMargin);
    let text = err.to_string();
    assert!(text.contains("below the configured minimum 100"), "{text}");
    assert!(text.contains("to fix: transfer USDT"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_symbol_fails_the_usdt_linear_check() {
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    let err = l
        .exchange
        .preflight(&preflight(vec![Symbol::new("NOPEUSDT").unwrap()]))
        .await
        .unwrap_err();
    assert_eq!(err.check, PreflightCheck::UsdtLinear);
    assert!(err.to_string().contains("NOPEUSDT"), "{err}");
}

/// A hedge-mode account (docs/v5/position/position-mode.mdx mode 3; the position list shows
/// positionIdx 1 and 2, docs/v5/position/position.mdx) fails the one-way check, says what was
/// found and how to switch back; leverage and margin are not reached. Once switched back
/// (mode 0), the pre-flight passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hedge_mode_account_fails_the_one_way_check_with_what_to_do() {
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    l.emu
        .state()
        .execute(|e, now| e.switch_position_mode(now, "BTCUSDT", true))
        .unwrap();
    let err = l
        .exchange
        .preflight(&preflight(vec![btc()]))
        .await
        .unwrap_err();
    assert_eq!(err.check, PreflightCheck::OneWayMode);
    let text = err.to_string();
    assert!(
        text.contains("BTCUSDT is in hedge mode (positionIdx 1)"),
        "{text}"
    );
    assert!(text.contains("/v5/position/switch-mode"), "{text}");
    assert!(text.contains("mode: 0"), "{text}");
    let leverage = l
        .emu
        .state()
        .read(|e| e.position_of("BTCUSDT"))
        .unwrap()
        .leverage;
    assert_ne!(
        leverage,
        Some(dec!(25)),
        "stopped before the leverage check"
    );

    l.emu
        .state()
        .execute(|e, now| e.switch_position_mode(now, "BTCUSDT", false))
        .unwrap();
    l.exchange.preflight(&preflight(vec![btc()])).await.unwrap();
}

/// docs/v5/account/set-price-limit.mdx: futures accounts default to
/// `modifyEnable=true` (a limit price beyond the price limit is moved to the bound). The
/// pre-flight sets the action to refuse and reads it back
/// (docs/v5/account/get-user-setting-config.mdx, `lpaPerp` true = refuse by its table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_flight_sets_the_price_limit_action_to_refuse() {
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    let before = l.emu.state().read(|e| e.limit_px_action());
    assert!(
        before.futures,
        "the emulator starts at Bybit's default: adjust"
    );
    l.exchange.preflight(&preflight(vec![btc()])).await.unwrap();
    let after = l.emu.state().read(|e| e.limit_px_action());
    assert!(!after.futures, "the pre-flight left the account at adjust");
    // Already at refuse: still a pass.
    l.exchange.preflight(&preflight(vec![btc()])).await.unwrap();
}
