//! The faults in force (set through the control API, `control.rs`, which documents each):
//! what the next requests and the WebSocket sessions must suffer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Hold(u64),
    FailHttp(u16),
    FailRetCode(i64),
    Lose,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) hold: u32,
    pub(crate) hold_ms: u64,
    pub(crate) fail: u32,
    pub(crate) fail_with: Option<Action>,
    pub(crate) lose: u32,
    /// `/emulator/create-unknown`: the next order create is executed and its reply lost...
    pub(crate) create_lose: u32,
    /// ...then this many creates answer HTTP 503 unexecuted.
    pub(crate) create_fail: u32,
    /// `/emulator/create-hold`: this many creates are held, unexecuted...
    pub(crate) create_hold: u32,
    /// ...for this long each.
    pub(crate) create_hold_ms: u64,
}

/// What happens to one order request on the order-entry stream (`/v5/trade`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TradeAction {
    /// Refused with this retCode, not executed.
    Fail(i64),
    /// Executed, then the connection drops without the reply.
    Lose,
    /// Executed, and the reply held back for this many ms.
    Hold(u64),
}

/// The order-entry stream's faults still to happen, one order request each.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TradePlan {
    pub(crate) fail: u32,
    pub(crate) fail_code: i64,
    pub(crate) lose: u32,
    pub(crate) hold: u32,
    pub(crate) hold_ms: u64,
}

/// The faults in force.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// WebSocket upgrades are refused (HTTP 503) until this time (ms, emulator clock).
    pub(crate) ws_refused_until: AtomicI64,
    /// REST requests answer HTTP 403 until this time (ms, emulator clock).
    pub(crate) ip_banned_until: AtomicI64,
    /// Per symbol, how many order-book gaps were asked for; sessions compare with what they
    /// have applied.
    pub(crate) book_gaps: Mutex<HashMap<String, u64>>,
    pub(crate) plan: Mutex<Plan>,
    /// Private pushes of one engine step go out in reverse (`/emulator/ws/shuffle`).
    pub(crate) shuffle_pushes: std::sync::atomic::AtomicBool,
    /// Filled order pushes still to be followed by the cancel-race duplicate
    /// (`/emulator/ws/double-filled`).
    pub(crate) double_filled: std::sync::atomic::AtomicU64,
    /// The order-entry stream's per-request faults (`/emulator/ws/trade-*`).
    pub(crate) trade: Mutex<TradePlan>,
    /// How many times the order-entry service "restarted" (`/emulator/ws/trade-restart`): a
    /// connection opened before the latest restart answers 10019 to every order request.
    pub(crate) trade_restarts: std::sync::atomic::AtomicU64,
}

impl Faults {
    /// Whether WebSocket connections are being refused at `now`.
    pub(crate) fn ws_refused(&self, now: i64) -> bool {
        now < self.ws_refused_until.load(Ordering::Relaxed)
    }

    pub(crate) fn refuse_ws_until(&self, until_ms: i64) {
        self.ws_refused_until.store(until_ms, Ordering::Relaxed);
    }

    /// Whether REST requests are answered with the IP ban at `now`.
    pub(crate) fn ip_banned(&self, now: i64) -> bool {
        now < self.ip_banned_until.load(Ordering::Relaxed)
    }

    /// How many order-book gaps were asked for `symbol`.
    pub(crate) fn book_gaps(&self, symbol: &str) -> u64 {
        self.gaps().get(symbol).copied().unwrap_or(0)
    }

    pub(crate) fn gaps(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.book_gaps.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the fault for the next request to `path`, if any.
    pub(crate) fn take(&self, path: &str) -> Option<Action> {
        let mut plan = self.plan();
        if path == "/v5/order/create" {
            if plan.create_hold > 0 {
                plan.create_hold -= 1;
                return Some(Action::Hold(plan.create_hold_ms));
            }
            if plan.create_lose > 0 {
                plan.create_lose -= 1;
                return Some(Action::Lose);
            }
            if plan.create_fail > 0 {
                plan.create_fail -= 1;
                return Some(Action::FailHttp(503));
            }
        }
        if plan.hold > 0 {
            plan.hold -= 1;
            return Some(Action::Hold(plan.hold_ms));
        }
        if plan.fail > 0 {
            plan.fail -= 1;
            return plan.fail_with;
        }
        if plan.lose > 0 {
            plan.lose -= 1;
            return Some(Action::Lose);
        }
        None
    }

    pub(crate) fn trade_plan(&self) -> std::sync::MutexGuard<'_, TradePlan> {
        self.trade.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the fault for the next order request on the order-entry stream, if any: a
    /// refusal first, then a lost reply, then a held one.
    pub(crate) fn take_trade(&self) -> Option<TradeAction> {
        let mut plan = self.trade_plan();
        if plan.fail > 0 {
            plan.fail -= 1;
            return Some(TradeAction::Fail(plan.fail_code));
        }
        if plan.lose > 0 {
            plan.lose -= 1;
            return Some(TradeAction::Lose);
        }
        if plan.hold > 0 {
            plan.hold -= 1;
            return Some(TradeAction::Hold(plan.hold_ms));
        }
        None
    }

    /// The order-entry service's restart count now.
    pub(crate) fn trade_restarts(&self) -> u64 {
        self.trade_restarts.load(Ordering::Relaxed)
    }

    /// Whether private pushes are sent out of their natural order.
    pub(crate) fn shuffle_pushes(&self) -> bool {
        self.shuffle_pushes.load(Ordering::Relaxed)
    }

    /// Takes one armed cancel-race duplicate, if any.
    pub(crate) fn take_double_filled(&self) -> bool {
        self.double_filled
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn reset(&self) {
        *self.plan() = Plan::default();
        *self.trade_plan() = TradePlan::default();
        self.shuffle_pushes.store(false, Ordering::Relaxed);
        self.double_filled.store(0, Ordering::Relaxed);
        self.ws_refused_until.store(0, Ordering::Relaxed);
        self.ip_banned_until.store(0, Ordering::Relaxed);
        // Gaps already asked for stay counted: a session compares against the count, and
        // lowering it would not undo a gap nor should it cause one. Likewise the order-entry
        // restarts: a connection told to reconnect (10019) stays so until it is closed.
    }
}

/// Which WebSocket streams the mute fault silences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Mute {
    pub(crate) public: bool,
    pub(crate) private: bool,
    /// Connected but silent (`"pongs": true`): pings are still answered, no data is sent.
    pub(crate) public_data: bool,
    pub(crate) private_data: bool,
    /// The order-entry stream (`/v5/trade`); it pushes no data, so it has no "pongs" form.
    pub(crate) trade: bool,
}
