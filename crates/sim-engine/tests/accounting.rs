//! Positions, PnL, fees and the wallet.

use bybit_types::WireSide;
use rust_decimal_macros::dec;
use sim_engine::NewOrder;

use crate::support::{engine_with, set_book, T0};

#[test]
fn a_round_trip_realises_pnl_minus_fees_into_the_wallet() {
    let mut e = engine_with(dec!(10000));
    // One deep level a tick away, so the fills are exactly one tick from the last price.
    set_book(&mut e, "ETHUSDT", 5, dec!(1000000));
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    // Bought 1 at 3500.01; fee 3500.01 × 0.00055 = 1.9250055 → 1.92500550.
    let p = e.position_of("ETHUSDT").unwrap();
    assert_eq!(
        (p.avg_price, p.position_value, p.position_im),
        (
            Some(dec!(3500.01)),
            Some(dec!(3500.01)),
            Some(dec!(350.001))
        )
    );
    e.set_price(T0 + 1, "ETHUSDT", dec!(3600)).unwrap();
    let p = e.position_of("ETHUSDT").unwrap();
    assert_eq!(p.unrealised_pnl, Some(dec!(99.99)));
    let w = e.wallet();
    assert_eq!(w.total_wallet_balance, Some(dec!(9998.0749945)));
    assert_eq!(w.total_perp_upl, Some(dec!(99.99)));
    assert_eq!(w.total_equity, Some(dec!(10098.0649945)));
    // Sell 1 at 3599.99: pnl 99.98, fee 3599.99 × 0.00055 = 1.9799945.
    e.create_order(
        T0 + 2,
        &NewOrder::market("ETHUSDT", WireSide::Sell, dec!(1)),
    )
    .unwrap();
    let p = e.position_of("ETHUSDT").unwrap();
    assert_eq!((p.side, p.size), (None, dec!(0)));
    let w = e.wallet();
    assert_eq!(w.total_wallet_balance, Some(dec!(10096.075)));
    assert_eq!(w.coin[0].cum_realised_pnl, Some(dec!(96.075)));
    assert_eq!(w.coin[0].available_to_withdraw, None);
}

#[test]
fn a_short_profits_when_the_price_falls_and_a_flip_opens_the_other_side() {
    let mut e = engine_with(dec!(10000));
    set_book(&mut e, "XRPUSDT", 5, dec!(1000000));
    e.create_order(T0, &NewOrder::market("XRPUSDT", WireSide::Sell, dec!(100)))
        .unwrap();
    // Sold at 2.0999.
    e.set_price(T0 + 1, "XRPUSDT", dec!(2.0)).unwrap();
    assert_eq!(
        e.position_of("XRPUSDT").unwrap().unrealised_pnl,
        Some(dec!(9.99))
    );
    // Buy 150 at 2.0001: closes 100 (pnl 9.98) and opens 50 long at 2.0001.
    e.create_order(
        T0 + 2,
        &NewOrder::market("XRPUSDT", WireSide::Buy, dec!(150)),
    )
    .unwrap();
    let p = e.position_of("XRPUSDT").unwrap();
    assert_eq!(
        (p.side, p.size, p.avg_price),
        (Some(WireSide::Buy), dec!(50), Some(dec!(2.0001)))
    );
}

#[test]
fn averaging_in_moves_the_entry_price() {
    let mut e = engine_with(dec!(100000));
    set_book(&mut e, "SOLUSDT", 5, dec!(10000000));
    e.create_order(T0, &NewOrder::market("SOLUSDT", WireSide::Buy, dec!(10)))
        .unwrap();
    e.set_price(T0 + 1, "SOLUSDT", dec!(170)).unwrap();
    e.create_order(
        T0 + 2,
        &NewOrder::market("SOLUSDT", WireSide::Buy, dec!(10)),
    )
    .unwrap();
    // (10 × 180.01 + 10 × 170.01) / 20 = 175.01
    let p = e.position_of("SOLUSDT").unwrap();
    assert_eq!((p.size, p.avg_price), (dec!(20), Some(dec!(175.01))));
}

#[test]
fn leverage_changes_the_margin_a_position_holds() {
    let mut e = engine_with(dec!(10000));
    e.set_leverage(T0, "ETHUSDT", dec!(25), dec!(25)).unwrap();
    set_book(&mut e, "ETHUSDT", 5, dec!(1000000));
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    assert_eq!(
        e.position_of("ETHUSDT").unwrap().position_im,
        Some(dec!(140.0004))
    );
}
