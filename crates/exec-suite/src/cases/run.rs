//! The order the scenarios run in, and which cases each one decides.

use super::r_test_1::lifecycle;
use super::r_test_2::{double_click, small_balance, ws_killed};
use super::r_test_3::{every_order_visible, layer_equals_exchange, restart};
use super::{
    Ctx, Outcomes, BREAKEVEN, DCAS, DOUBLE_CLICK, ENTRY, LAYER_EQUALS_EXCHANGE, RESTART,
    SMALL_BALANCE, TPS, VISIBLE, WS_KILLED,
};
use crate::verdict::CaseResult;

/// Runs every scenario in order and returns the verdicts, one per case of [`crate::CASES`].
pub(crate) async fn run_all(ctx: &Ctx) -> Vec<CaseResult> {
    let mut out = Outcomes::default();
    let r = lifecycle(ctx, &mut out).await;
    out.close(&[ENTRY, TPS, DCAS, BREAKEVEN], r);
    let r = ws_killed(ctx, &mut out).await;
    out.close(&[WS_KILLED], r);
    let r = small_balance(ctx, &mut out).await;
    out.close(&[SMALL_BALANCE], r);
    let r = double_click(ctx, &mut out).await;
    out.close(&[DOUBLE_CLICK], r);
    let r = restart(ctx, &mut out).await;
    out.close(&[RESTART], r);
    let r = every_order_visible(ctx, &mut out).await;
    out.close(&[VISIBLE], r);
    let r = layer_equals_exchange(ctx, &mut out).await;
    out.close(&[LAYER_EQUALS_EXCHANGE], r);
    out.results
}
